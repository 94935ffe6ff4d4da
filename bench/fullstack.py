"""What the full-stack benches share: their own services (database, vhost, Redis database),
the Binance stand-in, and web, worker processes they start and always stop.

Each bench names its own database, RabbitMQ vhost and Redis database, so a test run or
another bench at the same time neither takes its tasks and events nor has its rows deleted.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from werkzeug import Request
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
BIN = Path(sys.executable).parent
SERVERS = ("uvicorn", "daphne")


class OversoldEverywhere(dict):
    """Frames for the Binance stand-in: the same oversold 5m candles for every symbol."""

    def __init__(self):
        from tests.fake_binance import INTERVAL_MS, oversold_candles

        super().__init__()
        self.frame = oversold_candles(INTERVAL_MS["5m"])

    def __contains__(self, key):
        return key[1] == "5m"

    def __getitem__(self, key):
        return self.frame


def start_binance() -> str:
    from tests.fake_binance import klines_handler

    app = Request.application(klines_handler(OversoldEverywhere()))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unreachable(urls: dict[str, str]) -> list[str]:
    """The services (name -> URL) that do not accept a connection."""
    missing = []
    for name, url in urls.items():
        parsed = urlparse(url)
        default = {"postgres": 5432, "amqp": 5672, "redis": 6379}[parsed.scheme]
        try:
            socket.create_connection((parsed.hostname, parsed.port or default), 1).close()
        except OSError:
            missing.append(name)
    return missing


def ensure_vhost(broker_url: str, vhost: str) -> None:
    if not broker_url.endswith(f"/{vhost}"):
        return  # a broker of the caller's choosing
    listed = subprocess.run(["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, text=True)
    if vhost not in listed.stdout.split():
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            check=True,
        )


def ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def web_command(server: str, port: int) -> list[str]:
    """One web process exactly as the Procfile starts it (uvicorn), or the daphne it replaced."""
    if server == "daphne":
        return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "-v", "0",
                "botsinais.asgi:application"]  # fmt: skip
    from tests.procfile import procfile_command

    # env execs sh, sh execs the server: the process started is the server itself.
    return ["env", "HOST=127.0.0.1", f"PORT={port}", f"PATH={BIN}:{os.environ['PATH']}",
            "sh", "-c", f"exec {procfile_command('web')}"]  # fmt: skip


class Processes:
    """Processes started for a bench, logged to test-artifacts/<prefix>-<name>.log and
    stopped (terminated, then killed) when the bench ends, whatever happened."""

    def __init__(self, prefix: str, env: dict):
        self.prefix, self.env = prefix, env
        self.started: list[subprocess.Popen] = []
        ARTIFACTS.mkdir(exist_ok=True)

    def log(self, name: str) -> Path:
        return ARTIFACTS / f"{self.prefix}-{name}.log"

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.log(name), "w")
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self.started.append(process)
        return process

    def __enter__(self):
        # A bench stopped with SIGTERM (timeout, kill) still stops what it started.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        return self

    def __exit__(self, *exc):
        for process in self.started:
            process.terminate()
        for process in self.started:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


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


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and all its descendants (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)
