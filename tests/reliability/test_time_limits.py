"""Every task has time limits: an analysis past its soft one fails with the reason."""

import pytest

from signals import tasks
from signals.models import AnalysisRequest
from tests.reliability.conftest import wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_analysis_past_its_soft_time_limit_fails_with_the_reason(upstream, worker):
    upstream.add_symbol("SLOWUSDT")
    upstream.hold("SLOWUSDT")  # answers only after the test: longer than the limit
    analysis = AnalysisRequest.objects.create(asset="SLOWUSDT", timeframe="5m")

    # A message may carry its own limits (the platform's are the worker's TASK_*_TIME_LIMIT);
    # a short one here keeps the test short.
    tasks.run_analysis.apply_async(
        (str(analysis.correlation_id),), soft_time_limit=3, time_limit=30
    )

    analysis = wait_for_status(analysis.correlation_id, "completed", "failed")
    assert analysis.status == "failed"
    assert analysis.error == "did not finish within its soft time limit"
    assert analysis.attempts == 1
