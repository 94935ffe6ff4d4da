"""Accepted means it ends: a request accepted while the broker is down runs once it is back."""

import json
import re

import pytest
from django.conf import settings

from signals import services, tasks
from signals.models import AnalysisRequest
from tests.reliability.conftest import wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_request_accepted_while_the_broker_is_down_ends_once_it_is_back(
    api_client, rabbit_node, upstream, worker
):
    upstream.add_symbol("DOWNUSDT")
    rabbit_node.stop_app()
    try:
        response = api_client.post(
            "/api/signals/request-analysis/", {"asset": "DOWNUSDT"}, format="json"
        )
        assert response.status_code == 202, response.content
        correlation_id = response.json()["correlation_id"]
        assert AnalysisRequest.objects.get(correlation_id=correlation_id).status == "pending"
    finally:
        rabbit_node.start_app()

    # The scheduled sweep, as beat sends it, republishes the request whose message was lost
    # (the worker's ANALYSIS_REDISPATCH_AFTER is 1 s).
    tasks.sweep_analysis_requests.delay()
    analysis = wait_for_status(correlation_id, "completed", "failed")
    assert analysis.status == "completed", analysis.error
    assert analysis.attempts == 1
    assert analysis.signals_generated >= 1


def test_a_message_the_broker_refuses_is_known_and_sent_again(rabbit_node, upstream, worker):
    """Publisher confirms: a nacked message is reported, not silently lost."""
    upstream.add_symbol("NACKUSDT")
    analysis = AnalysisRequest.objects.create(asset="NACKUSDT", timeframe="5m")
    queue = settings.TASK_QUEUE_NAMES["analysis"]
    full = json.dumps({"max-length": 0, "overflow": "reject-publish"})
    rabbit_node.ctl("set_policy", "--apply-to", "queues", "full", f"^{re.escape(queue)}$", full)
    try:
        assert not services.dispatch_analysis(str(analysis.correlation_id))
    finally:
        rabbit_node.ctl("clear_policy", "full")

    assert services.dispatch_analysis(str(analysis.correlation_id))
    analysis = wait_for_status(analysis.correlation_id, "completed", "failed")
    assert analysis.status == "completed", analysis.error
