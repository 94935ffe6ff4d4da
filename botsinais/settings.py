"""Settings, all from environment variables (see .env.example).

With no variables set the platform runs embedded: SQLite, Celery in-process, in-memory
channel layer, local-memory cache and demo market data. Setting CELERY_BROKER_URL,
DATABASE_URL and REDIS_URL moves each part onto the real stack.
"""

import os
import re
from pathlib import Path
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

from collectors import fees

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists() and os.environ.get("DJANGO_READ_ENV_FILE", "true") != "false":
    env.read_env(BASE_DIR / ".env")


def env_bool(name: str, default: bool) -> bool:
    # django-environ reads any unknown word as False; a typo should stop start-up instead.
    raw = env.str(name, default="").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false)")


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.str(name, default=default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def env_url(name: str, schemes: tuple[str, ...]) -> str:
    value = env.str(name, default="").strip()
    if value and urlparse(value).scheme not in schemes:
        raise ImproperlyConfigured(f"{name}={value!r} must be a URL starting with {schemes[0]}://")
    return value


def env_number(name: str, default: float, cast=float, minimum: float | None = None,
               maximum: float | None = None):
    raw = env.str(name, default="").strip()
    try:
        value = cast(raw) if raw else default
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a valid number") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} must be at most {maximum}")
    return value


def env_rate(name: str, default: str) -> str:
    """A DRF throttle rate: <count>/<second|minute|hour|day>."""
    value = env.str(name, default=default).strip()
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name}={value!r} is not a rate: use e.g. 10/minute")
    return value


def env_proxy_header(name: str) -> tuple[str, str] | None:
    """'X-Forwarded-Proto=https' -> ("HTTP_X_FORWARDED_PROTO", "https"); empty means none."""
    raw = env.str(name, default="").strip()
    if not raw:
        return None
    header, _, value = (part.strip() for part in raw.partition("="))
    if not header or not value:
        raise ImproperlyConfigured(f"{name}={raw!r}: use <header>=<value>, X-Forwarded-Proto=https")
    meta = header.upper().replace("-", "_")
    return (meta if meta.startswith("HTTP_") else f"HTTP_{meta}", value)


CELERY_BROKER_URL = env_url("CELERY_BROKER_URL", ("amqp", "pyamqp", "amqps"))
REDIS_URL = env_url("REDIS_URL", ("redis", "rediss"))
FULL_STACK = bool(CELERY_BROKER_URL)

DEBUG = env_bool("DJANGO_DEBUG", default=not FULL_STACK)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if FULL_STACK and not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set on the full stack")
    SECRET_KEY = "embedded-insecure-key-do-not-use-in-production"
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS: on by default whenever DEBUG is off (the full stack), each part overridable. A server
# reached over plain HTTP with DEBUG off (the integration tests, benches) sets DJANGO_HTTPS=false.
HTTPS = env_bool("DJANGO_HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_HSTS_SECONDS = env_number(
    "DJANGO_SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0, int, minimum=0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", default=HTTPS)
# Behind a proxy that terminates TLS: the header it sets, e.g. X-Forwarded-Proto=https. Only
# when the proxy always sets it (a client could send it otherwise).
SECURE_PROXY_SSL_HEADER = env_proxy_header("DJANGO_SECURE_PROXY_SSL_HEADER")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "market",
    "signals",
    "backtests",
    "calibration",
]

MIDDLEWARE = [
    "botsinais.api_errors.ApiErrorsMiddleware",  # first: it sees every /api/ response
    "django.middleware.security.SecurityMiddleware",
    "botsinais.middleware.DatabaseBusyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the one chosen with the switcher (a cookie), else the browser's.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "botsinais.urls"
ASGI_APPLICATION = "botsinais.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data")))
DATABASE_URL = env.str("DATABASE_URL", default="").strip() or f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
if urlparse(DATABASE_URL).scheme not in environ.Env.DB_SCHEMES:
    raise ImproperlyConfigured(f"DATABASE_URL={DATABASE_URL!r}: unknown database scheme")
try:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
except Exception as exc:  # django-environ's messages do not name the variable
    raise ImproperlyConfigured(f"DATABASE_URL is not a usable database URL: {exc}") from None
# On PostgreSQL every process keeps a bounded pool of connections (Django's psycopg pool): a
# request beyond it waits up to DATABASE_POOL_TIMEOUT, then is answered 503 with Retry-After
# (botsinais/middleware.py). Without a cap every in-flight request opened its own connection
# until the server refused them all. See docs/capacity.md for the measurements.
DATABASE_POOL = DATABASES["default"]["ENGINE"].endswith("postgresql") and env_bool(
    "DATABASE_POOL", default=True
)
DATABASES["default"]["CONN_MAX_AGE"] = env_number(
    "DATABASE_CONN_MAX_AGE", 0 if DATABASE_POOL else 60, int, minimum=0
)
if DATABASE_POOL:
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperlyConfigured("DATABASE_CONN_MAX_AGE must be 0 with DATABASE_POOL=true")
    DATABASE_POOL_OPTIONS = {
        "min_size": env_number("DATABASE_POOL_MIN_SIZE", 1, int, minimum=0),
        "max_size": env_number("DATABASE_POOL_MAX_SIZE", 10, int, minimum=1),
        "timeout": env_number("DATABASE_POOL_TIMEOUT", 2.0, float, minimum=0.01),
        # Requests queued for a connection beyond this are refused at once (0: no limit).
        "max_waiting": env_number("DATABASE_POOL_MAX_WAITING", 0, int, minimum=0),
    }
    if DATABASE_POOL_OPTIONS["min_size"] > DATABASE_POOL_OPTIONS["max_size"]:
        raise ImproperlyConfigured(
            "DATABASE_POOL_MIN_SIZE must not exceed DATABASE_POOL_MAX_SIZE"
        )
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = DATABASE_POOL_OPTIONS
# HTTP requests one web process serves at once; the next is refused at once with 503 (0: no
# limit). Beyond about its throughput times the latency wanted, a request only waits in line.
WEB_MAX_IN_FLIGHT = env_number("WEB_MAX_IN_FLIGHT", 16, int, minimum=0)
# Threads serving HTTP in one web process (botsinais/asgi.py): the requests it works on at once;
# more in flight wait for a thread. Keep it at most DATABASE_POOL_MAX_SIZE, so none waits for a
# connection (more is allowed: a thread that gets none in time answers 503 + Retry-After).
WEB_THREADS = env_number("WEB_THREADS", 10, int, minimum=1)
# Seconds a refused client is told to wait (Retry-After): server busy or no database connection.
BUSY_RETRY_AFTER = env_number("BUSY_RETRY_AFTER", 1, int, minimum=1)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # Several threads (web, in-process tasks) write at once; wait for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Lets several deployments (or test runs) share one Redis and one RabbitMQ without mixing.
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="botsinais")
CELERY_QUEUE_PREFIX = env.str("CELERY_QUEUE_PREFIX", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "botsinais.cache.SharedPoolRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
            "KEY_PREFIX": REDIS_KEY_PREFIX,
        }
    }
    # pubsub: an event is one PUBLISH per group; each web process receives it once and hands
    # it to its own clients, so the cost of a fan-out grows with processes, not clients. core:
    # one Redis list push per client and one pop by its process, with per-channel capacity.
    # Measured side by side with bench/realtime.py (docs/capacity.md).
    CHANNEL_LAYER = env_choice("CHANNEL_LAYER", ("pubsub", "core"), "pubsub")
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": {
                "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "core": "channels_redis.core.RedisChannelLayer",
            }[CHANNEL_LAYER],
            # The pub/sub layer reads hosts and prefix only; the rest applies to core.
            "CONFIG": {
                # redis-py 8 ends any read after 5 s by default: exactly as long as the layer
                # blocks waiting for a message, so every consumer idle that long would crash.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                # A browser that stops reading must not hold events in Redis for long.
                "capacity": env_number("CHANNEL_LAYER_CAPACITY", 1000, int, minimum=10),
                "expiry": env_number("CHANNEL_LAYER_EXPIRY", 30, int, minimum=1),
                # Clients of a web process that stopped without closing its sockets stay in
                # their groups until this runs out, and every event is still pushed to each of
                # them. Live consumers renew their membership every third of it.
                "group_expiry": env_number("CHANNEL_LAYER_GROUP_EXPIRY", 900, int, minimum=30),
                "prefix": REDIS_KEY_PREFIX,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Larger request bodies are refused: 413 from the API (botsinais/api_errors.py).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_number("MAX_REQUEST_BODY_BYTES", 1_048_576, int, minimum=1024)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("pt-br", "Português (Brasil)")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "signals.api.filters.MissingLastOrderingFilter",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "botsinais.api_errors.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Views opt in with throttle_scope; counts live in the default cache (Redis, full stack).
    "DEFAULT_THROTTLE_CLASSES": ["botsinais.throttling.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "login": env_rate("THROTTLE_LOGIN", "10/minute"),
        "analysis": env_rate("THROTTLE_ANALYSIS", "60/minute"),
        "backtest": env_rate("THROTTLE_BACKTEST", "10/minute"),
        "retrain": env_rate("THROTTLE_RETRAIN", "5/hour"),
        "ingest": env_rate("THROTTLE_INGEST", "10/minute"),
    },
    # Proxies in front that append to X-Forwarded-For; 0 counts the connecting address, which
    # a client cannot forge.
    "NUM_PROXIES": env_number("THROTTLE_NUM_PROXIES", 0, int, minimum=0),
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env_number("API_PAGE_SIZE", 50, int, minimum=1),
    "DEFAULT_SCHEMA_CLASS": "botsinais.schema.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "botsinais API",
    "DESCRIPTION": "Trading signals: analyses, signals, strategies and their record.",
    "VERSION": "0.1.0",
    # Two choice sets are called "source": where an analysis came from, and the data source.
    "ENUM_NAME_OVERRIDES": {
        "AnalysisSourceEnum": "signals.models.AnalysisSource",
        "DataSourceEnum": "market.models.DataSource",
        "BacktestStatusEnum": "backtests.models.BacktestStatus",
        "BacktestModeEnum": "backtests.models.MODE_CHOICES",
        "ModelStatusEnum": "calibration.models.ModelStatus",
    },
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI assets come from the sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery: without a broker, tasks run in-process (eager) right after the transaction commits.
CELERY_TASK_ALWAYS_EAGER = not FULL_STACK
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://"
# Results are kept only where a chord needs them (a grid's chunks, backtests/tasks.py): in Redis
# when there is one; without it grids run in-process (the embedded default) and need none.
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": f"{REDIS_KEY_PREFIX}:"}
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
TASK_QUEUE_NAMES = {
    name: CELERY_QUEUE_PREFIX + name for name in ("analysis", "backtests", "maintenance", "models")
}
CELERY_TASK_DEFAULT_QUEUE = TASK_QUEUE_NAMES["maintenance"]
CELERY_TASK_ROUTES = {
    "signals.tasks.run_analysis": {"queue": TASK_QUEUE_NAMES["analysis"]},
    "backtests.tasks.*": {"queue": TASK_QUEUE_NAMES["backtests"]},
    # Retraining takes minutes of CPU: its own queue, so it never delays an analysis.
    "calibration.tasks.*": {"queue": TASK_QUEUE_NAMES["models"]},
    "signals.tasks.*": {"queue": TASK_QUEUE_NAMES["maintenance"]},
}
# Tasks are idempotent, so a worker lost mid-task may safely see the message again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing waits for the broker's confirm (a message the broker did not take raises instead of
# vanishing) and gives up fast when it is down: the request stays pending and the sweeper
# republishes it (signals/services.py).
BROKER_PUBLISH_TIMEOUT = env_number("BROKER_PUBLISH_TIMEOUT", 2.0, float, minimum=0.1)
CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_PUBLISH_TIMEOUT
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# Every task: a soft limit it can react to (an analysis fails with the reason), then a hard one
# that kills the worker process (prefork pool). The thread pool enforces neither.
TASK_SOFT_TIME_LIMIT = env_number("TASK_SOFT_TIME_LIMIT", 120, int, minimum=1)
TASK_TIME_LIMIT = env_number("TASK_TIME_LIMIT", 150, int, minimum=2)
if TASK_TIME_LIMIT <= TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("TASK_TIME_LIMIT must be greater than TASK_SOFT_TIME_LIMIT")
CELERY_TASK_SOFT_TIME_LIMIT = TASK_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = TASK_TIME_LIMIT
# Analyses: runs a request may take (worker lost, timed out or a transient error each count one)
# before it is failed with the reason; transient errors wait base * 2^(attempt - 1) seconds,
# at most the maximum, with jitter, and never less than the source's retry_after.
ANALYSIS_MAX_ATTEMPTS = env_number("ANALYSIS_MAX_ATTEMPTS", 5, int, minimum=1)
ANALYSIS_RETRY_BACKOFF = env_number("ANALYSIS_RETRY_BACKOFF", 2.0, float, minimum=0)
ANALYSIS_RETRY_BACKOFF_MAX = env_number("ANALYSIS_RETRY_BACKOFF_MAX", 120.0, float, minimum=0)
# The sweeper republishes pending requests whose message is this late, and takes back running
# ones older than TASK_TIME_LIMIT + ANALYSIS_REAP_MARGIN (their worker is gone).
ANALYSIS_REDISPATCH_AFTER = env_number("ANALYSIS_REDISPATCH_AFTER", 120, int, minimum=1)
ANALYSIS_REAP_MARGIN = env_number("ANALYSIS_REAP_MARGIN", 30, int, minimum=0)
ANALYSIS_SWEEP_BATCH = env_number("ANALYSIS_SWEEP_BATCH", 500, int, minimum=1)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The web process also does the worker's and beat's jobs in threads (botsinais/embedded.py):
# `make run` turns it on. The full stack has a worker and beat for that.
EMBEDDED_WORKER = env_bool("EMBEDDED_WORKER", default=False)
if EMBEDDED_WORKER and FULL_STACK:
    raise ImproperlyConfigured(
        "EMBEDDED_WORKER=true runs tasks in the web process; with CELERY_BROKER_URL set the "
        "worker and beat do that (unset one of them)"
    )
# Signal lifecycle, scheduled maintenance and the worker heartbeat (signals/lifecycle.py,
# signals/tasks.py, signals/health.py). The schedules themselves live in the database.
SIGNAL_FEE_PERCENT = env_number("SIGNAL_FEE_PERCENT", 0.1, float, minimum=0)
# Fees per market (collectors/fees.py): `key:percent,...`, keys an asset, a source, an asset
# class (crypto, stock, forex) or `default`; what matches nothing pays SIGNAL_FEE_PERCENT.
# Defaults: Binance's spot taker fee, a typical stock commission, half a pip on a major pair.
try:
    FEE_SCHEDULE = fees.parse_fee_schedule(
        env.str("FEE_SCHEDULE", default="crypto:0.1,stock:0.05,forex:0.005")
    )
except ValueError as exc:
    raise ImproperlyConfigured(f"FEE_SCHEDULE: {exc}") from None
ANALYSIS_RETENTION_DAYS = env_number("ANALYSIS_RETENTION_DAYS", 30, int, minimum=1)
WORKER_HEARTBEAT_MAX_AGE = env_number("WORKER_HEARTBEAT_MAX_AGE", 90, int, minimum=1)
# /api/health/ answers within this many seconds whatever hangs: a check still running is down.
HEALTH_CHECK_TIMEOUT = env_number("HEALTH_CHECK_TIMEOUT", 1.5, float, minimum=0.1)

MARKET_DATA_MODE = env_choice(
    "MARKET_DATA_MODE", ("demo", "live"), "live" if FULL_STACK else "demo"
)
BINANCE_BASE_URL = env_url("BINANCE_BASE_URL", ("https", "http")) or "https://api.binance.com"
ALPHAVANTAGE_BASE_URL = (
    env_url("ALPHAVANTAGE_BASE_URL", ("https", "http")) or "https://www.alphavantage.co"
)
ALPHAVANTAGE_API_KEY = env.str("ALPHAVANTAGE_API_KEY", default="")
MARKET_DATA_TIMEOUT = env_number("MARKET_DATA_TIMEOUT", 10.0, float, minimum=0.1)
ANALYSIS_CANDLES = env_number("ANALYSIS_CANDLES", 500, int, minimum=50)
# Backtests (backtests/): the longest period one may cover, in bars of its timeframe.
BACKTEST_MAX_BARS = env_number("BACKTEST_MAX_BARS", 1_000_000, int, minimum=1)
BACKTEST_DEFAULT_DAYS = 90
# A backtest task's own time limits (seconds): soft fails it with the reason, hard kills it.
BACKTEST_SOFT_TIME_LIMIT = env_number("BACKTEST_SOFT_TIME_LIMIT", 1800, int, minimum=1)
BACKTEST_TIME_LIMIT = env_number("BACKTEST_TIME_LIMIT", 1860, int, minimum=2)
if BACKTEST_TIME_LIMIT <= BACKTEST_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("BACKTEST_TIME_LIMIT must be greater than BACKTEST_SOFT_TIME_LIMIT")
# Calibration (calibration/): a retrain task's own time limits (seconds).
RETRAIN_SOFT_TIME_LIMIT = env_number("RETRAIN_SOFT_TIME_LIMIT", 1800, int, minimum=1)
RETRAIN_TIME_LIMIT = env_number("RETRAIN_TIME_LIMIT", 1860, int, minimum=2)
if RETRAIN_TIME_LIMIT <= RETRAIN_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("RETRAIN_TIME_LIMIT must be greater than RETRAIN_SOFT_TIME_LIMIT")
# Parameter grids (strategies/grid.py): the most parameter sets one grid or walk-forward may
# hold (more is a 400), and the sets per chunk, each chunk one task a worker takes.
BACKTEST_GRID_MAX_SETS = env_number("BACKTEST_GRID_MAX_SETS", 1000, int, minimum=1)
BACKTEST_GRID_CHUNK_SETS = env_number("BACKTEST_GRID_CHUNK_SETS", 8, int, minimum=1)
# How long a grid's candles stay in the shared cache (Redis) after the grid read them from the
# database, so its workers and the next grids over the same period skip that read (seconds; 0:
# every worker reads the database).
BACKTEST_CANDLES_CACHE_SECONDS = env_number("BACKTEST_CANDLES_CACHE_SECONDS", 900, int,
                                            minimum=0)
# Freed memory a Celery worker process keeps for its next allocations instead of handing it
# back to the kernel, in MiB (botsinais/celery.py; 0: glibc's defaults). Backtests free and
# allocate arrays of tens of megabytes per parameter set (docs/grids.md).
# At most 2047: glibc takes the threshold as a C int of bytes.
WORKER_KEEP_FREED_MEMORY_MB = env_number("WORKER_KEEP_FREED_MEMORY_MB", 1024, int, minimum=0,
                                         maximum=2047)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO").upper()},
}
