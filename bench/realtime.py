"""The live path on the full stack, stage by stage, beside the floors of the parts it is built on.

Starts its own stack: web processes (uvicorn as the Procfile runs it, or --server daphne), a
Celery worker (4 threads), a worker for the floor task (bench/floor.py), and a Binance stand-in;
RabbitMQ, Redis and PostgreSQL are the local services, with the bench's own database
(botsinais_bench_realtime), vhost (botsinais_bench_realtime) and Redis database (5).

1. Floors: a Celery task round trip over RabbitMQ (a task that does nothing, rpc reply);
   a channel-layer group_send to 1 WebSocket client and to each of 100.
2. Live path, one request at a time (--requests): POST request-analysis -> a WebSocket client
   receives SignalGenerated and AnalysisCompleted; run_analysis as the worker logs it. Every
   request names a new asset whose candles are already stored, so each stores fresh signals.
3. Stages, each timed in this process against the same services with the platform's own
   functions: the web's (auth, throttle, insert, publish) and the worker's (load candles,
   strategies, store, push).
4. Fan-out (--fan-out CLIENTSxPROCESSES ...): that many clients spread over that many web
   processes behind the same Redis; an event published --events times; publish -> each client.

Goals (issue 16) stand beside each measure; "met" compares them. Server logs:
test-artifacts/bench-realtime-*.log. Takes about two minutes.

Run: .venv/bin/python bench/realtime.py [--server uvicorn|daphne] [--layer pubsub|core]
     [--requests 200] [--events 20] [--fan-out 500x1 2000x2]
"""

import argparse
import asyncio
import json
import logging
import os
import re
import statistics
import sys
import threading
import time
from pathlib import Path

import requests
import uvloop
from websockets.asyncio.client import connect as connect_async
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import fullstack  # noqa: E402

WARM_UP = 10
STAGE_SAMPLES = 50
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/botsinais_bench_realtime"
)
VHOST = "botsinais_bench_realtime"
BROKER_URL = os.environ.get("BENCH_BROKER_URL", f"amqp://guest:guest@127.0.0.1:5672/{VHOST}")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
# Handshakes at once while clients connect: a burst of thousands is not what is measured.
CONNECTING_AT_ONCE = 10


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


def bench_latency(base: str, token: str, count: int) -> dict[str, list[float]]:
    from signals import events

    feed = Feed(f"{base.replace('http', 'ws', 1)}/ws/signals/?token={token}", base)
    feed.start()
    http = requests.Session()
    http.headers["Authorization"] = f"Token {token}"
    timings = {"post": [], "generated": [], "completed": []}
    for i in range(WARM_UP + count):
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


def timed(samples: list[float], function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    samples.append((time.perf_counter() - started) * 1000)
    return result


def bench_web_stages(user, token: str, first_asset: int) -> dict[str, list[float]]:
    """What request-analysis does, step by step: the token lookup, the throttle's cache
    read and write, the row insert (autocommit), the publish with the broker's confirm."""
    from django.core.cache import cache
    from rest_framework.authentication import TokenAuthentication

    from signals import services
    from signals.models import AnalysisRequest

    stages = {"auth": [], "throttle": [], "insert": [], "publish": []}
    authentication = TokenAuthentication()
    for i in range(STAGE_SAMPLES):
        timed(stages["auth"], authentication.authenticate_credentials, token)
        started = time.perf_counter()
        history = cache.get("bench-throttle", [])
        cache.set("bench-throttle", [time.time(), *history[:9]], 60)
        stages["throttle"].append((time.perf_counter() - started) * 1000)
        analysis = timed(
            stages["insert"], AnalysisRequest.objects.create,
            asset=asset_name(first_asset + i), timeframe="5m", requested_by=user,
        )  # fmt: skip
        timed(stages["publish"], services.dispatch_analysis, str(analysis.correlation_id))
    return stages


def strategies_on(frame, analysis) -> tuple[list, list]:
    """run_analysis's strategies step: the enabled strategies (configs read) and what they find."""
    from signals import services

    enabled = services.enabled_strategies(analysis.asset, analysis.timeframe, analysis.strategies)
    return enabled, services.find_candidates(frame, enabled)


def bench_worker_stages(first_asset: int) -> dict[str, list[float]]:
    """What run_analysis does, step by step, on requests made and claimed here (not published);
    the strategies' compiled kernels warmed first."""
    from django.db import transaction

    from market import store
    from signals import events, services
    from signals.models import AnalysisRequest, AnalysisStatus

    stages = {"claim": [], "load candles": [], "strategies": [], "store": [], "push": []}
    warm = AnalysisRequest(asset=asset_name(0), timeframe="5m")
    services.find_candidates(store.load_candles(warm.asset, "5m"),
                             services.enabled_strategies(warm.asset, "5m"))
    send_now, pushes = events.send_now, []
    # The pushes a commit would make are held back here and timed on their own.
    events.send_now = lambda message, groups: pushes.append((message, groups))
    for i in range(STAGE_SAMPLES):
        pending = AnalysisRequest.objects.create(asset=asset_name(first_asset + i), timeframe="5m")
        analysis, _ = timed(stages["claim"], services.start_attempt, str(pending.correlation_id))
        frame = timed(stages["load candles"], store.load_candles, analysis.asset, "5m")
        enabled, candidates = timed(stages["strategies"], strategies_on, frame, analysis)
        started = time.perf_counter()
        with transaction.atomic():
            stored = services.store_signals(candidates, analysis, frame)
            services.finish(analysis, AnalysisStatus.COMPLETED, signals_generated=len(stored),
                            evaluated=services.evaluated_fields(frame, enabled))
            services.evaluate_after_commit(analysis)
        stages["store"].append((time.perf_counter() - started) * 1000)
        for message, groups in pushes:
            timed(stages["push"], send_now, message, groups)
        pushes.clear()
    events.send_now = send_now
    return stages


def bench_celery_floor(count: int) -> list[float]:
    from bench import floor

    floor.nothing.delay().get(timeout=30)  # connections opened, queues declared
    samples = []
    for _ in range(count):
        timed(samples, lambda: floor.nothing.delay().get(timeout=10))
    return samples


async def bench_fan_out(
    bases: list[str], pids: list[int], token: str, clients: int, events_sent: int
) -> tuple[list[float], float]:
    """Delays (ms) from publish to each client's receipt of each event, and the web processes'
    CPU (microseconds) per delivery; clients are spread over the web processes in turn."""
    from signals import events

    connecting = asyncio.Semaphore(CONNECTING_AT_ONCE)

    async def open_client(i: int):
        base = bases[i % len(bases)]
        async with connecting:
            return await connect_async(
                f"{base.replace('http', 'ws', 1)}/ws/signals/?token={token}",
                origin=base, open_timeout=60, max_queue=None,
            )  # fmt: skip

    sockets = await asyncio.gather(*(open_client(i) for i in range(clients)))
    received: dict[str, list[float]] = {}

    async def listen(ws):
        async for raw in ws:
            now = time.perf_counter()
            received.setdefault(json.loads(raw)["event_id"], []).append(now)

    listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
    await asyncio.sleep(0.5)  # every consumer has joined its groups
    delays = []
    cpu_before = sum(fullstack.cpu_seconds(pid) for pid in pids)
    for _ in range(events_sent):
        event = events.envelope(events.HEALTH_CHECK, {"bench": True})
        sent = time.perf_counter()
        await events.send_to_groups(event, [events.ALL_SIGNALS_GROUP])
        deadline = time.monotonic() + 15
        while len(received.get(event["event_id"], ())) < clients and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        arrivals = received.get(event["event_id"], [])
        if len(arrivals) < clients:
            raise RuntimeError(f"only {len(arrivals)} of {clients} clients got the event")
        delays += [(t - sent) * 1000 for t in arrivals]
        await asyncio.sleep(0.2)
    cpu = sum(fullstack.cpu_seconds(pid) for pid in pids) - cpu_before
    for task in listeners:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    await asyncio.sleep(1)  # the server's consumers leave their groups
    # Idle web processes spend next to nothing between events: this is the pushing.
    return delays, cpu / (clients * events_sent) * 1e6


def fan_out(webs, bases: list[str], token: str, clients: int, events_sent: int):
    """bench_fan_out on the first len(bases) web processes; uvloop, so that 2,000 clients in
    this one process are not what is measured."""
    pids = [web.pid for web in webs[: len(bases)]]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(bench_fan_out(bases, pids, token, clients, events_sent))


def worker_run_times(log: Path) -> list[float]:
    pattern = re.compile(r"run_analysis\[[^\]]+\] succeeded in ([0-9.]+)s")
    return [float(s) * 1000 for s in pattern.findall(log.read_text())]


def parse_fan_out(value: str) -> tuple[int, int]:
    clients, _, processes = value.partition("x")
    return int(clients), int(processes or 1)


def print_table(rows: list[tuple[str, list[float], tuple[float | None, float | None]]]) -> None:
    header = f"{'measure':<52}{'n':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}   {'goal':<22}met"
    print(header)
    print("-" * len(header))
    for name, samples, (p50_goal, p99_goal) in rows:
        if not samples:
            print(name)  # a section title
            continue
        p50, p99, worst = percentiles(samples)
        goals = [f"p50 <= {p50_goal:g}" if p50_goal else "",
                 f"p99 <= {p99_goal:g}" if p99_goal else ""]
        goal = ", ".join(g for g in goals if g)
        met = ""
        if goal:
            met = "yes" if (p50 <= (p50_goal or p50) and p99 <= (p99_goal or p99)) else "NO"
        print(f"{name:<52}{len(samples):>7}{p50:>9.1f}{p99:>9.1f}{worst:>9.1f}   {goal:<22}{met}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=fullstack.SERVERS, default="uvicorn")
    parser.add_argument("--layer", choices=("pubsub", "core"), default="pubsub",
                        help="channels-redis layer (CHANNEL_LAYER)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--events", type=int, default=20, help="events per fan-out stage")
    parser.add_argument("--fan-out", nargs="*", type=parse_fan_out,
                        default=[(500, 1), (2000, 2)], metavar="CLIENTSxPROCESSES")
    args = parser.parse_args()

    services_used = {"PostgreSQL": DATABASE_URL, "RabbitMQ": BROKER_URL, "Redis": REDIS_URL}
    if missing := fullstack.unreachable(services_used):
        print(f"bench/realtime.py skipped: {', '.join(missing)} not reachable")
        return
    binance_url = fullstack.start_binance()
    env = dict(
        os.environ,
        DJANGO_READ_ENV_FILE="false",
        DJANGO_SETTINGS_MODULE="botsinais.settings",
        DATABASE_URL=DATABASE_URL,
        CELERY_BROKER_URL=BROKER_URL,
        BENCH_FLOOR_BROKER_URL=BROKER_URL,
        REDIS_URL=REDIS_URL,
        CHANNEL_LAYER=args.layer,
        DJANGO_SECRET_KEY="bench-realtime",
        DJANGO_HTTPS="false",  # plain HTTP on the loopback
        THROTTLE_ANALYSIS="100000/minute",  # one user sends every request
        MARKET_DATA_MODE="live",
        BINANCE_BASE_URL=binance_url,
        LOG_LEVEL="INFO",
    )
    os.environ.update(env)
    fullstack.ensure_vhost(BROKER_URL, VHOST)
    fullstack.ensure_database(DATABASE_URL)
    if REDIS_URL == DEFAULT_REDIS_URL:  # not a database of the caller's choosing
        import redis

        # An earlier run's cached candles (another stand-in) and its clients' group entries.
        redis.Redis.from_url(REDIS_URL).flushdb()
    python = sys.executable
    migrate = [python, "manage.py", "migrate", "--noinput", "-v0"]
    import subprocess

    subprocess.run(migrate, cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the Binance stand-in's requests
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    from bench import floor
    from botsinais.celery import app
    from market import store
    from market.models import Candle
    from signals.models import AnalysisRequest, Signal

    # The Binance stand-in's candles end at the moment it started: those of an earlier run
    # would not line up with this run's.
    Candle.objects.all().delete()
    Signal.objects.all().delete()
    AnalysisRequest.objects.all().delete()
    app.control.purge()
    floor.app.control.purge()
    user, _ = User.objects.get_or_create(username="bench")
    token = Token.objects.get_or_create(user=user)[0].key

    web_processes = max([1, *(processes for _, processes in args.fan_out)])
    ports = [fullstack.free_port() for _ in range(web_processes)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    stage_assets = WARM_UP + args.requests
    rows = []
    with fullstack.Processes("bench-realtime", env) as processes:
        processes.start(
            "worker",
            [python, "-m", "celery", "-A", "botsinais", "worker", "--pool", "threads",
             "-Q", "analysis,backtests,maintenance", "--concurrency", "4", "--without-gossip",
             "--without-mingle", "--loglevel", "INFO", "-n", "bench@%h"],
        )  # fmt: skip
        processes.start(
            "floor",
            [python, "-m", "celery", "-A", "bench.floor", "worker", "--pool", "solo",
             "-Q", floor.QUEUE, "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
             "-n", "floor@%h"],
        )  # fmt: skip
        webs = [
            processes.start(f"web{n}", fullstack.web_command(args.server, port))
            for n, port in enumerate(ports)
        ]
        fullstack.wait_for(lambda: app.control.ping(timeout=1), "the Celery worker")
        for base in bases:
            fullstack.wait_for(lambda b=base: requests.get(f"{b}/api/health/", timeout=2).ok, base)
        print(f"Live path on the full stack: {args.server} x {web_processes}, channels-redis "
              f"{args.layer} layer, 1 Celery worker (4 threads), RabbitMQ, Redis, PostgreSQL; "
              f"{args.requests} analyses after {WARM_UP} warm-up, stages x {STAGE_SAMPLES}, "
              f"{args.events} events per fan-out\n", flush=True)  # fmt: skip
        for i in range(stage_assets + 2 * STAGE_SAMPLES):
            store.load_candles(asset_name(i), "5m")  # as for markets the platform watches

        rows.append(("floors", [], (None, None)))
        rows.append(("Celery task round trip (RabbitMQ, rpc reply)", bench_celery_floor(200),
                     (None, None)))  # fmt: skip
        delivery_cpu = {}
        for clients in (1, 100):
            name = f"group_send -> {'1 client' if clients == 1 else f'each of {clients} clients'}"
            delays, delivery_cpu[name] = fan_out(webs, bases[:1], token, clients, args.events)
            rows.append((name, delays, (None, None)))

        timings = bench_latency(bases[0], token, args.requests)
        web_stages = bench_web_stages(user, token, stage_assets)
        worker_stages = bench_worker_stages(stage_assets + STAGE_SAMPLES)
        run_times = worker_run_times(processes.log("worker"))[WARM_UP:][: args.requests]
        rows.append(("live path, one request at a time", [], (None, None)))
        rows.append(("POST request-analysis, HTTP round trip", timings["post"], (10, None)))
        rows += [(f"  web stage: {name}", s, (None, None)) for name, s in web_stages.items()]
        rows.append(("run_analysis on the worker (its log)", run_times, (20, None)))
        rows += [(f"  worker stage: {name}", s, (None, None)) for name, s in worker_stages.items()]
        rows.append(("POST -> SignalGenerated at the client", timings["generated"], (35, 100)))
        rows.append(("POST -> AnalysisCompleted at the client", timings["completed"], (None, None)))

        rows.append(("fan-out", [], (None, None)))
        for clients, spread in args.fan_out:
            goal = 250 if clients <= 500 else 1000
            name = (f"publish -> each of {clients} clients, {spread} web process"
                    f"{'es' if spread > 1 else ''}")  # fmt: skip
            delays, delivery_cpu[name] = fan_out(webs, bases[:spread], token, clients, args.events)
            rows.append((name, delays, (None, goal)))
    print_table(rows)
    print(f"\nweb CPU per delivered event ({args.server}, {args.layer} layer)")
    for name, microseconds in delivery_cpu.items():
        print(f"  {name:<50}{microseconds:>8.0f} us")


if __name__ == "__main__":
    main()
