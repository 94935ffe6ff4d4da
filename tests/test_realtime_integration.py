"""Realtime on the full stack: a WebSocket client on the web server (uvicorn), the real Celery
worker, PostgreSQL and channels-redis between them."""

import asyncio
import json
import logging
import time
import uuid
from datetime import timedelta

import pytest
import redis
import requests
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework.authtoken.models import Token
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from botsinais.asgi import application
from signals import events, services
from signals.models import AnalysisRequest, AnalysisStatus, Signal

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(binance, celery_worker_process, web_server):
    """The web server's URL; the worker and the server read the same Binance stand-in."""
    return web_server


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


def test_web_server_refuses_anonymous_and_foreign_origin_handshakes(stack, token):
    with pytest.raises(InvalidStatus):
        connect(ws_url(stack), origin=stack, open_timeout=10)
    with pytest.raises(InvalidStatus):
        connect(ws_url(stack, token), origin="https://evil.example", open_timeout=10)


def test_session_cookie_connects_on_the_web_server(stack, user):
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
    # This process pushes through a channel layer on a closed port; the server's layer still works.
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


def test_a_client_of_a_stopped_server_leaves_its_groups_and_a_live_one_stays(settings, token):
    prefix = f"test-expiry-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [settings.REDIS_URL], "group_expiry": 2, "prefix": prefix},
        }
    }
    members_key = f"{prefix}:group:{events.ALL_SIGNALS_GROUP}"

    async def scenario():
        layer = get_channel_layer()
        # A client of a web process that died: in the group, never renewed.
        stopped = await layer.new_channel()
        await layer.group_add(events.ALL_SIGNALS_GROUP, stopped)
        live = WebsocketCommunicator(
            application, f"/ws/signals/?token={token}", headers=[(b"origin", b"http://127.0.0.1")]
        )
        assert (await live.connect())[0]
        await asyncio.sleep(3)  # past group_expiry: the live consumer has renewed, twice
        await events.send_to_groups(events.envelope("HealthCheck", {}), [events.ALL_SIGNALS_GROUP])
        received = await live.receive_json_from(timeout=5)
        # The send dropped the stale member: only the live client is left in the group.
        members = redis.Redis.from_url(settings.REDIS_URL).zrange(members_key, 0, -1)
        await live.disconnect()
        return received, [member.decode() for member in members], stopped

    try:
        received, members, stopped = async_to_sync(scenario)()
    finally:
        channel_layers.backends.clear()
    assert received["event_type"] == "HealthCheck"
    assert len(members) == 1 and members != [stopped]


def test_an_idle_consumer_keeps_waiting_for_its_next_message(settings):
    # The core layer (CHANNEL_LAYER=core) blocks on Redis for brpop_timeout at a time; a read
    # timeout no longer than that would end the wait with an error, and a consumer whose
    # receive fails drops its socket. The pub/sub layer polls every 0.1 s instead.
    settings.CHANNEL_LAYERS = {
        "default": {
            **settings.CHANNEL_LAYERS["default"],
            "BACKEND": "channels_redis.core.RedisChannelLayer",
        }
    }
    channel_layers.backends.clear()

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        waiting = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(layer.brpop_timeout + 2)
        assert not waiting.done(), waiting.exception()
        await layer.send(channel, {"type": "health.ping"})
        return await asyncio.wait_for(waiting, 5)

    try:
        assert async_to_sync(scenario)() == {"type": "health.ping"}
    finally:
        channel_layers.backends.clear()
