import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from hypothesis import settings as hypothesis_settings

from tests.fake_binance import INTERVAL_MS, klines_handler, oversold_candles
from tests.procfile import procfile_command

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
IN_CI = os.environ.get("CI", "").lower() == "true"

# CI replays the same examples every run, so a red CI is reproducible; locally they vary.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if IN_CI:
    hypothesis_settings.load_profile("ci")


# ---- which real services the integration pass can reach ----


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def missing_services() -> list[str]:
    if not settings.FULL_STACK or settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        return ["the full-stack settings (run the integration pass with `make test`)"]
    db = settings.DATABASES["default"]
    wanted = {
        "PostgreSQL": (f"postgres://{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}", 5432),
        "RabbitMQ": (settings.CELERY_BROKER_URL, 5672),
        "Redis": (settings.REDIS_URL, 6379),
    }
    return [name for name, (url, port) in wanted.items() if not reachable(url, port)]


@pytest.hookimpl(trylast=True)  # after -m has deselected what this pass does not run
def pytest_collection_modifyitems(config, items):
    integration = [item for item in items if "integration" in item.keywords]
    if not integration:
        return
    missing = missing_services()
    if not missing:
        return
    reason = "integration tests need " + ", ".join(missing)
    if IN_CI:
        # In CI a missing service is a failure, never a quiet skip.
        pytest.exit(f"CI=true and {reason}", returncode=1)
    for item in integration:
        item.add_marker(pytest.mark.skip(reason=reason))


# ---- settings every test runs with ----

# High enough that no test is throttled by another's requests; tests/test_throttling.py sets
# its own low rates.
UNTHROTTLED_RATES = {
    scope: "100000/minute" for scope in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
}


@pytest.fixture(autouse=True)
def test_settings():
    # Its own override, not the `settings` fixture: that one is the test's, undone right after
    # the test, before the module's own fixtures tear down.
    overrides = {
        "REST_FRAMEWORK": {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": UNTHROTTLED_RATES,
        },
        # The test client speaks plain HTTP, also to the full-stack settings (DEBUG off).
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
    }
    # PBKDF2 is slow on purpose, which is most of a test's time when it creates a user. Not on
    # the full stack: the servers the integration tests start must verify those passwords.
    if not settings.FULL_STACK:
        overrides["PASSWORD_HASHERS"] = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with override_settings(**overrides):
        yield


# ---- factories ----


def make_signal(**fields):
    """An active long signal with plausible levels; fields override any value."""
    from signals.models import Signal  # models load once Django is set up

    values = dict(
        asset="BTCUSDT",
        direction="long",
        confidence=0.7,
        entry_price=100.0,
        stop_loss=95.0,
        take_profit=110.0,
        strategy="mean_reversion",
        timeframe="5m",
        candle_time=timezone.now() - timedelta(minutes=5 * Signal.objects.count() + 5),
    )
    values.update(fields)
    return Signal.objects.create(**values)


# ---- users and clients ----


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("trader", password="s3cret-pass")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser("boss", password="s3cret-pass")


@pytest.fixture
def api_client(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def anon_client():
    from rest_framework.test import APIClient

    return APIClient()


# ---- market data from a local Binance stand-in ----


@pytest.fixture
def binance(httpserver, settings):
    """Live market data mode against the local Binance stand-in; BTCUSDT 5m ends oversold."""
    frames = {("BTCUSDT", "5m"): oversold_candles(INTERVAL_MS["5m"])}
    httpserver.expect_request("/api/v3/klines").respond_with_handler(klines_handler(frames))
    settings.MARKET_DATA_MODE = "live"
    settings.BINANCE_BASE_URL = httpserver.url_for("").rstrip("/")
    return frames


# ---- a real Celery worker process for the integration pass ----


def subprocess_env(**extra) -> dict:
    """The environment a worker or server process needs to use the test database."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        DJANGO_READ_ENV_FILE="false",
        DATABASE_URL=f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        REDIS_URL=settings.REDIS_URL,
        DJANGO_SECRET_KEY="integration-tests",
        DATABASE_CONN_MAX_AGE="0",
        DJANGO_HTTPS="false",  # the tests talk plain HTTP to it
        **{f"THROTTLE_{scope.upper()}": rate for scope, rate in UNTHROTTLED_RATES.items()},
        **extra,
    )
    return env


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, make_httpserver):
    from botsinais.celery import app

    app.control.purge()  # messages left by an earlier, interrupted run
    env = subprocess_env(
        MARKET_DATA_MODE="live", BINANCE_BASE_URL=make_httpserver.url_for("").rstrip("/")
    )
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "celery-worker.log", "w")
    worker = subprocess.Popen(
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
            "threads",
            "--concurrency",
            "4",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"pytest-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_worker(app, worker)
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


def wait_for_worker(app, worker, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"celery worker exited with {worker.returncode}")
        if app.control.ping(timeout=1):
            return
    raise RuntimeError("celery worker did not answer a ping in time")


def wait_until(predicate, timeout: float = 60, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


# ==== realtime: the web server for the WebSocket and browser tests ====


def lose_the_race(monkeypatch, serializer_class, store_rival) -> list:
    """Make the next save through serializer_class lose a race for its row.

    store_rival() writes the same row after the request passed validation and before it saves,
    as a concurrent request would. Returns a list that then holds the rival row.
    """
    validate, rival = serializer_class.validate, []

    def validate_then_lose(self, attrs):
        attrs = validate(self, attrs)
        if not rival:
            rival.append(store_rival())
        return attrs

    monkeypatch.setattr(serializer_class, "validate", validate_then_lose)
    return rival


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process, timeout: float = 60) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answers; a 503 from /api/health/ still means it is serving
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in time")


@contextmanager
def running_web_server(env: dict, log_name: str):
    """The web process exactly as the Procfile starts it (uvicorn), with env, on a free port;
    yields its base URL once it answers, and stops it after. Its output goes to
    test-artifacts/log_name."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(exist_ok=True)
    env = dict(
        env, HOST="127.0.0.1", PORT=str(port),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )  # fmt: skip
    with open(ARTIFACTS / log_name, "w") as log:
        server = subprocess.Popen(
            ["sh", "-c", f"exec {procfile_command('web')}"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for_http(f"{url}/api/health/", server)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()


@pytest.fixture(scope="session")
def web_server(django_db_setup, make_httpserver):
    """The web process on the test database, as deployed (the Procfile's command, DEBUG off,
    collected static files); market data from the local Binance stand-in. Yields the base URL."""
    env = subprocess_env(
        MARKET_DATA_MODE="live", BINANCE_BASE_URL=make_httpserver.url_for("").rstrip("/")
    )
    manage = [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"]
    subprocess.run(manage, cwd=ROOT, env=env, check=True)
    with running_web_server(env, "web-server.log") as url:
        yield url


# The names from before the web server was uvicorn, for branches written against them.
running_daphne = running_web_server


@pytest.fixture(scope="session")
def daphne_server(web_server):
    return web_server
