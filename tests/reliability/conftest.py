"""What the reliability tests break, each its own: a RabbitMQ node, Celery workers, the market
data source. PostgreSQL is the shared test database; a test kills only its own workers' backends
(found by application_name), never the server.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import kombu.pools
import pytest
from django.conf import settings
from werkzeug import Request, Response
from werkzeug.serving import make_server

from tests.conftest import ARTIFACTS, ROOT, free_port, subprocess_env, wait_until
from tests.fake_binance import INTERVAL_MS, klines_handler, oversold_candles

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")  # the scripts themselves, not the sbin wrappers
# that switch to the rabbitmq user (which could not write our temporary directory).
WORKER_APPLICATION_NAME = "botsinais-reliability-worker"


# ---- a RabbitMQ node of our own ----


class RabbitNode:
    """A second RabbitMQ node on free ports in a temporary directory, without plugins."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.dist_port = free_port()
        self.name = f"botsinais-reliability-{os.getpid()}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.process: subprocess.Popen | None = None
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq-env.conf").write_text("")  # not the machine's node settings
        (base / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        self.env = dict(
            os.environ,
            HOME=str(base),  # the Erlang cookie the node and rabbitmqctl share
            RABBITMQ_CONF_ENV_FILE=str(base / "rabbitmq-env.conf"),
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
            RABBITMQ_LOG_BASE=str(base / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(base / "rabbitmq.conf"),
            RABBITMQ_PID_FILE=str(base / "rabbitmq.pid"),
        )

    def start(self, timeout: float = 120) -> None:
        self.log = open(base_log := self.base / "server.log", "w")
        self.log_path = base_log
        self.process = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole
        )
        self.wait_until_serving(timeout)

    def wait_until_serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited: see {self.log_path}")
            if self.accepts_connections():
                return
            time.sleep(0.3)
        raise RuntimeError(f"rabbitmq node did not serve within {timeout}s: see {self.log_path}")

    def accepts_connections(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5):
                return True
        except OSError:
            return False

    def ctl(self, *args: str) -> None:
        subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def stop_app(self) -> None:
        """The broker stops: every connection is closed and new ones are refused."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.wait_until_serving()

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            self.ctl("stop")
            self.process.wait(30)
        except (subprocess.SubprocessError, OSError):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.log.close()


@pytest.fixture(scope="session")
def rabbit_server(django_db_setup, tmp_path_factory):
    """The node, started once for the session."""
    node = RabbitNode(tmp_path_factory.mktemp("rabbitmq"))
    try:
        node.start()
        yield node
    finally:
        node.stop()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(node.log_path, ARTIFACTS / "reliability-rabbitmq.log")


@pytest.fixture
def rabbit_node(rabbit_server):
    """The node, with this process publishing to it for the test only: later tests publish to
    the shared broker again, where no reliability worker (with its scripted upstream) listens."""
    from botsinais.celery import app

    previous = os.environ.get("CELERY_BROKER_URL", settings.CELERY_BROKER_URL)
    use_broker(app, rabbit_server.url)
    try:
        yield rabbit_server
    finally:
        use_broker(app, previous)


def use_broker(app, url: str) -> None:
    """Point this process's Celery app at another broker, dropping pooled connections."""
    settings.CELERY_BROKER_URL = url
    os.environ["CELERY_BROKER_URL"] = url  # Celery reads it before its own setting
    app.conf.broker_url = url
    # Close every pooled connection and forget the pools: kombu keeps producer pools per
    # broker in a registry, and one closed there would be handed out again on switching back.
    kombu.pools.reset()
    # What Celery itself resets in a forked child, so that nothing keeps the old broker.
    app._after_fork()
    app.control._after_fork()


# ---- a Binance stand-in whose answers the test scripts ----


class ScriptedBinance:
    """Answers klines like Binance; per symbol, the test can queue error answers first and
    hold requests (a stalled upstream) until released. Threaded: a held request blocks only
    itself."""

    def __init__(self) -> None:
        self.frames = {}
        self.scripts: dict[str, list[Response]] = {}
        self.holds: dict[str, threading.Event] = {}
        self.requests: dict[str, int] = {}
        self.lock = threading.Lock()
        self.serve_klines = klines_handler(self.frames)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_symbol(self, symbol: str, timeframe: str = "5m") -> None:
        self.frames[(symbol, timeframe)] = oversold_candles(INTERVAL_MS[timeframe])

    def answer_first(self, symbol: str, *responses: Response) -> None:
        self.scripts.setdefault(symbol, []).extend(responses)

    def hold(self, symbol: str) -> threading.Event:
        self.holds[symbol] = threading.Event()
        return self.holds[symbol]

    def release_all(self) -> None:
        for event in self.holds.values():
            event.set()

    @Request.application
    def app(self, request: Request) -> Response:
        symbol = request.args.get("symbol", "")
        with self.lock:
            self.requests[symbol] = self.requests.get(symbol, 0) + 1
            scripted = self.scripts.get(symbol)
            response = scripted.pop(0) if scripted else None
        if response is not None:
            return response
        hold = self.holds.get(symbol)
        if hold is not None:
            hold.wait(120)
        return self.serve_klines(request)

    def close(self) -> None:
        self.release_all()
        self.server.shutdown()


def binance_error(status: int, code: int, message: str, headers: dict | None = None) -> Response:
    """An error answer as Binance documents it: {"code": ..., "msg": ...}."""
    body = f'{{"code":{code},"msg":"{message}"}}'
    return Response(
        body, status=status, content_type="application/json;charset=UTF-8", headers=headers or {}
    )


def rate_limited(retry_after: int) -> Response:
    return binance_error(
        429,
        -1003,
        "Too many requests; current limit is 6000 request weight per 1 MINUTE. Please use the "
        "websocket for live updates to avoid polling the API.",
        {"Retry-After": str(retry_after)},
    )


def server_error(status: int = 503) -> Response:
    return Response("Service Unavailable.", status=status, content_type="text/html")


@pytest.fixture(scope="session")
def session_upstream():
    binance = ScriptedBinance()
    try:
        yield binance
    finally:
        binance.close()


@pytest.fixture
def upstream(session_upstream, settings):
    """The scripted Binance, with nothing scripted, held or counted from an earlier test. This
    process is in live mode too, so it accepts the made-up symbols the tests script."""
    settings.MARKET_DATA_MODE = "live"
    session_upstream.release_all()
    with session_upstream.lock:
        session_upstream.scripts.clear()
        session_upstream.holds.clear()
        session_upstream.requests.clear()
    return session_upstream


# ---- Celery workers this test starts and breaks ----


class WorkerProcess:
    """`celery worker` on the test database and our own broker, as its own process group."""

    def __init__(self, broker_url: str, binance_url: str, env: dict[str, str]) -> None:
        self.name = f"reliability-{uuid.uuid4().hex[:8]}@%h"
        db = settings.DATABASES["default"]
        database_url = (
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}?application_name={WORKER_APPLICATION_NAME}"
        )
        self.env = subprocess_env(
            MARKET_DATA_MODE="live",
            BINANCE_BASE_URL=binance_url,
            MARKET_DATA_TIMEOUT="60",
            **env,
        )
        self.env.update(
            DATABASE_URL=database_url,
            CELERY_BROKER_URL=broker_url,
            # A fresh candle cache: frames cached by an earlier run would skip the upstream.
            REDIS_KEY_PREFIX=f"{settings.REDIS_KEY_PREFIX}-reliability-{uuid.uuid4().hex[:8]}",
        )
        self.process: subprocess.Popen | None = None

    def start(self, pool: str = "prefork", concurrency: int = 1) -> "WorkerProcess":
        from botsinais.celery import app

        ARTIFACTS.mkdir(exist_ok=True)
        self.log = open(ARTIFACTS / f"reliability-worker-{self.name.split('@')[0]}.log", "w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "botsinais",
                "worker",
                "-Q",
                ",".join(settings.TASK_QUEUE_NAMES.values()),
                "--pool",
                pool,
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                self.name,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        hostname = self.name.replace("%h", socket.gethostname())
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited with {self.process.returncode}")
            if app.control.ping(destination=[hostname], timeout=1):
                return self
        raise RuntimeError("celery worker did not answer a ping in time")

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def kill(self) -> None:
        """SIGKILL, the whole worker at once: nothing gets to clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.log.close()


# Short enough for the tests to see them act: a retry waits about 1-2 s, a late message is
# republished after 1 s, the third lost attempt is the last. The time limits leave room for a
# new pool process compiling the numba kernels on a busy machine.
WORKER_SETTINGS = {
    "ANALYSIS_RETRY_BACKOFF": "2",
    "ANALYSIS_REDISPATCH_AFTER": "1",
    "ANALYSIS_MAX_ATTEMPTS": "3",
    "TASK_SOFT_TIME_LIMIT": "60",
    "TASK_TIME_LIMIT": "90",
}


class Workers:
    """The session's worker: one at a time, restarted when a test killed it."""

    def __init__(self, broker_url: str, binance_url: str) -> None:
        self.broker_url = broker_url
        self.binance_url = binance_url
        self.current: WorkerProcess | None = None

    def running(self) -> WorkerProcess:
        if self.current is None or self.current.process.poll() is not None:
            self.current = WorkerProcess(self.broker_url, self.binance_url, WORKER_SETTINGS)
            self.current.start()
        return self.current

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()


@pytest.fixture(scope="session")
def workers(rabbit_server, session_upstream):
    pool = Workers(rabbit_server.url, session_upstream.url)
    try:
        yield pool
    finally:
        session_upstream.release_all()
        pool.stop()


@pytest.fixture
def worker(workers, upstream, rabbit_node) -> WorkerProcess:
    """A running worker (the session's; a new one if a test killed it)."""
    return workers.running()


def wait_for_status(correlation_id, *statuses: str, timeout: float = 90):
    from signals.models import AnalysisRequest

    def reached():
        analysis = AnalysisRequest.objects.filter(correlation_id=correlation_id).first()
        return analysis if analysis and analysis.status in statuses else None

    return wait_until(reached, timeout=timeout, interval=0.1)
