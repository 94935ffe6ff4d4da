"""Every task has time limits: an analysis past the soft one fails with the reason."""

import pytest

from tests.reliability.conftest import wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_analysis_past_the_soft_time_limit_fails_with_the_reason(
    api_client, upstream, worker
):
    upstream.add_symbol("SLOWUSDT")
    upstream.hold("SLOWUSDT")  # answers only after the test: longer than the worker's limits
    response = api_client.post(
        "/api/signals/request-analysis/", {"asset": "SLOWUSDT"}, format="json"
    )
    correlation_id = response.json()["correlation_id"]

    analysis = wait_for_status(correlation_id, "completed", "failed")
    assert analysis.status == "failed"
    assert analysis.error == "did not finish within the time limit of 8 s"
    assert analysis.attempts == 1
