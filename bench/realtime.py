"""Realtime latency on the full stack: daphne, a Celery worker, RabbitMQ, Redis, PostgreSQL.

1. POST request-analysis -> a WebSocket client receives SignalGenerated, REQUESTS times, one
   at a time. Every request names a new asset (BN0000USDT, ...): the local Binance stand-in
   serves the same oversold candles for any symbol, so each analysis stores fresh signals
   (a signal is unique per strategy, asset, timeframe and candle). The candles are loaded
   into the candle store before the clock starts, as for a market the platform watches.
2. Fan-out: CLIENTS WebSocket clients connected to one daphne; an event is published to the
   "signals" group EVENTS times; the time from publish to each client's receipt.

It uses the local services (the Makefile's test defaults) but its own database
(botsinais_bench_realtime, created and migrated), RabbitMQ vhost (botsinais_bench_realtime, made
with rabbitmqctl) and Redis database (5), so a test run or another benchmark at the same time
neither takes its tasks and events nor has its rows deleted.
The server processes it starts log to test-artifacts/bench-*.log.

Run: .venv/bin/python bench/realtime.py  (REQUESTS=, CLIENTS=, EVENTS= to change the sizes)
"""

import asyncio
import json
import logging
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from websockets.asyncio.client import connect as connect_async
from websockets.sync.client import connect
from werkzeug import Request
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fake_binance import INTERVAL_MS, klines_handler, oversold_candles  # noqa: E402

REQUESTS = int(os.environ.get("REQUESTS", 200))
WARM_UP = 10
CLIENTS = int(os.environ.get("CLIENTS", 500))
EVENTS = int(os.environ.get("EVENTS", 20))
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/botsinais_bench_realtime"
)
VHOST = "botsinais_bench_realtime"
BROKER_URL = os.environ.get("BENCH_BROKER_URL", f"amqp://guest:guest@127.0.0.1:5672/{VHOST}")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
ARTIFACTS = ROOT / "test-artifacts"


class OversoldEverywhere(dict):
    """Frames for the Binance stand-in: the same oversold 5m candles for every symbol."""

    def __init__(self):
        super().__init__()
        self.frame = oversold_candles(INTERVAL_MS["5m"])

    def __contains__(self, key):
        return key[1] == "5m"

    def __getitem__(self, key):
        return self.frame


def start_binance() -> str:
    app = Request.application(klines_handler(OversoldEverywhere()))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_vhost() -> None:
    if not BROKER_URL.endswith(f"/{VHOST}"):
        return  # a broker of the caller's choosing
    listed = subprocess.run(["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, text=True)
    if VHOST not in listed.stdout.split():
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", VHOST], check=True)
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"],
            check=True,
        )


def unreachable() -> list[str]:
    from urllib.parse import urlparse

    missing = []
    for name, url, port in (
        ("PostgreSQL", DATABASE_URL, 5432),
        ("RabbitMQ", BROKER_URL, 5672),
        ("Redis", REDIS_URL, 6379),
    ):
        parsed = urlparse(url)
        try:
            socket.create_connection((parsed.hostname, parsed.port or port), 1).close()
        except OSError:
            missing.append(name)
    return missing


def ensure_database() -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(DATABASE_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def empty_redis() -> None:
    """Start from an empty Redis database. An earlier run leaves candles cached from its own
    Binance stand-in, and its clients in the channel layer's groups if its server stopped
    before they left (every event would still be pushed to each of them)."""
    import redis

    if REDIS_URL == DEFAULT_REDIS_URL:  # not a database of the caller's choosing
        redis.Redis.from_url(REDIS_URL).flushdb()


def start(name: str, command: list[str], env: dict) -> subprocess.Popen:
    log = open(ARTIFACTS / f"bench-{name}.log", "w")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_for(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up; see test-artifacts/bench-*.log")


def percentiles(samples_ms: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return statistics.median(samples_ms), cuts[98], max(samples_ms)


class Feed(threading.Thread):
    """One WebSocket client recording when each (event type, correlation id) first arrives."""

    def __init__(self, url: str, origin: str):
        super().__init__(daemon=True)
        self.ws = connect(url, origin=origin, open_timeout=10)
        self.arrived: dict[tuple[str, str], float] = {}
        self.changed = threading.Condition()

    def run(self):
        for raw in self.ws:
            now = time.perf_counter()
            event = json.loads(raw)
            with self.changed:
                self.arrived.setdefault((event["event_type"], event["correlation_id"]), now)
                self.changed.notify_all()

    def wait(self, key, timeout: float = 30) -> float:
        with self.changed:
            if not self.changed.wait_for(lambda: key in self.arrived, timeout):
                raise TimeoutError(f"{key} not received in {timeout} s")
            return self.arrived[key]


def asset_name(i: int) -> str:
    return f"BN{i:04d}USDT"


def store_candles() -> None:
    """Candles already stored (and cached) for every asset, as for a watched market."""
    from market import store

    for i in range(WARM_UP + REQUESTS):
        store.load_candles(asset_name(i), "5m")


def bench_latency(base: str, token: str) -> dict[str, list[float]]:
    from signals import events

    feed = Feed(f"{base.replace('http', 'ws', 1)}/ws/signals/?token={token}", base)
    feed.start()
    http = requests.Session()
    http.headers["Authorization"] = f"Token {token}"
    timings = {"post": [], "generated": [], "completed": []}
    for i in range(WARM_UP + REQUESTS):
        started = time.perf_counter()
        response = http.post(
            f"{base}/api/signals/request-analysis/",
            json={"asset": asset_name(i), "timeframe": "5m"},
            timeout=10,
        )
        answered = time.perf_counter()
        response.raise_for_status()
        correlation_id = response.json()["correlation_id"]
        generated = feed.wait((events.SIGNAL_GENERATED, correlation_id))
        completed = feed.wait((events.ANALYSIS_COMPLETED, correlation_id))
        if i >= WARM_UP:
            timings["post"].append((answered - started) * 1000)
            timings["generated"].append((generated - started) * 1000)
            timings["completed"].append((completed - started) * 1000)
    feed.ws.close()
    return timings


async def bench_fan_out(base: str, token: str) -> tuple[list[float], list[float]]:
    from signals import events

    url = f"{base.replace('http', 'ws', 1)}/ws/signals/?token={token}"
    clients = []
    for _ in range(CLIENTS):  # one at a time: a burst of handshakes is not what is measured
        clients.append(await connect_async(url, origin=base, open_timeout=30, max_queue=None))
    received: dict[str, list[float]] = {}

    async def listen(ws):
        async for raw in ws:
            now = time.perf_counter()
            received.setdefault(json.loads(raw)["event_id"], []).append(now)

    listeners = [asyncio.create_task(listen(ws)) for ws in clients]
    delays, slowest = [], []
    for _ in range(EVENTS):
        event = events.envelope(events.HEALTH_CHECK, {"bench": True})
        sent = time.perf_counter()
        await events.send_to_groups(event, [events.ALL_SIGNALS_GROUP])
        deadline = time.monotonic() + 10
        while len(received.get(event["event_id"], ())) < CLIENTS and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        arrivals = received.get(event["event_id"], [])
        if len(arrivals) < CLIENTS:
            raise RuntimeError(f"only {len(arrivals)} of {CLIENTS} clients got the event")
        delays += [(t - sent) * 1000 for t in arrivals]
        slowest.append((max(arrivals) - sent) * 1000)
        await asyncio.sleep(0.2)
    for task in listeners:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
    await asyncio.sleep(1)  # the server's consumers leave their groups
    return delays, slowest


def worker_run_times(log: Path) -> list[float]:
    pattern = re.compile(r"run_analysis\[[^\]]+\] succeeded in ([0-9.]+)s")
    return [float(s) * 1000 for s in pattern.findall(log.read_text())]


def main() -> None:
    if missing := unreachable():
        print(f"bench/realtime.py skipped: {', '.join(missing)} not reachable")
        return
    ARTIFACTS.mkdir(exist_ok=True)
    binance_url = start_binance()
    env = dict(
        os.environ,
        DJANGO_READ_ENV_FILE="false",
        DJANGO_SETTINGS_MODULE="botsinais.settings",
        DATABASE_URL=DATABASE_URL,
        CELERY_BROKER_URL=BROKER_URL,
        REDIS_URL=REDIS_URL,
        DJANGO_SECRET_KEY="bench-realtime",
        DJANGO_HTTPS="false",  # plain HTTP to daphne
        THROTTLE_ANALYSIS="100000/minute",  # one user sends every request
        MARKET_DATA_MODE="live",
        BINANCE_BASE_URL=binance_url,
        LOG_LEVEL="INFO",
    )
    os.environ.update(env)
    ensure_vhost()
    ensure_database()
    empty_redis()
    python = sys.executable
    migrate = [python, "manage.py", "migrate", "--noinput", "-v0"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the Binance stand-in's requests
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    from botsinais.celery import app
    from market.models import Candle
    from signals.models import AnalysisRequest, Signal

    # The Binance stand-in's candles end at the moment it started: those of an earlier run
    # would not line up with this run's.
    Candle.objects.all().delete()
    Signal.objects.all().delete()
    AnalysisRequest.objects.all().delete()
    app.control.purge()
    user, _ = User.objects.get_or_create(username="bench")
    token = Token.objects.get_or_create(user=user)[0].key

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = start(
        "worker",
        [python, "-m", "celery", "-A", "botsinais", "worker", "--pool", "threads",
         "-Q", "analysis,backtests,maintenance", "--concurrency", "4", "--without-gossip",
         "--without-mingle", "--loglevel", "INFO", "-n", "bench@%h"],
        env,
    )  # fmt: skip
    daphne = start(
        "daphne",
        [str(Path(python).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), "-v", "0",
         "botsinais.asgi:application"],
        env,
    )  # fmt: skip
    try:
        wait_for(lambda: app.control.ping(timeout=1), "the Celery worker")
        wait_for(lambda: requests.get(f"{base}/api/health/", timeout=2).ok, "daphne")
        print(f"Realtime on the full stack: daphne, 1 Celery worker (4 threads), RabbitMQ, "
              f"Redis, PostgreSQL; {REQUESTS} analyses after {WARM_UP} warm-up, "
              f"{CLIENTS} clients x {EVENTS} events\n")  # fmt: skip
        store_candles()
        timings = bench_latency(base, token)
        delays, slowest = asyncio.run(bench_fan_out(base, token))
    finally:
        for process in (daphne, worker):
            process.terminate()
        for process in (daphne, worker):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
    run_times = worker_run_times(ARTIFACTS / "bench-worker.log")[WARM_UP:]

    rows = [
        ("POST request-analysis, HTTP round trip", timings["post"], ""),
        ("POST -> SignalGenerated at the client", timings["generated"], "p50 < 50, p99 < 200"),
        ("POST -> AnalysisCompleted at the client", timings["completed"], ""),
        ("run_analysis task on the worker (its log)", run_times, ""),
        (f"publish -> each of {CLIENTS} clients", delays, "p99 < 250"),
        (f"publish -> last of {CLIENTS} clients", slowest, ""),
    ]
    header = f"{'measure':<44}{'n':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}   goal"
    print(header)
    print("-" * len(header))
    for name, samples, goal in rows:
        p50, p99, worst = percentiles(samples)
        print(f"{name:<44}{len(samples):>7}{p50:>9.1f}{p99:>9.1f}{worst:>9.1f}   {goal}")


if __name__ == "__main__":
    main()
