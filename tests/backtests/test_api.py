"""/api/backtests/: bad input, a run to completion (eager), ownership, cancel, trades pages."""

import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from backtests import services
from backtests.models import Backtest, BacktestStatus, TradeTable
from market import store
from strategies.backtest import run_backtest
from strategies.mean_reversion import MeanReversion
from tests.backtests.conftest import END, REQUEST, START
from tests.fake_binance import INTERVAL_MS, oversold_candles

pytestmark = pytest.mark.django_db


def client_of(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def make_backtest(user, **fields) -> Backtest:
    values = {"strategy": "mean_reversion", "asset": "BTCUSDT", "timeframe": "1h",
              "start": pd.Timestamp(START), "end": pd.Timestamp(END), "fee_percent": 0.1,
              "requested_by": user, **fields}
    return Backtest.objects.create(**values)


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"strategy": "astrology"}, "strategy", "unknown strategy"),
        ({"strategy": None}, "strategy", "may not be null"),
        ({"asset": "NOT A COIN"}, "asset", "malformed asset symbol"),
        ({"asset": "ZZZZUSDT"}, "asset", "demo"),
        ({"timeframe": "7m"}, "timeframe", "use one of"),
        ({"start": "yesterday-ish"}, "start", "Not an ISO 8601 timestamp"),
        ({"start": "1677-09-22T00:00:00Z"}, "start", "Out of range"),
        ({"end": "2025-12-01T00:30:00Z", "start": "2025-12-01T00:00:00Z"}, "end",
         "shorter than one 1h bar"),
        ({"end": "2025-12-01T00:00:00Z"}, "end", "is not after start"),
        ({"start": "2000-01-01T00:00:00Z"}, "end", "more than BACKTEST_MAX_BARS"),
        ({"mode": "all_in"}, "mode", "not a valid choice"),
        ({"fee_percent": -1}, "fee_percent", ">= 0"),
        ({"parameters": [1, 2]}, "parameters", "must be an object"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_client, settings, changes, field, reason):
    settings.MARKET_DATA_MODE = "demo"
    settings.BACKTEST_MAX_BARS = 24 * 365
    response = api_client.post("/api/backtests/", {**REQUEST, **changes}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert reason in " ".join(response.json()[field])
    assert not Backtest.objects.exists()


def test_a_parameter_out_of_bounds_is_named_under_parameters(api_client):
    body = {**REQUEST, "parameters": {"rsi_oversold": 99}}
    response = api_client.post("/api/backtests/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"parameters": {"rsi_oversold": ["99.0 is above the maximum 50.0"]}}


def test_a_backtest_runs_to_completion_and_equals_the_engine(
    api_client, history, django_capture_on_commit_callbacks
):
    body = {**REQUEST, "parameters": {"expiry_bars": 6}, "fee_percent": 0.05}
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/backtests/", body, format="json")
    assert response.status_code == 202, response.content
    backtest_id = response.json()["id"]
    assert response.json()["status_url"] == f"/api/backtests/{backtest_id}/"

    detail = api_client.get(f"/api/backtests/{backtest_id}/").json()
    stored = store.stored_candles("live", "BTCUSDT", "1h")
    expected = run_backtest(MeanReversion(expiry_bars=6), stored, fee_percent=0.05,
                            mode="one_position", timeframe_seconds=3600)
    assert detail["status"] == "completed" and detail["progress"] == 1.0
    assert (detail["mode"], detail["source"], detail["candles"]) == (
        "one_position", "live", len(stored))
    assert detail["parameters"]["expiry_bars"] == 6
    assert detail["metrics"] == pytest.approx(expected.statistics, nan_ok=True)
    assert detail["trade_count"] == len(expected.trades) > 0
    assert detail["first_candle"].startswith("2026-01-01T00:00:00")
    curve = detail["equity_curve"]
    assert curve[0]["equity"] == 1.0 and len(curve) == len(stored)
    assert curve[-1]["equity"] == pytest.approx(expected.equity["equity"].iloc[-1])
    assert all(point["drawdown_percent"] <= 0 for point in curve)
    assert detail["started_at"] and detail["finished_at"]

    trades = api_client.get(detail["trades_url"]).json()
    assert trades["count"] == len(expected.trades)
    first, engine = trades["results"][0], expected.trades.iloc[0]
    assert pd.Timestamp(first["signal_time"]) == engine["signal_time"]
    assert pd.Timestamp(first["exit_time"]) == engine["exit_time"]
    assert (first["exit_price"], first["exit_reason"], first["direction"]) == (
        engine["exit_price"], engine["exit_reason"], engine["direction"])


def test_defaults_are_the_last_90_days_one_position_and_the_fee_schedule(api_client, settings):
    settings.MARKET_DATA_MODE = "demo"
    settings.FEE_SCHEDULE = {"crypto": 0.075}
    body = {"strategy": "breakout", "asset": "BTCUSDT", "timeframe": "1d"}
    response = api_client.post("/api/backtests/", body, format="json")
    assert response.status_code == 202
    backtest = Backtest.objects.get(pk=response.json()["id"])
    assert (backtest.mode, backtest.fee_percent) == ("one_position", 0.075)
    assert backtest.end - backtest.start == pd.Timedelta(days=90)


def test_a_period_without_candles_fails_with_that_reason(
    api_client, binance, django_capture_on_commit_callbacks
):
    binance[("BTCUSDT", "1h")] = oversold_candles(INTERVAL_MS["1h"], bars=10,
                                                  now=pd.Timestamp(START))
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/backtests/", REQUEST, format="json")
    backtest = Backtest.objects.get(pk=response.json()["id"])
    assert backtest.status == BacktestStatus.FAILED
    assert "no live candles for BTCUSDT 1h" in backtest.error


def test_another_users_backtest_is_a_404(api_client, django_user_model):
    other = django_user_model.objects.create_user("other", password="x")
    theirs = make_backtest(other)
    for method, path in [("get", f"/api/backtests/{theirs.pk}/"),
                         ("get", f"/api/backtests/{theirs.pk}/trades/"),
                         ("delete", f"/api/backtests/{theirs.pk}/")]:
        assert getattr(api_client, method)(path).status_code == 404
    assert Backtest.objects.get(pk=theirs.pk).status == BacktestStatus.QUEUED


def test_the_list_is_ones_own_newest_first_and_staff_see_all(user, staff_user):
    other = get_user_model().objects.create_user("other", password="x")
    mine_old, theirs, mine_new = make_backtest(user), make_backtest(other), make_backtest(user)
    listed = client_of(user).get("/api/backtests/").json()
    assert [row["id"] for row in listed["results"]] == [mine_new.pk, mine_old.pk]
    assert listed["results"][0]["requested_by"] == "trader"
    assert listed["results"][0]["metrics"] is None
    everyone = client_of(staff_user).get("/api/backtests/").json()
    assert [row["id"] for row in everyone["results"]] == [mine_new.pk, theirs.pk, mine_old.pk]


def test_cancel_a_queued_backtest_then_409_once_ended(api_client, user):
    backtest = make_backtest(user)
    response = api_client.delete(f"/api/backtests/{backtest.pk}/")
    assert (response.status_code, response.json()) == (202, {"status": "cancelled"})
    backtest.refresh_from_db()
    assert backtest.status == BacktestStatus.CANCELLED and backtest.finished_at
    again = api_client.delete(f"/api/backtests/{backtest.pk}/")
    assert again.status_code == 409
    assert "already ended (cancelled)" in again.json()["detail"]
    # The worker that picks up its message afterwards leaves it cancelled.
    assert services.run_backtest_row(backtest.pk).status == BacktestStatus.CANCELLED


def test_a_running_backtest_stops_at_its_next_progress_step_once_cancelled(user):
    backtest = make_backtest(user, status=BacktestStatus.RUNNING)
    reporter = services.ProgressReporter(backtest)
    reporter.report(0.2)
    assert services.cancel_backtest(backtest)
    with pytest.raises(services.BacktestCancelled):
        reporter.report(0.4)
    backtest.refresh_from_db()
    assert (backtest.status, backtest.progress) == (BacktestStatus.CANCELLED, 0.2)


def test_trades_come_a_page_at_a_time(api_client, user):
    count = 120
    times = pd.date_range("2026-01-01", periods=count, freq="h", tz="UTC")
    frame = pd.DataFrame({
        "signal_time": times, "direction": "long", "entry": 100.0, "stop_loss": 99.0,
        "take_profit": 102.0, "exit_time": times + pd.Timedelta(hours=2), "exit_price": 102.0,
        "result": "win", "pnl_percent": 1.8, "r": 1.8, "bars_held": range(count),
        "exit_reason": "target",
    })
    table = TradeTable.from_frame(frame)
    backtest = make_backtest(user, status=BacktestStatus.COMPLETED, trades_blob=table.encode(),
                             trade_count=count)
    url = f"/api/backtests/{backtest.pk}/trades/"
    first, last = api_client.get(url).json(), api_client.get(url, {"page": 3}).json()
    assert first["count"] == count and first["next"].endswith("page=2")
    assert [t["bars_held"] for t in first["results"]] == list(range(50))
    assert [t["bars_held"] for t in last["results"]] == list(range(100, 120))
    assert pd.Timestamp(last["results"][-1]["exit_time"]) == times[-1] + pd.Timedelta(hours=2)
    assert api_client.get(url, {"page": 4}).status_code == 404


def test_asking_is_throttled_by_the_backtest_scope(api_client, settings):
    settings.MARKET_DATA_MODE = "demo"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "backtest": "1/minute"}}
    from django.core.cache import cache

    cache.clear()
    assert api_client.post("/api/backtests/", REQUEST, format="json").status_code == 202
    refused = api_client.post("/api/backtests/", REQUEST, format="json")
    assert refused.status_code == 429 and refused["Retry-After"]
    assert api_client.get("/api/backtests/").status_code == 200  # reading is not throttled


def test_a_redelivered_message_fails_a_backtest_whose_worker_was_lost(user):
    backtest = make_backtest(user, status=BacktestStatus.RUNNING)
    again = services.run_backtest_row(backtest.pk)
    assert again.status == BacktestStatus.FAILED
    assert "its worker stopped or ran out of time" in again.error
