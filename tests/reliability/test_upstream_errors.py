"""A rate limit or an outage of the market data source is retried; a refusal is final."""

import pytest

from signals.models import AnalysisRequest
from tests.conftest import wait_until
from tests.reliability.conftest import binance_error, rate_limited, server_error, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def request(api_client, asset: str) -> str:
    response = api_client.post("/api/signals/request-analysis/", {"asset": asset}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["correlation_id"]


def test_rate_limited_upstream_is_retried_after_retry_after_then_completes(
    api_client, upstream, worker
):
    upstream.add_symbol("LIMITUSDT")
    # Binance's collector waits out one short Retry-After itself; a second 429 is the task's.
    upstream.answer_first("LIMITUSDT", rate_limited(1), rate_limited(1))
    correlation_id = request(api_client, "LIMITUSDT")

    def waiting_to_retry():
        analysis = AnalysisRequest.objects.get(correlation_id=correlation_id)
        between_attempts = analysis.status == "pending" and analysis.attempts >= 1
        return analysis if between_attempts or analysis.is_finished else None

    retrying = wait_until(waiting_to_retry, timeout=60, interval=0.05)
    assert retrying.status == "pending", retrying.error
    assert retrying.attempts == 1
    assert "RateLimited" in retrying.error and "retrying in" in retrying.error

    analysis = wait_for_status(correlation_id, "completed", "failed")
    assert analysis.status == "completed", analysis.error
    assert analysis.attempts == 2
    assert upstream.requests["LIMITUSDT"] == 3


def test_upstream_outage_is_retried_then_completes(api_client, upstream, worker):
    upstream.add_symbol("OUTAGEUSDT")
    # The HTTP session retries a 5xx three times itself; all four failing is the task's.
    upstream.answer_first("OUTAGEUSDT", *(server_error(503) for _ in range(4)))
    correlation_id = request(api_client, "OUTAGEUSDT")

    analysis = wait_for_status(correlation_id, "completed", "failed")
    assert analysis.status == "completed", analysis.error
    assert analysis.attempts == 2
    assert upstream.requests["OUTAGEUSDT"] == 5


def test_upstream_refusal_fails_at_once(api_client, upstream, worker):
    upstream.answer_first("NOPEUSDT", binance_error(400, -1121, "Invalid symbol."))
    correlation_id = request(api_client, "NOPEUSDT")

    analysis = wait_for_status(correlation_id, "completed", "failed")
    assert analysis.status == "failed"
    assert analysis.attempts == 1
    assert "does not list NOPEUSDT" in analysis.error
    assert upstream.requests["NOPEUSDT"] == 1
