"""Backtest events reach the user who asked (group user.<id>), through the real ASGI app and
the in-memory layer, and no one else."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework.test import APIClient

from backtests.models import Backtest
from botsinais.asgi import application
from tests.backtests.conftest import REQUEST

ORIGIN = (b"origin", b"http://127.0.0.1")


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def session_header(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()


@pytest.mark.django_db(transaction=True)  # events are pushed on commit
def test_progress_and_completion_go_to_the_user_who_asked_only(
    user, django_user_model, history
):
    other = django_user_model.objects.create_user("other", password="x")
    api = APIClient()
    api.force_authenticate(user)
    my_session, their_session = session_header(user), session_header(other)

    async def scenario():
        mine = WebsocketCommunicator(application, "/ws/signals/", headers=[ORIGIN, my_session])
        theirs = WebsocketCommunicator(application, "/ws/signals/",
                                       headers=[ORIGIN, their_session])
        assert (await mine.connect())[0] and (await theirs.connect())[0]
        response = await sync_to_async(api.post)("/api/backtests/", REQUEST, format="json")
        assert response.status_code == 202
        received = []
        while not received or received[-1]["event_type"] != "BacktestCompleted":
            received.append(await mine.receive_json_from(timeout=5))
        assert await theirs.receive_nothing(0.2)
        await mine.disconnect()
        await theirs.disconnect()
        return response.json()["id"], received

    backtest_id, received = async_to_sync(scenario)()
    backtest = Backtest.objects.get(pk=backtest_id)
    progress = [e for e in received if e["event_type"] == "BacktestProgress"]
    assert progress and all(e["data"]["id"] == backtest_id for e in progress)
    assert [e["data"]["progress"] for e in progress] == sorted(
        e["data"]["progress"] for e in progress)
    completed = received[-1]
    assert set(completed) == {"event_id", "event_type", "timestamp", "correlation_id", "data"}
    assert completed["data"] == {"id": backtest_id, "metrics": backtest.metrics}


@pytest.mark.django_db(transaction=True)
def test_a_cancel_is_announced_as_failed_with_status_cancelled(user):
    from backtests.models import BacktestStatus
    from tests.backtests.test_api import make_backtest

    backtest = make_backtest(user)
    api = APIClient()
    api.force_authenticate(user)
    my_session = session_header(user)

    async def scenario():
        mine = WebsocketCommunicator(application, "/ws/signals/", headers=[ORIGIN, my_session])
        assert (await mine.connect())[0]
        response = await sync_to_async(api.delete)(f"/api/backtests/{backtest.pk}/")
        assert response.status_code == 202
        event = await mine.receive_json_from(timeout=5)
        await mine.disconnect()
        return event

    event = async_to_sync(scenario)()
    assert event["event_type"] == "BacktestFailed"
    assert event["data"] == {"id": backtest.pk, "error": "cancelled by trader",
                             "status": BacktestStatus.CANCELLED}
