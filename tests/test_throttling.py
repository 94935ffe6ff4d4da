"""Rate limits: password guesses at /api/auth/token/ per client address and username, and
analysis requests per user; an exceeded limit is a 429 with Retry-After. Every other test runs
with limits too high to reach (tests/conftest.py); these set their own."""

import uuid

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from signals.models import AnalysisRequest
from tests.conftest import settings_from_environment

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def rates(settings):
    """Sets the given scopes' rates; the counts start from zero."""

    def set_rates(**scoped):
        rest = settings.REST_FRAMEWORK
        settings.REST_FRAMEWORK = {
            **rest,
            "DEFAULT_THROTTLE_RATES": {**rest["DEFAULT_THROTTLE_RATES"], **scoped},
        }
        if not settings.FULL_STACK:
            cache.clear()  # the local-memory cache of this process only

    return set_rates


def guess(username: str, address: str = "10.0.0.1"):
    client = APIClient(REMOTE_ADDR=address)
    return client.post("/api/auth/token/", {"username": username, "password": "wrong"})


def request_analysis(client):
    return client.post("/api/signals/request-analysis/", {"asset": "ETHUSDT"}, format="json")


def assert_throttled(response):
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) > 0
    assert "throttled" in response.json()["detail"]


def test_password_guesses_beyond_the_rate_are_429_with_retry_after(rates, user):
    rates(login="3/minute")
    assert [guess("trader").status_code for _ in range(3)] == [400, 400, 400]
    assert_throttled(guess("trader"))
    # The right password too: the limit is on attempts.
    client = APIClient(REMOTE_ADDR="10.0.0.1")
    right = {"username": "trader", "password": "s3cret-pass"}
    assert_throttled(client.post("/api/auth/token/", right))


def test_login_limit_is_per_address_and_username(rates, user):
    rates(login="2/minute")
    for _ in range(2):
        guess("trader")
    assert guess("trader").status_code == 429
    assert guess("other-user").status_code == 400
    assert guess("trader", address="10.0.0.2").status_code == 400


def test_analysis_requests_beyond_the_rate_are_429_and_store_nothing(rates, api_client):
    rates(analysis="2/minute")
    assert [request_analysis(api_client).status_code for _ in range(2)] == [202, 202]
    assert_throttled(request_analysis(api_client))
    assert AnalysisRequest.objects.count() == 2
    # Reading is not throttled.
    assert api_client.get("/api/analyses/").status_code == 200


def test_analysis_limit_is_per_user(rates, api_client, staff_user):
    rates(analysis="1/minute")
    assert request_analysis(api_client).status_code == 202
    assert request_analysis(api_client).status_code == 429
    other = APIClient()
    other.force_authenticate(staff_user)
    assert request_analysis(other).status_code == 202


def test_every_scope_has_a_rate(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert set(rates) == {"login", "analysis", "backtest", "retrain", "ingest"}


def test_rates_come_from_the_environment_and_a_bad_one_stops_start_up():
    rates = settings_from_environment(THROTTLE_BACKTEST="3/hour").REST_FRAMEWORK
    assert rates["DEFAULT_THROTTLE_RATES"]["backtest"] == "3/hour"
    with pytest.raises(ImproperlyConfigured, match="THROTTLE_BACKTEST"):
        settings_from_environment(THROTTLE_BACKTEST="lots")


@pytest.mark.integration
def test_login_limit_is_kept_in_redis_on_the_full_stack(rates, settings):
    rates(login="2/minute")
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    username, address = f"nobody-{uuid.uuid4().hex[:8]}", "10.9.9.9"
    assert [guess(username, address).status_code for _ in range(2)] == [400, 400]
    assert_throttled(guess(username, address))
