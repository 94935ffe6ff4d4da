"""Every candle series and every signal belongs to one data source (demo, live, import): a
signal is settled only on candles of its own source, the record is shown one source at a time,
and settlement reads the candle store like everything else.

Live candles come from the local Binance stand-in (the binance fixture); demo candles from the
deterministic demo market.
"""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from market import store
from market.models import Candle
from signals import lifecycle, services
from signals.models import AnalysisRequest, Signal, SignalStatus
from tests.fake_binance import INTERVAL_MS

STEP = pd.Timedelta(minutes=5)
FLAT = (100.0, 100.0, 100.0, 100.0)
WIN_PATH = [(100, 104, 99, 103), (103, 111, 102, 108)]  # a long's target (110) in bar 2
OHLC = ["open", "high", "low", "close"]


@pytest.fixture(autouse=True)
def fee(settings):
    settings.SIGNAL_FEE_PERCENT = 0.5


def serve(frames: dict, asset: str, path: list) -> pd.Timestamp:
    """The stand-in serves a signal bar at 100, then path, then flat bars; the signal bar's
    open time."""
    step = pd.Timedelta(milliseconds=INTERVAL_MS["5m"])
    signal_bar = pd.Timestamp.now(tz="UTC").floor(step) - (len(path) + 4) * step
    rows = [FLAT, *path, *[FLAT] * 6]
    index = pd.date_range(signal_bar, periods=len(rows), freq=step, name="open_time")
    frames[(asset, "5m")] = pd.DataFrame(rows, index=index, columns=OHLC).assign(volume=1.0)
    return signal_bar


def active_signal(asset: str, candle_time, source: str, **fields) -> Signal:
    values = dict(
        asset=asset, direction="long", confidence=0.5, entry_price=100.0, stop_loss=95.0,
        take_profit=110.0, strategy="trend_following", timeframe="5m", candle_time=candle_time,
        parameters={"expiry_bars": 48}, source=source,
    )  # fmt: skip
    return Signal.objects.create(**{**values, **fields})


# ---- settlement: only on the signal's own source ----


@pytest.mark.django_db
def test_a_switch_to_live_never_settles_a_demo_signal(binance):
    candle_time = serve(binance, "SWAPUSDT", WIN_PATH)
    demo = active_signal("SWAPUSDT", candle_time, "demo")
    live = active_signal("SWAPUSDT", candle_time, "live", strategy="breakout")

    assert lifecycle.evaluate_open_signals() == 1  # the live one, on live candles

    demo.refresh_from_db()
    live.refresh_from_db()
    assert (demo.status, demo.result, demo.pnl, demo.closed_at) == ("active", "none", None, None)
    assert (live.status, live.result, live.source) == ("closed", "win", "live")


@pytest.mark.django_db
def test_a_switch_to_demo_never_settles_a_live_signal(settings):
    settings.MARKET_DATA_MODE = "demo"
    # Levels any demo path crosses within a few bars: a live signal left open at the switch.
    candle_time = pd.Timestamp.now(tz="UTC").floor(STEP) - 20 * STEP
    live = active_signal(
        "BTCUSDT", candle_time, "live", entry_price=1e9, stop_loss=1.0, take_profit=2e9,
        parameters={"expiry_bars": 3},
    )  # fmt: skip
    demo = active_signal(
        "BTCUSDT", candle_time, "demo", strategy="breakout", entry_price=1e9, stop_loss=1.0,
        take_profit=2e9, parameters={"expiry_bars": 3},
    )  # fmt: skip

    assert lifecycle.evaluate_open_signals() == 1

    live.refresh_from_db()
    demo.refresh_from_db()
    assert (live.status, live.closed_at) == ("active", None)
    assert demo.status == SignalStatus.EXPIRED
    assert not Candle.objects.filter(source="live").exists()


@pytest.mark.django_db
def test_finer_candles_of_another_source_never_refine_a_bar(binance):
    candle_time = serve(binance, "BOTHUSDT", [(100, 111, 94, 100)])  # both levels in one bar
    signal = active_signal("BOTHUSDT", candle_time, "live")
    # Demo 1m candles that would say the target came first.
    index = pd.date_range(candle_time + STEP, periods=5, freq="1min", name="open_time")
    minutes = pd.DataFrame(
        [(100, 105, 99, 104), (104, 111, 103, 108), *[(108, 108, 94, 95)] * 3],
        index=index, columns=OHLC,
    ).assign(volume=1.0)  # fmt: skip
    store.insert_candles(minutes, source="demo", asset="BOTHUSDT", timeframe="1m")

    assert lifecycle.evaluate_open_signals() == 1

    signal.refresh_from_db()
    assert (signal.result, signal.close_price) == ("loss", 95.0)


# ---- settlement reads the candle store ----


@pytest.mark.django_db
def test_settlement_reads_the_store_and_fetches_only_what_it_lacks(binance, httpserver):
    candle_time = serve(binance, "KEEPUSDT", [(100, 104, 96, 102)] * 3)  # no level reached
    active_signal("KEEPUSDT", candle_time, "live")

    assert lifecycle.evaluate_open_signals() == 0
    walked = store.stored_candles("live", "KEEPUSDT", "5m")
    assert walked.index[0] == candle_time + STEP  # the bars after the signal's, now stored
    assert set(Candle.objects.filter(asset="KEEPUSDT").values_list("provider", flat=True)) == {
        "binance"
    }
    requests = len(httpserver.log)

    assert lifecycle.evaluate_open_signals() == 0  # same bar: the store has them all
    assert len(httpserver.log) == requests


# ---- the record, one source at a time ----


@pytest.mark.django_db
def test_a_new_signal_records_the_source_it_was_produced_on(binance):
    analysis = AnalysisRequest.objects.create(asset="BTCUSDT", timeframe="5m")
    services.run_analysis(str(analysis.correlation_id))
    live = Signal.objects.filter(correlation_id=analysis.correlation_id)
    assert live.exists() and set(live.values_list("source", flat=True)) == {"live"}
    assert set(Candle.objects.values_list("source", "provider")) == {("live", "binance")}

    # The same candle analysed on another source is another record, not a duplicate.
    first = live.first()
    Signal.objects.create(
        **{f: getattr(first, f) for f in ("asset", "strategy", "timeframe", "candle_time")},
        direction="long", confidence=0.5, entry_price=100.0, stop_loss=95.0, take_profit=110.0,
        source="demo",
    )  # fmt: skip
    same_candle = Signal.objects.filter(candle_time=first.candle_time, strategy=first.strategy)
    assert same_candle.count() == 2


def make_ended(asset: str, source: str, pnl: float) -> Signal:
    at = datetime.now(UTC) - timedelta(days=1)
    return active_signal(
        asset, at, source, status="closed", result="win" if pnl > 0 else "loss", pnl=pnl,
        r_multiple=pnl / 5, closed_at=at + timedelta(hours=1),
    )  # fmt: skip


@pytest.mark.django_db
def test_performance_counts_the_running_source_unless_asked_for_another(api_client, settings):
    make_ended("BTCUSDT", "demo", 9.0)
    make_ended("ETHUSDT", "demo", -6.0)
    make_ended("SOLUSDT", "live", 4.0)

    settings.MARKET_DATA_MODE = "demo"
    demo = api_client.get("/api/signals/performance/").json()
    assert (demo["source"], demo["total_signals"], demo["expectancy_percent"]) == ("demo", 2, 1.5)

    settings.MARKET_DATA_MODE = "live"
    live = api_client.get("/api/signals/performance/").json()
    assert (live["source"], live["total_signals"], live["expectancy_percent"]) == ("live", 1, 4.0)
    asked = api_client.get("/api/signals/performance/", {"source": "demo"}).json()
    assert (asked["source"], asked["total_signals"]) == ("demo", 2)

    bad = api_client.get("/api/signals/performance/", {"source": "paper"})
    assert bad.status_code == 400
    assert "source" in bad.json()


@pytest.mark.django_db
def test_the_signal_list_filters_by_source(api_client):
    make_ended("BTCUSDT", "demo", 9.0)
    make_ended("SOLUSDT", "live", 4.0)
    body = api_client.get("/api/signals/", {"source": "live"}).json()
    assert [(s["asset"], s["source"]) for s in body["results"]] == [("SOLUSDT", "live")]
    assert api_client.get("/api/signals/", {"source": "paper"}).status_code == 400


@pytest.mark.django_db
def test_the_dashboard_shows_the_record_of_the_running_source(client, user, settings):
    settings.MARKET_DATA_MODE = "demo"
    client.force_login(user)
    page = client.get("/").content.decode()
    assert '"source": "demo"' in page
    assert "demo data" in page


@pytest.mark.django_db
def test_an_analysis_request_row_is_not_a_signal_source():
    # AnalysisRequest.source says who asked (api or schedule), not which data: kept apart.
    assert AnalysisRequest._meta.get_field("source").choices != Signal._meta.get_field(
        "source"
    ).choices
