"""Realtime on the full stack: a WebSocket client on a daphne server, the real Celery worker,
PostgreSQL and channels-redis between them."""

import json
import logging
import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from rest_framework.authtoken.models import Token
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from signals import services
from signals.models import AnalysisRequest, AnalysisStatus, Signal

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(binance, celery_worker_process, daphne_server):
    """The daphne server's URL; the worker and the server read the same Binance stand-in."""
    return daphne_server


@pytest.fixture
def token(user):
    return Token.objects.create(user=user).key


def ws_url(base: str, token: str | None = None) -> str:
    return base.replace("http://", "ws://") + "/ws/signals/" + (f"?token={token}" if token else "")


def receive_until(ws, predicate, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        event = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if predicate(event):
            return event


def test_worker_signal_reaches_a_websocket_client_with_its_correlation_id(stack, token):
    with connect(ws_url(stack, token), origin=stack, open_timeout=10) as ws:
        response = requests.post(
            f"{stack}/api/signals/request-analysis/",
            json={"asset": "BTCUSDT", "timeframe": "5m"},
            headers={"Authorization": f"Token {token}"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        correlation_id = response.json()["correlation_id"]

        def ours(event_type):
            return lambda e: e["event_type"] == event_type and e["correlation_id"] == correlation_id

        generated = receive_until(ws, ours("SignalGenerated"))
        completed = receive_until(ws, ours("AnalysisCompleted"))

    assert set(generated) == {"event_id", "event_type", "timestamp", "correlation_id", "data"}
    stored = requests.get(
        f"{stack}/api/signals/{generated['data']['id']}/",
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    ).json()
    assert generated["data"] == stored
    assert (
        completed["data"]["signals_generated"]
        == Signal.objects.filter(correlation_id=correlation_id).count()
    )


def test_daphne_refuses_anonymous_and_foreign_origin_handshakes(stack, token):
    with pytest.raises(InvalidStatus):
        connect(ws_url(stack), origin=stack, open_timeout=10)
    with pytest.raises(InvalidStatus):
        connect(ws_url(stack, token), origin="https://evil.example", open_timeout=10)


def test_session_cookie_connects_on_daphne(stack, user):
    session = requests.Session()
    login = session.get(f"{stack}/accounts/login/", timeout=10)
    assert login.status_code == 200
    session.post(
        f"{stack}/accounts/login/",
        data={"username": "trader", "password": "s3cret-pass"},
        headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{stack}/"},
        timeout=10,
    )
    cookie = f"sessionid={session.cookies['sessionid']}"
    with connect(ws_url(stack), origin=stack, additional_headers={"Cookie": cookie}) as ws:
        ws.send(json.dumps({"action": "join", "group": "asset.BTCUSDT"}))
        assert json.loads(ws.recv(timeout=10))["event_type"] == "joined"


def test_channel_layer_down_does_not_fail_the_analysis_and_since_recovers_the_signal(
    stack, token, settings, caplog
):
    # This process pushes through a channel layer on a closed port; daphne's layer still works.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    before = timezone.now() - timedelta(seconds=1)
    analysis = AnalysisRequest.objects.create(asset="BTCUSDT", timeframe="5m")
    with caplog.at_level(logging.WARNING, logger="signals.events"):
        services.run_analysis(str(analysis.correlation_id))
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.COMPLETED, analysis.error
    assert analysis.signals_generated >= 1
    assert "channel layer unavailable" in caplog.text

    with connect(ws_url(stack, token), origin=stack, open_timeout=10) as ws:
        ws.send(json.dumps({"action": "since", "after": before.isoformat()}))
        missed = []
        while (event := json.loads(ws.recv(timeout=10)))["event_type"] != "caught_up":
            missed.append(event)
    generated = [e for e in missed if e["event_type"] == "SignalGenerated"]
    assert len(generated) == analysis.signals_generated
    assert {e["correlation_id"] for e in generated} == {str(analysis.correlation_id)}
    assert any(e["event_type"] == "AnalysisCompleted" for e in missed)
