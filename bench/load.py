"""Load on the full stack: request-analysis at fixed rates, and whether every accepted one ends.

The stack: uvicorn as the Procfile runs it, or --server daphne (--web processes, POSTs spread
over them in turn), one Celery worker with two processes (prefork, as the Procfile runs it),
RabbitMQ, Redis, PostgreSQL. Candles for --assets assets are stored before the clock starts.
For each rate, POSTs go out open loop for --duration seconds: each is sent on its schedule
whether or not earlier ones were answered, as independent clients would, and its latency counts
from that scheduled moment (a client-side queue is not hidden). Then the bench waits for the
accepted requests to end, for as long as the worker keeps ending them.

Reported per rate: accepted (202), refused (429/503 with Retry-After; without it they count as
"other"), 500s, completed, failed, lost (accepted and not ended when none has ended for
--settle seconds), POST p50/p99 (every answer), time to completion p50/p99 (scheduled send ->
finished_at), the sustained accepted rate and the CPU each tier used (100% = one core). The
throttle on request-analysis is lifted for the bench (THROTTLE_ANALYSIS): it measures capacity,
not limits.

Like bench/realtime.py it uses the local services with its own database
(botsinais_bench_load), RabbitMQ vhost (botsinais_bench_load) and Redis database (6); BENCH_*
variables point it elsewhere, and DATABASE_POOL_* in the environment reach the servers.
Server logs: test-artifacts/bench-load-*.log.

Needs requirements-bench.txt (aiohttp).
Run: .venv/bin/python bench/load.py [--rates 50 100] [--duration 20] [--settle 30] [--web 1]
     [--server uvicorn|daphne] [--profile]   (issue 10's protocol: --duration 60)
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import fullstack, stacks  # noqa: E402
from bench.fullstack import ARTIFACTS, cpu_seconds, free_port, start_binance, wait_for  # noqa: E402

VHOST = "botsinais_bench_load"
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/botsinais_bench_load"
)
BROKER_URL = os.environ.get("BENCH_BROKER_URL", f"amqp://guest:guest@127.0.0.1:5672/{VHOST}")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
WORKER_PROCESSES = 2
CLIENT_CONNECTIONS = 400
POST_TIMEOUT = 30


@dataclass
class Answer:
    scheduled_wall: float  # time.time() when the POST was due
    status: int | None  # None: no HTTP answer (timeout, connection refused)
    latency_ms: float
    retry_after: bool
    correlation_id: str | None


def asset_name(i: int) -> str:
    return f"LD{i:04d}USDT"










def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Client:
    """POSTs request-analysis from one asyncio loop (aiohttp, keep-alive connections): a
    thread per request in this process would itself be the bottleneck at 100/s."""

    def __init__(self, bases: list[str], token: str, assets: int):
        self.bases, self.token, self.assets = bases, token, assets

    async def post(self, session, i: int, scheduled: float, scheduled_wall: float) -> Answer:
        loop = asyncio.get_running_loop()
        body = {"asset": asset_name(i % self.assets), "timeframe": "5m"}
        url = f"{self.bases[i % len(self.bases)]}/api/signals/request-analysis/"
        try:
            async with session.post(url, json=body) as response:
                payload = await response.read()
        except (TimeoutError, aiohttp.ClientError):
            return Answer(scheduled_wall, None, (loop.time() - scheduled) * 1000, False, None)
        latency = (loop.time() - scheduled) * 1000
        accepted = response.status == 202
        return Answer(
            scheduled_wall,
            response.status,
            latency,
            "Retry-After" in response.headers,
            json.loads(payload)["correlation_id"] if accepted else None,
        )

    async def send_all(self, rate: float, duration: float) -> list[Answer]:
        connector = aiohttp.TCPConnector(limit=CLIENT_CONNECTIONS)
        async with aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT),
            headers={"Authorization": f"Token {self.token}"},
        ) as session:
            loop = asyncio.get_running_loop()
            started, started_wall = loop.time(), time.time()
            sending = []
            for i in range(int(rate * duration)):
                due = started + i / rate
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                sending.append(
                    asyncio.create_task(self.post(session, i, due, started_wall + i / rate))
                )
            return list(await asyncio.gather(*sending))

    def run(self, rate: float, duration: float) -> list[Answer]:
        return asyncio.run(self.send_all(rate, duration))


def wait_for_endings(answers: list[Answer], settle: float) -> dict[str, tuple[str, float | None]]:
    """Status and finished_at (epoch seconds) of each accepted request, once all have ended
    or none has ended for settle seconds (a backlog the worker is still working through is
    waited for; what is left when it stops moving is lost)."""
    from signals.models import AnalysisRequest, AnalysisStatus

    accepted = [a.correlation_id for a in answers if a.correlation_id]
    ended_states = (AnalysisStatus.COMPLETED, AnalysisStatus.FAILED)
    ended_before, moved = -1, time.monotonic()
    while True:
        rows = {
            str(cid): (status, finished.timestamp() if finished else None)
            for cid, status, finished in AnalysisRequest.objects.filter(
                correlation_id__in=accepted
            ).values_list("correlation_id", "status", "finished_at")
        }
        ended = sum(1 for status, _ in rows.values() if status in ended_states)
        if ended > ended_before:
            ended_before, moved = ended, time.monotonic()
        if ended == len(accepted) or time.monotonic() - moved > settle:
            return rows
        time.sleep(1)


def summarize(answers: list[Answer], rows: dict, duration: float, cpu: dict) -> dict[str, str]:
    by_status = lambda codes: [a for a in answers if a.status in codes]  # noqa: E731
    accepted = by_status({202})
    refused = [a for a in by_status({429, 503}) if a.retry_after]
    errors = by_status({500, 502, 504})
    other = len(answers) - len(accepted) - len(refused) - len(errors)
    ending = [(a, *rows.get(a.correlation_id, ("missing", None))) for a in accepted]
    statuses = [status for _, status, _ in ending]
    ended = statuses.count("completed") + statuses.count("failed")
    completion = [at - a.scheduled_wall for a, _, at in ending if at is not None]
    finished = [at for _, _, at in ending if at is not None]
    first_due = min((a.scheduled_wall for a in answers), default=0)
    ended_span = (max(finished) - first_due) if finished else float("nan")
    latencies = [a.latency_ms for a in answers if a.status is not None]
    return {
        "POSTs sent": f"{len(answers)}",
        "accepted (202)": f"{len(accepted)}",
        "refused (429/503 + Retry-After)": f"{len(refused)}",
        "answered 5xx without Retry-After": f"{len(errors)}",
        "other answers / no answer": f"{other}",
        "completed": f"{statuses.count('completed')}",
        "failed": f"{statuses.count('failed')}",
        "lost (accepted, not ended)": f"{len(accepted) - ended}",
        "POST p50 ms": f"{percentile(latencies, 0.50):.0f}",
        "POST p99 ms": f"{percentile(latencies, 0.99):.0f}",
        "POST p99 ms, accepted only": f"{percentile([a.latency_ms for a in accepted], 0.99):.0f}",
        "time to completion p50 s": f"{percentile(completion, 0.50):.1f}",
        "time to completion p99 s": f"{percentile(completion, 0.99):.1f}",
        "sustained accepted /s": f"{len(accepted) / duration:.1f}",
        "ended /s (worker throughput)": f"{len(finished) / ended_span:.1f}" if finished else "-",
        "web CPU % (100 = one core)": f"{cpu['web']:.0f}",
        "web CPU ms per POST": f"{cpu['web_seconds'] / len(answers) * 1000:.1f}",
        "worker CPU %": f"{cpu['worker']:.0f}",
        "PostgreSQL connections, peak": f"{cpu['connections']}",
    }


def count_connections(peak: list[int], stop: threading.Event) -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        while not stop.is_set():
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
            ).fetchone()
            peak[0] = max(peak[0], row[0] - 1)  # not this one
            stop.wait(0.2)


def start_profilers(webs, worker, rate: float, duration: float):
    """py-spy (requirements-bench.txt) on each web process and the worker's children while
    the rate is sent; raw stacks in test-artifacts/profile-*.txt."""
    spy = str(Path(sys.executable).parent / "py-spy")
    targets = [(f"web{n}", web.pid, []) for n, web in enumerate(webs)]
    targets.append(("worker", worker.pid, ["--subprocesses"]))
    started = []
    for name, pid, extra in targets:
        output = ARTIFACTS / f"profile-{name}-{rate:g}.txt"
        command = [spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(output),
                   "--duration", str(int(duration)), "--rate", "250", "--nonblocking", *extra]
        started.append((subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL), output))
    return started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[50, 100])
    parser.add_argument("--duration", type=float, default=20, help="seconds per rate")
    parser.add_argument("--settle", type=float, default=30,
                        help="seconds without an ending before the rest count as lost")
    parser.add_argument("--web", type=int, default=1, help="web processes")
    parser.add_argument("--server", choices=fullstack.SERVERS, default="uvicorn")
    parser.add_argument("--assets", type=int, default=20)
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the web and worker processes during each rate (top frames)")
    args = parser.parse_args()

    ARTIFACTS.mkdir(exist_ok=True)
    binance_url = start_binance()
    env = dict(
        os.environ,
        DJANGO_READ_ENV_FILE="false",
        DJANGO_SETTINGS_MODULE="botsinais.settings",
        DATABASE_URL=DATABASE_URL,
        CELERY_BROKER_URL=BROKER_URL,
        REDIS_URL=REDIS_URL,
        DJANGO_SECRET_KEY="bench-load",
        DJANGO_HTTPS="false",  # plain HTTP on the loopback
        MARKET_DATA_MODE="live",
        BINANCE_BASE_URL=binance_url,
        LOG_LEVEL="WARNING",
        # Capacity, not the per-user limit: the bench is one user sending thousands.
        THROTTLE_ANALYSIS="1000000/second",
    )
    os.environ.update(env)
    fullstack.ensure_vhost(BROKER_URL, VHOST)
    fullstack.ensure_database(DATABASE_URL)
    if REDIS_URL == DEFAULT_REDIS_URL:
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env,
                   check=True)  # fmt: skip

    import django

    django.setup()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from django.conf import settings
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    from botsinais.celery import app
    from market import store
    from market.models import Candle
    from signals.models import AnalysisRequest, Signal

    Candle.objects.all().delete()  # an earlier run's stand-in candles end at another moment
    Signal.objects.all().delete()
    AnalysisRequest.objects.all().delete()
    app.control.purge()
    user, _ = User.objects.get_or_create(username="bench-load")
    token = Token.objects.get_or_create(user=user)[0].key
    for i in range(args.assets):
        store.load_candles(asset_name(i), "5m")

    ports = [free_port() for _ in range(args.web)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    processes = fullstack.Processes("bench-load", env)
    webs = [
        processes.start(f"web{n}", fullstack.web_command(args.server, port))
        for n, port in enumerate(ports)
    ]
    worker = processes.start(
        "worker",
        [python, "-m", "celery", "-A", "botsinais", "worker", "-Q",
         ",".join(settings.TASK_QUEUE_NAMES.values()), "--concurrency", str(WORKER_PROCESSES),
         "--without-gossip", "--without-mingle", "--loglevel", "WARNING", "-n", "bench-load@%h"],
    )  # fmt: skip
    results: dict[float, dict[str, str]] = {}
    try:
        wait_for(lambda: app.control.ping(timeout=1), "the Celery worker")
        for base in bases:
            wait_for(lambda base=base: requests.get(f"{base}/api/health/", timeout=3).ok, base)
        pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
        print(f"Load on the full stack: {args.web} {args.server}, 1 Celery worker "
              f"({WORKER_PROCESSES} processes), RabbitMQ, Redis, PostgreSQL; {args.assets} "
              f"assets with stored candles; {args.duration:g} s per rate, endings awaited "
              f"until none for {args.settle:g} s; "
              f"database pool per process: {pool or 'none'}\n", flush=True)  # fmt: skip
        client = Client(bases, token, args.assets)
        # Each worker process compiles the indicator kernels (numba) on its first analysis,
        # seconds of work that would otherwise sit at the head of the first rate's queue.
        warm_up = client.run(rate=2, duration=WORKER_PROCESSES * 3)
        if not any(a.status == 202 for a in warm_up):
            raise RuntimeError("no warm-up request was accepted; see test-artifacts/bench-load-*")
        wait_for_endings(warm_up, settle=60)
        for rate in args.rates:
            peak, stop = [0], threading.Event()
            counter = threading.Thread(target=count_connections, args=(peak, stop), daemon=True)
            counter.start()
            web_cpu = sum(cpu_seconds(w.pid) for w in webs)
            worker_cpu = cpu_seconds(worker.pid)
            began = time.monotonic()
            spies = start_profilers(webs, worker, rate, args.duration) if args.profile else []
            answers = client.run(rate, args.duration)
            # The web tier over the sending window, the worker until the last ending.
            web_cpu = sum(cpu_seconds(w.pid) for w in webs) - web_cpu
            sent = time.monotonic() - began
            rows = wait_for_endings(answers, args.settle)
            worker_cpu = cpu_seconds(worker.pid) - worker_cpu
            stop.set()
            counter.join()
            cpu = {
                "web": web_cpu / sent * 100,
                "web_seconds": web_cpu,
                "worker": worker_cpu / (time.monotonic() - began) * 100,
                "connections": peak[0],
            }
            results[rate] = summarize(answers, rows, args.duration, cpu)
            for spy, output in spies:
                spy.wait(30)
                stacks.print_summary(output)
            print(f"{rate:g}/s done", flush=True)
    finally:
        processes.__exit__(None, None, None)

    columns = [f"{rate:g}/s" for rate in results]
    header = f"{'measure':<36}" + "".join(f"{c:>12}" for c in columns)
    print()
    print(header)
    print("-" * len(header))
    for measure in next(iter(results.values())):
        print(f"{measure:<36}" + "".join(f"{results[r][measure]:>12}" for r in results))


if __name__ == "__main__":
    main()
