"""The WebSocket feed at /ws/signals/, driven through the real ASGI application from
botsinais.asgi, so origin checks, authentication and routing are exercised too.

Embedded mode: the in-memory channel layer. Each test runs one async scenario with
async_to_sync; database work inside a scenario goes through sync_to_async, as in daphne.
"""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from botsinais.asgi import application
from signals import consumers, events, services
from signals.api.serializers import SignalSerializer
from signals.models import AnalysisRequest, AnalysisStatus, Signal, SignalStatus

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/ws/signals/"
ORIGIN = (b"origin", b"http://127.0.0.1")
ENVELOPE_KEYS = {"event_id", "event_type", "timestamp", "correlation_id", "data"}


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    # The in-memory layer outlives a test (and its event loop): every test starts empty.
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def session_cookie(user):
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@pytest.fixture
def token(user):
    return Token.objects.create(user=user).key


def run(scenario):
    async_to_sync(scenario)()


async def connect(*headers, path=PATH, origin=ORIGIN):
    communicator = WebsocketCommunicator(
        application, path, headers=[h for h in (origin, *headers) if h]
    )
    # Not the default 1 s: the handshake looks the user up in a thread, which a loaded machine
    # can delay past that (a refused handshake still answers at once).
    connected, _ = await communicator.connect(timeout=10)
    return communicator, connected


async def connected(*headers, path=PATH):
    communicator, ok = await connect(*headers, path=path)
    assert ok, "handshake refused"
    return communicator


@sync_to_async
def publish_committed(event_type, data, **kwargs):
    with transaction.atomic():
        return events.publish(events.Event(event_type, data, **kwargs))


async def send(communicator, message: dict) -> dict:
    await communicator.send_json_to(message)
    return await communicator.receive_json_from()


def make_signal(asset="BTCUSDT", strategy="mean_reversion", timeframe="5m", **fields) -> Signal:
    created_at = fields.pop("created_at", None)
    candle_time = fields.pop("candle_time", timezone.now().replace(microsecond=0))
    signal = Signal.objects.create(
        asset=asset,
        strategy=strategy,
        timeframe=timeframe,
        candle_time=candle_time,
        direction="long",
        confidence=0.7,
        entry_price=100.0,
        stop_loss=98.0,
        take_profit=104.0,
        **fields,
    )
    if created_at:
        Signal.objects.filter(pk=signal.pk).update(created_at=created_at)
        signal.refresh_from_db()
    return signal


# ---- who may connect ----


def test_session_cookie_connects_into_the_signals_group(session_cookie):
    async def scenario():
        client = await connected(session_cookie)
        await publish_committed("HealthCheck", {"status": "up"})
        event = await client.receive_json_from()
        assert event["event_type"] == "HealthCheck"
        await client.disconnect()

    run(scenario)


def test_api_token_in_the_query_string_connects(token):
    async def scenario():
        client = await connected(path=f"{PATH}?token={token}")
        await publish_committed("HealthCheck", {})
        assert (await client.receive_json_from())["event_type"] == "HealthCheck"
        await client.disconnect()

    run(scenario)


def test_api_token_in_the_authorization_header_connects(token):
    async def scenario():
        client = await connected((b"authorization", f"Token {token}".encode()))
        await client.disconnect()

    run(scenario)


def test_anonymous_handshake_is_refused():
    async def scenario():
        client, ok = await connect()
        assert not ok

    run(scenario)


def test_unknown_token_is_refused_even_with_a_session(session_cookie):
    async def scenario():
        client, ok = await connect(session_cookie, path=f"{PATH}?token=not-a-token")
        assert not ok

    run(scenario)


def test_token_of_an_inactive_user_is_refused(user, token):
    user.is_active = False
    user.save(update_fields=["is_active"])

    async def scenario():
        client, ok = await connect(path=f"{PATH}?token={token}")
        assert not ok

    run(scenario)


def test_foreign_origin_is_refused_even_with_a_session(session_cookie):
    async def scenario():
        client, ok = await connect(session_cookie, origin=(b"origin", b"https://evil.example"))
        assert not ok

    run(scenario)


def test_handshake_without_an_origin_is_refused(token):
    async def scenario():
        client, ok = await connect(path=f"{PATH}?token={token}", origin=None)
        assert not ok

    run(scenario)


def test_only_the_signals_path_is_routed(token):
    async def scenario():
        # The router fails at once; connect() would first wait out its 1 s handshake timeout.
        communicator = WebsocketCommunicator(
            application, f"/ws/other/?token={token}", headers=[ORIGIN]
        )
        with pytest.raises(ValueError, match="No route found"):
            await communicator.wait(timeout=30)

    run(scenario)


# ---- groups ----


def test_join_and_leave_reply_with_the_groups_now_joined(token):
    async def scenario():
        client = await connected(path=f"{PATH}?token={token}")
        joined = await send(client, {"action": "join", "group": "asset.BTCUSDT"})
        assert set(joined) == ENVELOPE_KEYS
        assert joined["event_type"] == "joined"
        assert joined["data"] == {"group": "asset.BTCUSDT", "groups": ["asset.BTCUSDT", "signals"]}
        left = await send(client, {"action": "leave", "group": "signals"})
        assert left["event_type"] == "left"
        assert left["data"]["groups"] == ["asset.BTCUSDT"]
        await client.disconnect()

    run(scenario)


def test_client_that_left_signals_receives_only_its_asset(token):
    async def scenario():
        client = await connected(path=f"{PATH}?token={token}")
        await send(client, {"action": "join", "group": "asset.BTCUSDT"})
        await send(client, {"action": "leave", "group": "signals"})
        await publish_committed("HealthCheck", {})
        await publish_committed("AnalysisCompleted", {}, groups=events.groups_for("ETHUSDT"))
        await publish_committed("AnalysisCompleted", {}, groups=events.groups_for("BTCUSDT"))
        event = await client.receive_json_from()
        assert event["event_type"] == "AnalysisCompleted"
        assert await client.receive_nothing()
        await client.disconnect()

    run(scenario)


def test_event_sent_to_several_joined_groups_arrives_once(token):
    async def scenario():
        client = await connected(path=f"{PATH}?token={token}")
        for group in ("asset.BTCUSDT", "strategy.breakout", "timeframe.1h"):
            await send(client, {"action": "join", "group": group})
        sent = await publish_committed(
            "AnalysisCompleted", {}, groups=events.groups_for("BTCUSDT", "breakout", "1h")
        )
        assert (await client.receive_json_from())["event_id"] == sent["event_id"]
        assert await client.receive_nothing()
        await client.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    "group",
    ["asset.btcusdt", "asset.", "asset.BTC USDT", "timeframe.7m", "strategy.Bad-Name", "x.y", 42],
)
def test_invalid_group_gets_an_error_and_the_connection_stays_open(token, group):
    async def scenario():
        client = await connected(path=f"{PATH}?token={token}")
        for action in ("join", "leave"):
            reply = await send(client, {"action": action, "group": group})
            assert reply["event_type"] == "error"
            assert "invalid group" in reply["data"]["error"]
        assert (await send(client, {"action": "join", "group": "asset.BRK.B"}))["event_type"] == (
            "joined"
        )
        await client.disconnect()

    run(scenario)


def test_a_connection_may_join_a_bounded_number_of_groups(token, monkeypatch):
    monkeypatch.setattr(consumers, "MAX_GROUPS", 2)

    async def scenario():
        client = await connected(path=f"{PATH}?token={token}")
        assert (await send(client, {"action": "join", "group": "asset.A1"}))["event_type"] == (
            "joined"
        )
        reply = await send(client, {"action": "join", "group": "asset.B1"})
        assert "too many groups" in reply["data"]["error"]
        await client.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"text_data": "not json"}, "JSON"),
        ({"bytes_data": b"\x00\x01"}, "JSON"),
        ({"text_data": "[1, 2]"}, "unknown action"),
        ({"text_data": '{"action": "subscribe"}'}, "unknown action"),
        ({"text_data": "{}"}, "unknown action"),
    ],
)
def test_bad_message_gets_an_error_and_the_connection_stays_open(token, frame, message):
    async def scenario():
        client = await connected(path=f"{PATH}?token={token}")
        await client.send_to(**frame)
        reply = await client.receive_json_from()
        assert reply["event_type"] == "error"
        assert message in reply["data"]["error"]
        await publish_committed("HealthCheck", {})
        assert (await client.receive_json_from())["event_type"] == "HealthCheck"
        await client.disconnect()

    run(scenario)


# ---- events ----


def test_signal_generated_envelope_carries_the_rest_representation(token):
    signal = make_signal()
    correlation_id = "0b7f3c9e-8c5e-4a57-9d0b-6a3c1c2d4e5f"

    async def scenario():
        client = await connected(path=f"{PATH}?token={token}")
        await publish_committed(
            "SignalGenerated",
            SignalSerializer(signal).data,
            correlation_id=correlation_id,
            groups=events.groups_for(signal.asset, signal.strategy, signal.timeframe),
        )
        event = await client.receive_json_from()
        assert set(event) == ENVELOPE_KEYS
        assert event["event_type"] == "SignalGenerated"
        assert event["correlation_id"] == correlation_id
        assert datetime.fromisoformat(event["timestamp"]).tzinfo is not None
        assert event["data"] == {**SignalSerializer(signal).data, "id": str(signal.id)}
        await client.disconnect()

    run(scenario)


def test_event_is_sent_only_after_the_transaction_commits(token):
    async def scenario():
        client = await connected(path=f"{PATH}?token={token}")

        @sync_to_async
        def publish_and_look_before_commit():
            with transaction.atomic():
                events.publish(events.Event(events.HEALTH_CHECK, {"n": 1}))
                return async_to_sync(client.receive_nothing)(0.2)

        @sync_to_async
        def publish_and_roll_back():
            with pytest.raises(RuntimeError), transaction.atomic():
                events.publish(events.Event(events.HEALTH_CHECK, {"n": 2}))
                raise RuntimeError("rolled back")

        assert await publish_and_look_before_commit()
        assert (await client.receive_json_from())["data"] == {"n": 1}
        await publish_and_roll_back()
        assert await client.receive_nothing(0.2)
        await client.disconnect()

    run(scenario)


def test_analysis_pushes_its_signals_and_completion_with_its_correlation_id(token, binance):
    async def scenario():
        client = await connected(path=f"{PATH}?token={token}")
        analysis = await sync_to_async(services.request_analysis)(asset="BTCUSDT", timeframe="5m")
        received = [await client.receive_json_from()]
        while received[-1]["event_type"] != "AnalysisCompleted" and len(received) < 10:
            received.append(await client.receive_json_from())
        assert {e["correlation_id"] for e in received} == {str(analysis.correlation_id)}
        kinds = [e["event_type"] for e in received]
        assert kinds[-1] == "AnalysisCompleted"
        assert kinds.count("SignalGenerated") == received[-1]["data"]["signals_generated"] >= 1
        await client.disconnect()

    run(scenario)


def test_channel_layer_that_is_down_is_logged_and_the_analysis_completes(binance, settings, caplog):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    with caplog.at_level(logging.WARNING, logger="signals.events"):
        analysis = services.request_analysis(asset="BTCUSDT", timeframe="5m")
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.COMPLETED
    assert Signal.objects.filter(correlation_id=analysis.correlation_id).count() >= 1
    assert "channel layer unavailable; SignalGenerated" in caplog.text


def test_send_now_reports_a_failing_layer_instead_of_raising(monkeypatch, caplog):
    async def refuse(group, message):
        raise ConnectionError("down")

    monkeypatch.setattr(channel_layers["default"], "group_send", refuse)
    event = events.envelope("HealthCheck", {})
    with caplog.at_level(logging.WARNING, logger="signals.events"):
        assert events.send_now(event, ["signals"]) is False
    assert event["event_id"] in caplog.text


def test_envelope_data_is_made_json_safe():
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    event = events.envelope("X", {"at": moment, "id": Signal().id}, correlation_id=None)
    assert event["data"]["at"] == "2024-05-01T12:00:00Z"
    assert isinstance(event["data"]["id"], str)
    assert event["correlation_id"] is None


def test_groups_for_names_the_groups_of_an_asset_strategy_and_timeframe():
    assert events.groups_for() == ["signals"]
    assert events.groups_for("BTCUSDT", "breakout", "1h") == [
        "signals",
        "asset.BTCUSDT",
        "strategy.breakout",
        "timeframe.1h",
    ]


# ---- catch-up ----


def test_since_returns_what_was_missed_oldest_first(token):
    now = timezone.now()
    make_signal("OLDUSDT", created_at=now - timedelta(hours=2))
    generated = make_signal("BTCUSDT", created_at=now - timedelta(minutes=30))
    closed = make_signal("ETHUSDT", created_at=now - timedelta(hours=3))
    Signal.objects.filter(pk=closed.pk).update(
        status=SignalStatus.CLOSED, result="win", pnl=4.0, closed_at=now - timedelta(minutes=20)
    )
    analysis = AnalysisRequest.objects.create(
        asset="SOLUSDT", timeframe="5m", status=AnalysisStatus.FAILED, error="no candles",
        finished_at=now - timedelta(minutes=10),
    )  # fmt: skip
    after = (now - timedelta(hours=1)).isoformat()

    async def scenario():
        client = await connected(path=f"{PATH}?token={token}")
        await client.send_json_to({"action": "since", "after": after})
        missed = [await client.receive_json_from() for _ in range(3)]
        assert [(e["event_type"], e["data"].get("asset")) for e in missed] == [
            ("SignalGenerated", "BTCUSDT"),
            ("SignalClosed", "ETHUSDT"),
            ("AnalysisFailed", "SOLUSDT"),
        ]
        assert all(set(e) == ENVELOPE_KEYS for e in missed)
        assert missed[0]["data"]["id"] == str(generated.id)
        assert missed[0]["timestamp"] == generated.created_at.isoformat()
        assert missed[1]["data"]["pnl"] == 4.0
        assert missed[2]["correlation_id"] == str(analysis.correlation_id)
        assert missed[2]["data"]["reason"] == "no candles"
        done = await client.receive_json_from()
        assert done["event_type"] == "caught_up"
        assert done["data"]["count"] == 3
        assert done["data"]["truncated"] is False
        await client.disconnect()

    run(scenario)


def test_since_follows_the_groups_the_client_joined(token):
    make_signal("BTCUSDT")
    make_signal("ETHUSDT", strategy="breakout")
    make_signal("SOLUSDT", timeframe="1h")
    after = (timezone.now() - timedelta(minutes=5)).isoformat()

    async def scenario():
        client = await connected(path=f"{PATH}?token={token}")
        await send(client, {"action": "leave", "group": "signals"})
        await send(client, {"action": "join", "group": "asset.BTCUSDT"})
        await send(client, {"action": "join", "group": "timeframe.1h"})
        await client.send_json_to({"action": "since", "after": after})
        assets = {(await client.receive_json_from())["data"]["asset"] for _ in range(2)}
        assert assets == {"BTCUSDT", "SOLUSDT"}
        assert (await client.receive_json_from())["event_type"] == "caught_up"
        await client.disconnect()

    run(scenario)


def test_since_is_cut_short_at_the_limit_and_says_so(token, monkeypatch):
    monkeypatch.setattr(consumers, "CATCH_UP_LIMIT", 2)
    for asset in ("AAUSDT", "BBUSDT", "CCUSDT"):
        make_signal(asset)

    async def scenario():
        client = await connected(path=f"{PATH}?token={token}")
        await client.send_json_to({"action": "since", "after": "2000-01-01T00:00:00"})
        first = [await client.receive_json_from() for _ in range(2)]
        assert [e["data"]["asset"] for e in first] == ["AAUSDT", "BBUSDT"]
        done = await client.receive_json_from()
        assert done["data"] == {"after": "2000-01-01T00:00:00+00:00", "count": 2, "truncated": True}
        await client.disconnect()

    run(scenario)


@pytest.mark.parametrize("after", ["yesterday", "", None, 12])
def test_since_without_a_timestamp_is_an_error(token, after):
    async def scenario():
        client = await connected(path=f"{PATH}?token={token}")
        reply = await send(client, {"action": "since", "after": after})
        assert reply["event_type"] == "error"
        assert "ISO 8601" in reply["data"]["error"]
        await client.disconnect()

    run(scenario)


def test_errors_are_worded_in_the_connections_language(token):
    async def scenario():
        portuguese = await connected(
            (b"accept-language", b"pt-BR,pt;q=0.9"), path=f"{PATH}?token={token}"
        )
        reply = await send(portuguese, {"action": "join", "group": "asset.btcusdt"})
        assert reply["data"]["error"].startswith(
            "grupo inválido 'asset.btcusdt': símbolo de ativo malformado 'btcusdt'"
        )
        reply = await send(portuguese, {"action": "since", "after": "ontem"})
        assert reply["data"]["error"].startswith("'after': Não é um instante em ISO 8601")
        await portuguese.disconnect()

        # The language cookie (the switcher's choice) wins over the browser's language.
        english = await connected(
            (b"accept-language", b"pt-BR"),
            (b"cookie", b"django_language=en"),
            path=f"{PATH}?token={token}",
        )
        reply = await send(english, {"action": "dance"})
        assert reply["data"]["error"] == "unknown action 'dance': use join, leave or since"
        await english.disconnect()

    run(scenario)


def test_an_event_is_forwarded_without_a_database_hop_per_client(token, monkeypatch):
    # Channels closes old database connections, in its one sync thread, before each message it
    # dispatches; an event to many clients would queue that hop once per client.
    hops = []

    async def close_old_connections():
        hops.append(1)

    monkeypatch.setattr("channels.consumer.aclose_old_connections", close_old_connections)

    async def scenario():
        clients = [await connected(path=f"{PATH}?token={token}") for _ in range(3)]
        hops.clear()  # those of the handshakes
        await events.send_to_groups(events.envelope("HealthCheck", {}), [events.ALL_SIGNALS_GROUP])
        received = [await client.receive_json_from() for client in clients]
        assert [event["event_type"] for event in received] == ["HealthCheck"] * 3
        assert not hops
        answer = await send(clients[0], {"action": "join", "group": "asset.BTCUSDT"})
        assert answer["event_type"] == "joined"
        assert hops  # a client's own message still gets it
        for client in clients:
            await client.disconnect()

    run(scenario)
