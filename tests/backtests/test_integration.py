"""A backtest on the full stack: asked over HTTP from the web server, run by the real Celery worker
on the backtests queue, its progress and completion pushed over a real WebSocket."""

import json
import os
import time

import pytest
import requests
from django.conf import settings
from rest_framework.authtoken.models import Token
from websockets.sync.client import connect

from backtests.models import Backtest, BacktestStatus
from tests.backtests.conftest import REQUEST

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(history, celery_worker_process, web_server):
    """The web server's URL; the worker and the server read the same Binance stand-in."""
    return web_server


def test_a_worker_backtest_pushes_progress_and_completion_to_its_user(stack, user):
    token = Token.objects.create(user=user).key
    headers = {"Authorization": f"Token {token}"}
    ws_url = stack.replace("http://", "ws://") + f"/ws/signals/?token={token}"
    with connect(ws_url, origin=stack, open_timeout=10) as ws:
        response = requests.post(f"{stack}/api/backtests/", json=REQUEST, headers=headers,
                                 timeout=10)
        assert response.status_code == 202, response.text
        backtest_id = response.json()["id"]
        received = []
        deadline = time.monotonic() + 60
        while not received or received[-1]["event_type"] != "BacktestCompleted":
            event = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if event["event_type"].startswith("Backtest"):
                assert event["event_type"] != "BacktestFailed", event
                received.append(event)

    progress = [e["data"]["progress"] for e in received if e["event_type"] == "BacktestProgress"]
    assert progress and progress == sorted(progress) and progress[0] == 0.0
    assert all(e["data"]["id"] == backtest_id for e in received)
    backtest = Backtest.objects.get(pk=backtest_id)
    assert backtest.status == BacktestStatus.COMPLETED and backtest.candles > 0
    assert received[-1]["data"]["metrics"] == backtest.metrics
    detail = requests.get(f"{stack}{response.json()['status_url']}", headers=headers,
                          timeout=10).json()
    assert detail["status"] == "completed" and detail["trade_count"] == backtest.trade_count


def test_a_backtest_the_broker_does_not_take_is_failed_with_that_reason(api_client, binance):
    from botsinais.celery import app
    from tests.conftest import free_port
    from tests.reliability.conftest import use_broker

    previous = os.environ.get("CELERY_BROKER_URL", settings.CELERY_BROKER_URL)
    use_broker(app, f"amqp://guest:guest@127.0.0.1:{free_port()}//")  # nothing listens there
    try:
        response = api_client.post("/api/backtests/", REQUEST, format="json")
    finally:
        use_broker(app, previous)
    assert response.status_code == 202, response.content
    backtest = Backtest.objects.get(pk=response.json()["id"])
    assert backtest.status == BacktestStatus.FAILED
    assert "the task queue did not take it" in backtest.error
