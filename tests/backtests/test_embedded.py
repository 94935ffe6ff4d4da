"""Embedded (EMBEDDED_WORKER): a backtest runs in-process after the 202, and a cancel while it
runs stops it at its next progress step."""

import threading

import pandas as pd
import pytest
from channels.layers import channel_layers

from backtests.models import Backtest, BacktestStatus
from botsinais import embedded
from tests.backtests.conftest import END, REQUEST
from tests.conftest import wait_until
from tests.fake_binance import INTERVAL_MS, klines_handler, oversold_candles

pytestmark = pytest.mark.django_db(transaction=True)  # the task runs in another thread


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def held_binance(httpserver, settings):
    """The Binance stand-in with BTCUSDT 1h history, answering only once the test says so."""
    answer = threading.Event()
    frame = oversold_candles(INTERVAL_MS["1h"], bars=24 * 30, now=pd.Timestamp(END))
    serve = klines_handler({("BTCUSDT", "1h"): frame})

    def held(request):
        answer.wait(15)
        return serve(request)

    httpserver.expect_request("/api/v3/klines").respond_with_handler(held)
    settings.MARKET_DATA_MODE = "live"
    settings.BINANCE_BASE_URL = httpserver.url_for("").rstrip("/")
    settings.EMBEDDED_WORKER = True
    yield answer
    answer.set()
    embedded.stop()


def status_of(api_client, backtest_id: int) -> dict:
    return api_client.get(f"/api/backtests/{backtest_id}/").json()


def test_a_backtest_runs_after_the_response_and_completes(held_binance, api_client):
    response = api_client.post("/api/backtests/", REQUEST, format="json")
    assert response.status_code == 202
    backtest_id = response.json()["id"]
    assert status_of(api_client, backtest_id)["status"] in ("queued", "running")

    held_binance.set()
    wait_until(lambda: status_of(api_client, backtest_id)["status"] == "completed", timeout=30)
    assert status_of(api_client, backtest_id)["trade_count"] >= 1


def test_a_cancel_while_running_stops_it_at_its_next_progress_step(held_binance, api_client):
    backtest_id = api_client.post("/api/backtests/", REQUEST, format="json").json()["id"]
    # Running: claimed, and held in its candle fetch.
    wait_until(lambda: status_of(api_client, backtest_id)["status"] == "running", timeout=30)
    cancelled = api_client.delete(f"/api/backtests/{backtest_id}/")
    assert cancelled.status_code == 202

    held_binance.set()
    embedded.stop()  # waits for the task to return
    backtest = Backtest.objects.get(pk=backtest_id)
    assert backtest.status == BacktestStatus.CANCELLED
    assert backtest.metrics is None and backtest.trades_blob is None
    assert backtest.error == "cancelled by trader"
