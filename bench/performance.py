"""GET /api/signals/performance/ over 100,000 signals on PostgreSQL.

Run: .venv/bin/python bench/performance.py [--signals 100000] [--requests 50]
Needs PostgreSQL; the database is BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/botsinais_bench), created, migrated and filled on first run.
Goal: p95 of the endpoint under 200 ms. The service alone is timed too, to show what the HTTP
and JSON layers add.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/botsinais_bench"
)
os.environ.update(
    DJANGO_SETTINGS_MODULE="botsinais.settings",
    DJANGO_READ_ENV_FILE="false",
    DATABASE_URL=DATABASE_URL,
    DJANGO_ALLOWED_HOSTS="testserver",
)
for name in ("CELERY_BROKER_URL", "REDIS_URL"):
    os.environ.pop(name, None)


def create_database() -> None:
    import psycopg

    base, name = DATABASE_URL.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not exists.fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True
    )


def fill(count: int, now: datetime) -> None:
    """count signals over the last 30 days: 3 strategies, 10 assets, 4 timeframes."""
    from django.db import connection

    from signals.models import Signal

    # Only this bench's rows (assets COIN*): other benches may share the database.
    mine = Signal.objects.filter(asset__startswith="COIN", asset__endswith="USDT")
    if mine.count() == count:
        return
    mine.delete()
    rng = np.random.default_rng(7)
    strategies = ["breakout", "mean_reversion", "trend_following"]
    assets = [f"COIN{i}USDT" for i in range(10)]
    timeframes = {"5m": 300, "15m": 900, "1h": 3600, "4h": 14400}
    outcomes = rng.choice(["win", "loss", "expired", "active", "cancelled"], count,
                          p=[0.38, 0.42, 0.12, 0.05, 0.03])
    created_field = Signal._meta.get_field("created_at")
    created_field.auto_now_add = False  # the bench sets creation times itself
    rows = []
    for i in range(count):
        timeframe = rng.choice(list(timeframes))
        created = now - timedelta(seconds=float(rng.uniform(600, 29 * 86400)))
        candle = created - timedelta(seconds=timeframes[timeframe])
        long = bool(rng.random() < 0.5)
        side = 1 if long else -1
        values = dict(
            asset=rng.choice(assets), strategy=rng.choice(strategies), timeframe=timeframe,
            direction="long" if long else "short", confidence=float(rng.uniform(0, 1)),
            entry_price=100.0, stop_loss=100.0 - side * 2, take_profit=100.0 + side * 4,
            candle_time=candle, created_at=created, parameters={"expiry_bars": 48},
        )
        outcome = outcomes[i]
        if outcome in ("win", "loss", "expired"):
            move = {"win": 4.0, "loss": -2.0}.get(outcome, float(rng.uniform(-2, 4)))
            values.update(
                status="expired" if outcome == "expired" else "closed",
                result=outcome if outcome != "expired" else "none",
                close_price=100.0 + side * move, pnl=move - 0.2, r_multiple=(move - 0.2) / 2,
                closed_at=created + timedelta(seconds=float(rng.uniform(300, 86400))),
            )
        elif outcome == "cancelled":
            values.update(status="cancelled", closed_at=created + timedelta(hours=1))
        rows.append(Signal(**values))
    # One candle per strategy/asset/timeframe: nudge duplicates apart.
    seen = set()
    for s in rows:
        while (key := (s.strategy, s.asset, s.timeframe, s.candle_time)) in seen:
            s.candle_time -= timedelta(seconds=1)
        seen.add(key)
    Signal.objects.bulk_create(rows, batch_size=5000)
    created_field.auto_now_add = True
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE signals_signal")  # what autovacuum would do soon after


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signals", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    try:
        create_database()
    except Exception as exc:
        print(f"bench/performance.py: PostgreSQL unavailable ({exc}); skipped")
        return

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from signals import performance
    from signals.models import Signal

    now = datetime.now(UTC)
    started = time.perf_counter()
    fill(args.signals, now)
    elapsed = time.perf_counter() - started
    print(f"{Signal.objects.count()} signals in the database, ready in {elapsed:.1f} s")

    user, _ = get_user_model().objects.get_or_create(username="bench")
    client = APIClient()
    client.force_authenticate(user)
    cases = {
        "service, all signals": lambda: performance.summarize(
            Signal.objects.all(), now - timedelta(days=30), now
        ),
        "endpoint, all signals": lambda: client.get("/api/signals/performance/"),
        "endpoint, ?strategy=breakout": lambda: client.get(
            "/api/signals/performance/", {"strategy": "breakout"}
        ),
    }
    print(f"\n{'case':32} {'p50 ms':>8} {'p95 ms':>8}   ({args.requests} runs, goal p95 < 200)")
    for name, call in cases.items():
        call()  # warm-up: connection, imports
        samples = []
        for _ in range(args.requests):
            started = time.perf_counter()
            response = call()
            samples.append((time.perf_counter() - started) * 1000)
            assert getattr(response, "status_code", 200) == 200
        p50, p95 = percentiles(samples)
        print(f"{name:32} {p50:8.1f} {p95:8.1f}")


if __name__ == "__main__":
    main()
