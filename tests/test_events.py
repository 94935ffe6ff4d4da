"""Realtime events come from one module of typed builders, and every ending is announced,
an admin cancel included (through the real ASGI application and the in-memory layer)."""

import re
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from botsinais.asgi import application
from signals import events
from signals.models import Signal, SignalStatus

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = (b"origin", b"http://127.0.0.1")


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def make_signal(asset: str, status=SignalStatus.ACTIVE, **fields) -> Signal:
    return Signal.objects.create(
        asset=asset, strategy="breakout", timeframe="5m", direction="long", confidence=0.6,
        entry_price=100.0, stop_loss=95.0, take_profit=110.0, status=status,
        candle_time=timezone.now().replace(microsecond=0), **fields,
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)  # events are pushed on commit
def test_admin_cancel_announces_a_signal_closed_for_each_cancelled_signal(admin_user):
    first, second = make_signal("BTCUSDT"), make_signal("ETHUSDT")
    ended = make_signal("SOLUSDT", status=SignalStatus.CLOSED, result="win", pnl=3.0)
    admin = Client()
    admin.force_login(admin_user)
    session = (b"cookie", f"sessionid={admin.cookies['sessionid'].value}".encode())

    async def scenario():
        client = WebsocketCommunicator(application, "/ws/signals/", headers=[ORIGIN, session])
        assert (await client.connect())[0]
        response = await sync_to_async(admin.post)(
            "/admin/signals/signal/",
            {
                "action": "cancel_active",
                "_selected_action": [str(first.pk), str(second.pk), str(ended.pk)],
            },
        )
        assert response.status_code == 302
        received = [await client.receive_json_from() for _ in range(2)]
        assert await client.receive_nothing(0.3)
        await client.disconnect()
        return received

    received = async_to_sync(scenario)()
    assert {e["event_type"] for e in received} == {events.SIGNAL_CLOSED}
    assert {e["data"]["id"] for e in received} == {str(first.pk), str(second.pk)}
    assert {e["data"]["status"] for e in received} == {SignalStatus.CANCELLED}
    assert all(e["data"]["closed_at"] for e in received)


# Event names appear once, as constants of signals/events.py; the browser client (JS) and the
# tests, which check the wire protocol, spell them out.
NAMES = "|".join(re.escape(name) for name in events.EVENT_TYPES)
EVENT_NAME = re.compile(rf"""["']({NAMES})["']""")


def test_event_names_are_written_only_in_the_events_module():
    sources = [
        path
        for folder in ("botsinais", "signals", "market", "strategies", "collectors", "bench")
        for path in (ROOT / folder).rglob("*.py")
    ]
    bare = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sources
        if path != ROOT / "signals" / "events.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if EVENT_NAME.search(line)
    ]
    assert bare == []


def test_each_builder_names_its_event_and_its_groups():
    signal = Signal(
        asset="BTCUSDT", strategy="breakout", timeframe="1h", direction="long", confidence=0.5,
        entry_price=100.0, stop_loss=95.0, take_profit=110.0, candle_time=timezone.now(),
    )  # fmt: skip
    assert events.signal_generated(signal).event_type == events.SIGNAL_GENERATED
    closed = events.signal_closed(signal)
    assert closed.event_type == events.SIGNAL_CLOSED
    assert closed.groups == ["signals", "asset.BTCUSDT", "strategy.breakout", "timeframe.1h"]
    beat = events.health_check("worker", timezone.now()).envelope()
    assert (beat["event_type"], beat["data"]["component"]) == (events.HEALTH_CHECK, "worker")
