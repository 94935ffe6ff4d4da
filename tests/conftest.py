import importlib.util
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import ModuleType
from unittest import mock
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone, translation
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from collectors import http
from tests.fake_binance import INTERVAL_MS, klines_handler, oversold_candles
from tests.procfile import procfile_command

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
IN_CI = os.environ.get("CI", "").lower() == "true"

# No deadline and no too-slow check: on a shared machine any example is slow now and then, and
# these tests check results, never timing. CI replays the same examples every run, so a red CI
# is reproducible; locally they vary.
hypothesis_settings.register_profile(
    "dev", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.register_profile(
    "ci", hypothesis_settings.get_profile("dev"), derandomize=True, print_blob=True
)
hypothesis_settings.load_profile("ci" if IN_CI else "dev")


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


# ---- the test database ----


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After a transactional test's flush, the content types and permissions migrate made are
    put back from a copy, in two inserts; Django recomputes them app by app, 13 ms of CPU of a
    14 ms flush, and 200 tests of the unit pass are transactional. Same rows, same ids."""
    if settings.FULL_STACK:  # the integration pass flushes as Django does
        yield
        return
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.management import create_contenttypes
    from django.contrib.contenttypes.models import ContentType
    from django.db.models.signals import post_migrate

    with django_db_blocker.unblock():
        content_types, permissions = list(ContentType.objects.all()), list(Permission.objects.all())

    def restore(sender, using, **kwargs):
        if sender.label != "contenttypes" or ContentType.objects.using(using).exists():
            return  # once per flush; a migrate that kept the rows needs nothing
        ContentType.objects.clear_cache()
        ContentType.objects.using(using).bulk_create(content_types)
        Permission.objects.using(using).bulk_create(permissions)

    auth_uid = "django.contrib.auth.management.create_permissions"
    post_migrate.disconnect(create_contenttypes)
    post_migrate.disconnect(create_permissions, dispatch_uid=auth_uid)
    post_migrate.connect(restore)
    yield
    post_migrate.disconnect(restore)
    post_migrate.connect(create_contenttypes)
    post_migrate.connect(create_permissions, dispatch_uid=auth_uid)


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


@pytest.fixture(autouse=True)
def candle_cache_follows_the_database(request):
    """The candle cache names a bar, not the rows it was read from. An integration test's
    database is emptied after it while Redis keeps the frames: the next test in the same bar
    was served the last one's candles (a random walk where it served a sell-off). Likewise
    the period frames a process keeps: a rolled-back test gives its candle ids back (SQLite),
    so the next test's candles can have the same version."""
    from market import store

    store._period_frames.clear()
    yield
    if request.node.get_closest_marker("integration") and settings.FULL_STACK:
        from django.core.cache import cache

        client = cache._cache.get_client(write=True)  # Django's RedisCache: redis-py client
        for pattern in ("market:candles:*", "market:period:*"):
            stale = list(client.scan_iter(match=cache.make_key(pattern), count=1000))
            if stale:
                client.delete(*stale)


@pytest.fixture(autouse=True)
def default_language():
    # A request in Portuguese leaves pt-BR active in its thread (LocaleMiddleware sets it per
    # request, never back): every test starts in the default language, as a fresh process does.
    translation.deactivate()


@pytest.fixture(autouse=True)
def no_http_backoff(monkeypatch):
    """The collectors' HTTP sessions still retry, without sleeping between tries.

    urllib3 sleeps 0.5 s, 1 s, 2 s before its retries, even after a 503 with Retry-After: 0.
    """
    monkeypatch.setattr(http, "make_session", partial(http.make_session, backoff_factor=0))


# ---- the settings module read from a given environment ----

# The real stack's variables: a settings module is read without them unless a test names them.
STACK_VARIABLES = ("DATABASE_", "CELERY_BROKER_URL", "REDIS_URL", "MARKET_DATA_MODE")


def settings_from_environment(**env_vars: str) -> ModuleType:
    """botsinais/settings.py run afresh in this process with env_vars set, as a process starting
    with that environment reads it; ImproperlyConfigured propagates. Starting a process to
    read them costs half a second of CPU each."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(STACK_VARIABLES)}
    environment.update(DJANGO_READ_ENV_FILE="false", **env_vars)
    spec = importlib.util.spec_from_file_location(
        "settings_under_test", ROOT / "botsinais" / "settings.py"
    )
    module = importlib.util.module_from_spec(spec)
    with mock.patch.dict(os.environ, environment, clear=True):
        spec.loader.exec_module(module)
    return module


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
    with celery_worker(make_httpserver, f"pytest-{os.getpid()}", "celery-worker.log") as worker:
        yield worker


@contextmanager
def celery_worker(httpserver, name: str, log_name: str):
    """A real Celery worker process on every queue (4 threads), reading the Binance stand-in;
    stopped on leaving. A second one (another name) shares the queues with the first."""
    from botsinais.celery import app

    env = subprocess_env(
        MARKET_DATA_MODE="live", BINANCE_BASE_URL=httpserver.url_for("").rstrip("/")
    )
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / log_name, "w")
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
            f"{name}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_worker(app, worker, name=f"{name}@{socket.gethostname()}")
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


def wait_for_worker(app, worker, timeout: float = 60, name: str | None = None) -> None:
    """Until the worker answers a ping (the one called name, when another one runs too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"celery worker exited with {worker.returncode}")
        if app.control.ping(timeout=1, destination=[name] if name else None):
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

