"""Importing 1,000,000 one-minute candles into PostgreSQL, side by side with bulk_create.

Run: .venv/bin/python bench/import_candles.py [ROWS]
Uses DATABASE_URL, default postgres://postgres@127.0.0.1:5432/botsinais_bench; the database is
created if missing and migrated. Every approach starts from an empty candle table.
"""

import csv
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/botsinais_bench"
MINUTE_MS = 60_000


def prepare_database(url: str) -> None:
    """Create the database if missing, then point Django at it and migrate."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not exists.fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(DATABASE_URL=url, DJANGO_READ_ENV_FILE="false")
    for variable in ("CELERY_BROKER_URL", "REDIS_URL"):
        os.environ.pop(variable, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botsinais.settings")

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def write_klines(path: Path, rows: int) -> None:
    """A Binance kline file of `rows` one-minute candles (12 columns, no header)."""
    start_ms = int(pd.Timestamp("2020-01-01", tz="UTC").value // 1_000_000)
    rng = np.random.default_rng(7)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.0008, rows)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.0005, rows))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.0005, rows))
    volume = rng.uniform(1, 50, rows)
    opens_ms = start_ms + MINUTE_MS * np.arange(rows)
    frame = pd.DataFrame(
        {
            "open_time": opens_ms,
            "open": open_.round(2),
            "high": high.round(2),
            "low": low.round(2),
            "close": close.round(2),
            "volume": volume.round(8),
            "close_time": opens_ms + MINUTE_MS - 1,
            "quote_volume": (volume * close).round(8),
            "trades": rng.integers(10, 500, rows),
            "taker_base": (volume / 2).round(8),
            "taker_quote": (volume * close / 2).round(8),
            "ignore": 0,
        }
    )
    # Rounding can put a rounded high under a rounded close; keep the file valid.
    frame["high"] = frame[["open", "high", "close"]].max(axis=1)
    frame["low"] = frame[["open", "low", "close"]].min(axis=1)
    frame.to_csv(path, header=False, index=False)


def empty_table() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE market_candle")


def import_with(insert: Callable[..., int]) -> Callable[[Path], tuple[int, int]]:
    from market import importer

    def run(path: Path) -> tuple[int, int]:
        summary = importer.import_file(path, asset="BTCUSDT", timeframe="1m", insert=insert)
        return summary.rows_read, summary.inserted

    return run


def parse_only(path: Path) -> tuple[int, int]:
    from market import importer

    rows = kept = 0
    with importer.file_members(path)[0].open() as stream:
        for block in importer.iter_candle_blocks(stream, "1m"):
            rows += block.rows
            kept += len(block.frame)
    return rows, 0


def naive_bulk_create(path: Path) -> tuple[int, int]:
    """The first version everyone writes: csv.reader, a model per row, bulk_create."""
    from datetime import UTC, datetime

    from market.models import Candle

    before = Candle.objects.count()
    batch: list[Candle] = []
    rows = 0
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            rows += 1
            batch.append(
                Candle(
                    source="import",
                    provider="binance",
                    asset="BTCUSDT",
                    timeframe="1m",
                    open_time=datetime.fromtimestamp(int(row[0]) / 1000, tz=UTC),
                    open=float(row[1]),
                    high=float(row[2]),
                    low=float(row[3]),
                    close=float(row[4]),
                    volume=float(row[5]),
                )
            )
            if len(batch) == 5000:
                Candle.objects.bulk_create(batch, ignore_conflicts=True)
                batch = []
    Candle.objects.bulk_create(batch, ignore_conflicts=True)
    return rows, Candle.objects.count() - before


def timed(action: Callable[[Path], tuple[int, int]], path: Path) -> tuple[int, int, float]:
    started = time.perf_counter()
    rows, inserted = action(path)
    return rows, inserted, time.perf_counter() - started


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_URL
    if urlparse(url).scheme not in ("postgres", "postgresql"):
        sys.exit(f"bench/import_candles.py needs PostgreSQL, got {url}")
    prepare_database(url)

    from market import store

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "BTCUSDT-1m.csv"
        write_klines(path, rows)
        zipped = Path(folder) / "BTCUSDT-1m.zip"
        with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(path, path.name)
        size_mb = path.stat().st_size / 1e6
        print(f"{rows:,} one-minute klines, {size_mb:.0f} MB CSV, {url}\n")

        runs = [
            ("parse + check only (no database)", parse_only, path, False),
            ("import_candles: COPY + ON CONFLICT", import_with(store.insert_candles), path, True),
            ("  same file again (all duplicates)", import_with(store.insert_candles), path, False),
            ("  zipped file", import_with(store.insert_candles), zipped, True),
            ("import_candles: bulk_create", import_with(store.bulk_create_insert), path, True),
            ("naive csv.reader + bulk_create", naive_bulk_create, path, True),
        ]
        results = []
        for label, action, source_path, fresh in runs:
            if fresh:
                empty_table()
            results.append((label, *timed(action, source_path)))
        empty_table()

    copy_seconds = results[1][3]
    print(f"{'approach':<38} {'rows':>10} {'inserted':>10} {'seconds':>8} {'rows/s':>10} {'':>8}")
    for label, read, inserted, seconds in results:
        print(
            f"{label:<38} {read:>10,} {inserted:>10,} {seconds:>8.2f} {read / seconds:>10,.0f} "
            f"{seconds / copy_seconds:>7.1f}x"
        )


if __name__ == "__main__":
    main()
