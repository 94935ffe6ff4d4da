"""Where the live path spends its CPU: cProfile of request-analysis (through Django's whole
handler and middleware, as a web process runs it) and of run_analysis, in this process,
against the local PostgreSQL, RabbitMQ and Redis (database botsinais_bench_profile, vhost
botsinais_bench_profile, Redis database 7). No server, no worker: nothing else runs the
published tasks, they are purged at the end.

Prints, for each, the wall time per call and the functions with the most cumulative time.
Run: .venv/bin/python bench/profile_live.py [--calls 200] [--top 30]
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import fullstack  # noqa: E402

VHOST = "botsinais_bench_profile"
DATABASE_URL = "postgres://postgres@127.0.0.1:5432/botsinais_bench_profile"
BROKER_URL = f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"
REDIS_URL = "redis://127.0.0.1:6379/7"


def report(title: str, profile: cProfile.Profile, calls: int, seconds: float, top: int) -> None:
    print(f"\n{title}: {calls} calls, {seconds / calls * 1000:.2f} ms each (wall, profiled)")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(top)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    print("\n".join(lines[start:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    services = {"PostgreSQL": DATABASE_URL, "RabbitMQ": BROKER_URL, "Redis": REDIS_URL}
    if missing := fullstack.unreachable(services):
        print(f"bench/profile_live.py skipped: {', '.join(missing)} not reachable")
        return
    env = dict(
        DJANGO_READ_ENV_FILE="false", DJANGO_SETTINGS_MODULE="botsinais.settings",
        DATABASE_URL=DATABASE_URL, CELERY_BROKER_URL=BROKER_URL, REDIS_URL=REDIS_URL,
        DJANGO_SECRET_KEY="bench-profile", DJANGO_HTTPS="false", MARKET_DATA_MODE="live",
        BINANCE_BASE_URL=fullstack.start_binance(), THROTTLE_ANALYSIS="1000000/second",
        LOG_LEVEL="WARNING",
    )  # fmt: skip
    os.environ.update(env)
    fullstack.ensure_vhost(BROKER_URL, VHOST)
    fullstack.ensure_database(DATABASE_URL)
    import subprocess

    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT,
                   check=True)  # fmt: skip
    import django

    django.setup()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the Binance stand-in's requests
    from django.contrib.auth.models import User
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from botsinais.celery import app
    from market import store
    from market.models import Candle
    from signals import services as signal_services
    from signals.models import AnalysisRequest, Signal

    Candle.objects.all().delete()
    Signal.objects.all().delete()
    AnalysisRequest.objects.all().delete()
    user, _ = User.objects.get_or_create(username="bench-profile")
    token = Token.objects.get_or_create(user=user)[0].key
    assets = [f"PF{i:04d}USDT" for i in range(args.calls + 10)]
    for asset in assets:
        store.load_candles(asset, "5m")

    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")

    def post(asset: str) -> str:
        body = {"asset": asset, "timeframe": "5m"}
        response = client.post(
            "/api/signals/request-analysis/", body, content_type="application/json"
        )
        assert response.status_code == 202, response.content
        return response.json()["correlation_id"]

    ids = [post(asset) for asset in assets[:10]]  # warm: connections, imports, compiled kernels
    for correlation_id in ids:
        signal_services.run_analysis(correlation_id)

    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    ids = [post(asset) for asset in assets[10:]]
    profile.disable()
    report("POST request-analysis (Django test client, whole handler)", profile, args.calls,
           time.perf_counter() - started, args.top)  # fmt: skip

    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for correlation_id in ids:
        signal_services.run_analysis(correlation_id)
    profile.disable()
    report("run_analysis (services.run_analysis)", profile, args.calls,
           time.perf_counter() - started, args.top)  # fmt: skip
    app.control.purge()


if __name__ == "__main__":
    main()
