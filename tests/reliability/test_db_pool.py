"""Bounded database connections: load beyond the pool is refused with 503 and Retry-After.

The web process runs with a pool of two connections and a short wait, on the shared
PostgreSQL (a pool limit reaches the cap without touching the server's own limit); a burst of
concurrent POSTs to request-analysis must each end in 202 (the row is stored) or a refusal
with Retry-After, never a 500, and no refused request may leave a row behind.
"""

import threading

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

from tests.conftest import running_web_server, settings_from_environment, subprocess_env

CONCURRENT_POSTS = 60


def test_postgresql_gets_a_bounded_pool_from_the_environment():
    database = settings_from_environment(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/x",
        DATABASE_POOL_MAX_SIZE="7",
        DATABASE_POOL_TIMEOUT="0.5",
    ).DATABASES["default"]
    assert database["CONN_MAX_AGE"] == 0  # Django refuses persistent connections with a pool
    pool = database["OPTIONS"]["pool"]
    assert (pool["max_size"], pool["timeout"]) == (7, 0.5)


def test_sqlite_has_no_pool(tmp_path):
    database = settings_from_environment(DATA_DIR=str(tmp_path)).DATABASES["default"]
    assert database["ENGINE"].endswith("sqlite3") and "pool" not in database["OPTIONS"]


@pytest.mark.parametrize(
    "env_vars, named",
    [
        ({"DATABASE_POOL_MIN_SIZE": "5", "DATABASE_POOL_MAX_SIZE": "2"}, "DATABASE_POOL_MIN_SIZE"),
        ({"DATABASE_CONN_MAX_AGE": "60"}, "DATABASE_CONN_MAX_AGE"),
        ({"DATABASE_POOL_TIMEOUT": "soon"}, "DATABASE_POOL_TIMEOUT"),
    ],
)
def test_a_pool_setting_that_cannot_work_stops_start_up(env_vars, named):
    with pytest.raises(ImproperlyConfigured, match=named):
        settings_from_environment(DATABASE_URL="postgres://postgres@127.0.0.1:5432/x", **env_vars)


@pytest.fixture
def small_pool_server(django_db_setup, django_db_blocker):
    """The web server on the test database with a pool of 2 connections and a 10 ms wait for one,
    and no in-flight limit in front of it."""
    env = subprocess_env(
        DATABASE_POOL_MIN_SIZE="1",
        DATABASE_POOL_MAX_SIZE="2",
        DATABASE_POOL_TIMEOUT="0.01",
        WEB_MAX_IN_FLIGHT="0",  # every request reaches the pool: the pool's limit is tested
    )
    from botsinais.celery import app

    with running_web_server(env, "web-small-pool.log") as url:
        try:
            yield url
        finally:
            app.control.purge()  # the accepted analyses' messages: no worker runs them here


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_requests_beyond_the_pool_are_refused_with_retry_after_and_none_is_lost(
    small_pool_server, django_user_model
):
    from rest_framework.authtoken.models import Token

    from signals.models import AnalysisRequest

    user = django_user_model.objects.create_user("pool-burst")
    token = Token.objects.create(user=user).key
    start = threading.Barrier(CONCURRENT_POSTS)
    answers: list[requests.Response] = []

    def post():
        start.wait()
        answers.append(
            requests.post(
                f"{small_pool_server}/api/signals/request-analysis/",
                json={"asset": "BTCUSDT", "timeframe": "5m"},
                headers={"Authorization": f"Token {token}"},
                timeout=60,
            )
        )

    threads = [threading.Thread(target=post) for _ in range(CONCURRENT_POSTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    codes = sorted(answer.status_code for answer in answers)
    assert len(answers) == CONCURRENT_POSTS
    assert set(codes) <= {202, 429, 503}, codes
    refused = [answer for answer in answers if answer.status_code in (429, 503)]
    busy = [answer for answer in refused if answer.json().get("code") == "database_busy"]
    assert busy, "the pool limit was never hit"
    for answer in refused:
        assert int(answer.headers["Retry-After"]) >= 1
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.json()["detail"]
    accepted = {answer.json()["correlation_id"] for answer in answers if answer.status_code == 202}
    stored = {str(cid) for cid in AnalysisRequest.objects.values_list("correlation_id", flat=True)}
    assert stored == accepted  # every 202 stored, and no refused request left a row
