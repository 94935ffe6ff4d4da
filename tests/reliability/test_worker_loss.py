"""A worker that dies mid-analysis: the request still ends, and one that kills its worker
every time ends failed after ANALYSIS_MAX_ATTEMPTS instead of being redelivered forever."""

import os
import signal

import pytest

from signals.models import AnalysisRequest
from tests.conftest import wait_until
from tests.reliability.conftest import wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def request(api_client, asset: str) -> str:
    response = api_client.post("/api/signals/request-analysis/", {"asset": asset}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["correlation_id"]


def test_worker_killed_mid_analysis_ends_completed_on_the_next_worker(
    api_client, upstream, worker, workers
):
    upstream.add_symbol("KILLUSDT")
    stalled = upstream.hold("KILLUSDT")
    correlation_id = request(api_client, "KILLUSDT")
    wait_for_status(correlation_id, "running")

    worker.kill()
    stalled.set()
    workers.running()  # a new worker takes the message the dead one never acknowledged

    analysis = wait_for_status(correlation_id, "completed", "failed")
    assert analysis.status == "completed", analysis.error
    assert analysis.attempts == 2


def test_request_that_kills_its_worker_every_time_fails_after_max_attempts(
    api_client, upstream, worker
):
    upstream.add_symbol("POISONUSDT")
    upstream.hold("POISONUSDT")  # never answers: each attempt is running when its process dies
    correlation_id = request(api_client, "POISONUSDT")
    killed = set()

    def kill_each_attempt():
        analysis = AnalysisRequest.objects.get(correlation_id=correlation_id)
        if analysis.status == "running" and analysis.attempts not in killed:
            killed.add(analysis.attempts)
            for pid in worker.children():  # the pool process running it, as an OOM kill would
                os.kill(pid, signal.SIGKILL)
        return analysis if analysis.is_finished else None

    analysis = wait_until(kill_each_attempt, timeout=120, interval=0.1)
    assert analysis.status == "failed"
    assert analysis.attempts == 3
    assert analysis.error.startswith("gave up after 3 attempts; last: attempt 3 did not end")
    assert killed == {1, 2, 3}
