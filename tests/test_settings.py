"""Start-up fails loudly, naming the variable, when a setting is wrong."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.conftest import settings_from_environment

ROOT = Path(__file__).resolve().parent.parent


def start_django(*command: str, **env_vars) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "MARKET_DATA_MODE")
    }
    env.update(DJANGO_READ_ENV_FILE="false", **env_vars)
    return subprocess.run(
        [sys.executable, "manage.py", *(command or ["check"])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "name, value",
    [
        ("DJANGO_DEBUG", "maybe"),
        ("MARKET_DATA_MODE", "paper"),
        ("CELERY_BROKER_URL", "localhost:5672"),
        ("REDIS_URL", "127.0.0.1:6379"),
        ("DATABASE_URL", "nosuchdb://x/y"),
        ("ANALYSIS_CANDLES", "lots"),
        ("MARKET_DATA_TIMEOUT", "-1"),
        ("WORKER_KEEP_FREED_MEMORY_MB", "4096"),  # a C int of bytes: 4096 MiB would wrap to 0
    ],
)
def test_bad_value_stops_start_up_naming_the_variable(name, value):
    with pytest.raises(ImproperlyConfigured, match=name):
        settings_from_environment(**{name: value})


def test_a_bad_value_stops_manage_py_with_the_name_on_stderr():
    # The values above, read in this process; here the whole way: a process that will not start.
    result = start_django(DJANGO_DEBUG="maybe")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_DEBUG" in result.stderr


def test_full_stack_without_secret_key_refuses_to_start():
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        settings_from_environment(CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//")


def test_the_embedded_worker_is_refused_on_the_full_stack():
    with pytest.raises(ImproperlyConfigured, match="EMBEDDED_WORKER"):
        settings_from_environment(
            CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//",
            DJANGO_SECRET_KEY="x" * 40,
            EMBEDDED_WORKER="true",
        )


def test_embedded_default_needs_nothing(tmp_path):
    result = start_django(DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
