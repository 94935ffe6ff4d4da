"""Every API error is JSON naming the field (or a detail) and the reason, whatever the input and
whether DEBUG is on or off: out-of-range timestamps, deep JSON, oversized bodies, unknown URLs,
unhandled exceptions. And the WebSocket answers a bad `since` with an error, staying open."""

import json
from datetime import timedelta, timezone

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import include, path
from rest_framework.authtoken.models import Token

from botsinais.asgi import application
from tests.conftest import make_signal

pytestmark = pytest.mark.django_db(transaction=True)

# Valid for Python (an offset under 24 h) but refused by PostgreSQL, or overflowing when
# converted to UTC or moved by the default 30-day period.
OUT_OF_RANGE = [
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+01:00",
    "0001-01-02T00:00:00Z",
]


def boom(request):
    raise RuntimeError("a bug")


# This module is also the URLconf of the tests marked urls(__name__): the API plus a view
# with a bug in it.
urlpatterns = [path("api/boom/", boom), path("", include("botsinais.urls"))]


def assert_json_error(response, status: int, field: str = "detail") -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert field in body, body
    return body


def nested(depth: int) -> str:
    return '{"username": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_out_of_range_created_after_is_400_naming_the_field(api_client, value):
    response = api_client.get("/api/signals/", {"created_after": value})
    body = assert_json_error(response, 400, "created_after")
    assert "range" in str(body["created_after"])


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("field", ["from", "to"])
def test_out_of_range_performance_period_is_400_naming_the_field(api_client, field, value):
    response = api_client.get("/api/signals/performance/", {field: value})
    assert_json_error(response, 400, field)


def test_any_utc_offset_python_reads_is_converted_to_utc(api_client):
    signal = make_signal()
    far_east = timezone(timedelta(hours=23, minutes=59))

    def listed(after) -> bool:
        response = api_client.get("/api/signals/", {"created_after": after.isoformat()})
        assert response.status_code == 200, response.content
        return [s["id"] for s in response.json()["results"]] == [str(signal.id)]

    assert "+23:59" in (signal.created_at - timedelta(hours=1)).astimezone(far_east).isoformat()
    assert listed((signal.created_at - timedelta(hours=1)).astimezone(far_east))
    assert not listed((signal.created_at + timedelta(hours=1)).astimezone(far_east))


@pytest.mark.parametrize("depth", [1000, 100])
def test_deeply_nested_json_to_the_anonymous_login_is_400(anon_client, depth):
    response = anon_client.post(
        "/api/auth/token/", nested(depth), content_type="application/json"
    )
    body = assert_json_error(response, 400)
    assert "nested" in body["detail"]


@pytest.mark.parametrize("url", ["/api/signals/request-analysis/", "/api/watchlist/"])
def test_deeply_nested_json_to_any_endpoint_is_400(staff_user, url):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(staff_user)
    response = client.post(url, nested(1000), content_type="application/json")
    assert "nested" in assert_json_error(response, 400)["detail"]


def test_reasonably_nested_json_is_still_read(api_client):
    body = json.dumps({"asset": "BTCUSDT", "extra": [[[{"a": [1]}]]]})
    response = api_client.post(
        "/api/signals/request-analysis/", body, content_type="application/json"
    )
    assert response.status_code == 202, response.content


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize("url", ["/api/auth/token/", "/api/signals/request-analysis/"])
def test_a_body_over_the_limit_is_413(api_client, settings, debug, url):
    settings.DEBUG = debug
    body = json.dumps({"asset": "A" * (12 * 1024 * 1024)})
    response = api_client.post(url, body, content_type="application/json")
    body = assert_json_error(response, 413)
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in body["detail"]


@pytest.mark.parametrize("debug", [True, False])
def test_unknown_api_url_is_a_json_404(api_client, settings, debug):
    settings.DEBUG = debug
    assert_json_error(api_client.get("/api/no-such-thing/"), 404)


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("debug", [True, False])
def test_an_unhandled_exception_is_a_json_500(settings, debug):
    settings.DEBUG = debug
    response = Client(raise_request_exception=False).get("/api/boom/")
    assert_json_error(response, 500)
    assert "a bug" not in response.content.decode()  # no internals leak out


def test_pages_outside_the_api_keep_their_html_errors(client, settings):
    settings.DEBUG = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# ---- the WebSocket catch-up reads timestamps the same way ----


@pytest.fixture
def ws_token(user):
    channel_layers.backends.clear()  # the in-memory layer outlives a test
    yield Token.objects.create(user=user).key
    channel_layers.backends.clear()


@pytest.mark.parametrize("after", OUT_OF_RANGE)
def test_since_out_of_range_is_an_error_and_the_socket_stays_open(ws_token, after):
    async def scenario():
        client = WebsocketCommunicator(
            application, f"/ws/signals/?token={ws_token}", headers=[(b"origin", b"http://127.0.0.1")]
        )
        connected, _ = await client.connect()
        assert connected
        await client.send_json_to({"action": "since", "after": after})
        reply = await client.receive_json_from()
        assert reply["event_type"] == "error"
        assert "range" in reply["data"]["error"]
        await client.send_json_to({"action": "join", "group": "asset.BTCUSDT"})
        assert (await client.receive_json_from())["event_type"] == "joined"
        await client.disconnect()

    async_to_sync(scenario)()


# ---- on PostgreSQL, which refuses offsets beyond 15:59 ----


@pytest.mark.integration
def test_offset_postgresql_refuses_is_read_as_utc(api_client, ws_token):
    make_signal()
    response = api_client.get("/api/signals/", {"created_after": "2024-01-01T00:00:00+23:59"})
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 1

    async def scenario():
        client = WebsocketCommunicator(
            application, f"/ws/signals/?token={ws_token}", headers=[(b"origin", b"http://127.0.0.1")]
        )
        assert (await client.connect())[0]
        await client.send_json_to({"action": "since", "after": "2024-01-01T00:00:00+23:59"})
        events = [await client.receive_json_from() for _ in range(2)]
        assert [e["event_type"] for e in events] == ["SignalGenerated", "caught_up"]
        assert events[1]["data"]["after"] == "2023-12-31T00:01:00+00:00"
        await client.disconnect()

    async_to_sync(scenario)()
