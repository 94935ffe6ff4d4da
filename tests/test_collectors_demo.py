"""DemoSource, plus the shared pieces every source uses: timeframes, assets, gaps, routing."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import collectors
from collectors import (
    ASSET_PATTERN,
    TIMEFRAMES,
    AlphaVantageSource,
    BinanceSource,
    DemoSource,
    UnknownSymbol,
    UnsupportedTimeframe,
    find_gaps,
    source_for,
    timeframe_seconds,
    validate_asset,
)

NOW = datetime(2024, 3, 14, 15, 9, 26, tzinfo=UTC)


def demo(now: datetime = NOW, seed: int = 0) -> DemoSource:
    return DemoSource(seed=seed, now=lambda: now)


def assert_candle_frame(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert (frame.dtypes == np.float64).all()
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    assert frame.index.name == "open_time"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame["low"] > 0).all() and (frame["volume"] > 0).all()


def test_default_is_the_last_500_closed_bars():
    frame = demo().fetch_candles("BTCUSDT", "1h")
    assert len(frame) == 500
    assert frame.index[-1] == pd.Timestamp("2024-03-14 14:00", tz="UTC")
    assert_candle_frame(frame)


def test_a_bar_is_the_same_whatever_the_range_or_the_time_of_the_request():
    early = demo(NOW).fetch_candles("ETHUSDT", "15m", limit=3000)
    later = demo(NOW + timedelta(days=3)).fetch_candles(
        "ETHUSDT", "15m", start=NOW - timedelta(days=10), end=NOW - timedelta(days=5)
    )
    overlap = early.index.intersection(later.index)
    assert len(overlap) == len(later) > 400
    pd.testing.assert_frame_equal(early.loc[overlap], later.loc[overlap])


def test_close_of_each_bar_is_the_open_of_the_next_but_for_rare_gaps():
    frame = demo().fetch_candles("ETHUSDT", "1m", limit=3 * 1440)  # across day boundaries
    gaps = frame["close"].to_numpy()[:-1] != frame["open"].to_numpy()[1:]
    assert gaps.sum() <= 0.005 * len(gaps)


@pytest.mark.parametrize("timeframe", list(TIMEFRAMES))
def test_bars_open_on_timeframe_boundaries_and_never_in_the_future(timeframe):
    frame = demo().fetch_candles("BTCUSDT", timeframe, limit=50)
    assert len(frame) == 50
    assert_candle_frame(frame)
    if timeframe == "1M":
        assert (frame.index.day == 1).all() and (frame.index.hour == 0).all()
        assert frame.index[-1] == pd.Timestamp("2024-02-01", tz="UTC")
    elif timeframe == "1w":
        assert (frame.index.day_of_week == 0).all()  # Monday, like Binance
        assert frame.index[-1] == pd.Timestamp("2024-03-04", tz="UTC")
    else:
        seconds = frame.index.as_unit("s").asi8
        assert (seconds % timeframe_seconds(timeframe) == 0).all()
    last_close = frame.index[-1] + pd.Timedelta(seconds=timeframe_seconds(timeframe))
    if timeframe != "1M":
        assert last_close <= NOW


def test_new_bars_arrive_as_time_passes():
    before = demo(NOW).fetch_candles("SOLUSDT", "5m", limit=10)
    after = demo(NOW + timedelta(minutes=5)).fetch_candles("SOLUSDT", "5m", limit=10)
    assert after.index[-1] - before.index[-1] == pd.Timedelta(minutes=5)
    pd.testing.assert_frame_equal(before.iloc[1:], after.iloc[:-1])


def test_open_bar_only_with_include_open_and_it_grows_into_the_closed_bar():
    closed = demo(NOW).fetch_candles("BTCUSDT", "1h", limit=3)
    with_open = demo(NOW).fetch_candles("BTCUSDT", "1h", limit=3, include_open=True)
    assert closed.index[-1] == pd.Timestamp("2024-03-14 14:00", tz="UTC")
    assert with_open.index[-1] == pd.Timestamp("2024-03-14 15:00", tz="UTC")
    assert_candle_frame(with_open)
    partial = with_open.iloc[-1]
    final = demo(NOW + timedelta(hours=1)).fetch_candles("BTCUSDT", "1h", limit=1).iloc[-1]
    assert partial["open"] == final["open"]
    assert partial["volume"] < final["volume"]
    assert partial["high"] <= final["high"] and partial["low"] >= final["low"]


def test_limit_keeps_the_most_recent_bars_within_the_range():
    end = NOW - timedelta(days=2)
    frame = demo().fetch_candles("BTCUSDT", "1h", start=NOW - timedelta(days=5), end=end, limit=7)
    assert len(frame) == 7
    assert frame.index[-1] == pd.Timestamp(end).floor("h")


def test_start_and_end_bound_open_times_inclusively():
    start, end = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)
    frame = demo().fetch_candles("BTCUSDT", "1h", start=start, end=end)
    assert frame.index[0] == pd.Timestamp(start) and frame.index[-1] == pd.Timestamp(end)
    assert len(frame) == 25


def test_naive_datetimes_are_read_as_utc():
    aware = demo().fetch_candles("BTCUSDT", "1h", start=datetime(2024, 3, 1, tzinfo=UTC), limit=5)
    naive = demo().fetch_candles("BTCUSDT", "1h", start=datetime(2024, 3, 1), limit=5)
    pd.testing.assert_frame_equal(aware, naive)


def test_a_range_entirely_in_the_future_is_empty():
    frame = demo().fetch_candles("BTCUSDT", "1h", start=NOW + timedelta(days=1))
    assert frame.empty and list(frame.columns) == ["open", "high", "low", "close", "volume"]


def test_assets_and_seeds_give_different_series_and_price_levels():
    btc = demo().fetch_candles("BTCUSDT", "1d", limit=100)
    aapl = demo().fetch_candles("AAPL", "1d", limit=100)
    btc_other_seed = demo(seed=7).fetch_candles("BTCUSDT", "1d", limit=100)
    assert not np.allclose(btc["close"], aapl["close"])
    assert not np.allclose(btc["close"], btc_other_seed["close"])
    assert btc["close"].median() != pytest.approx(aapl["close"].median(), rel=0.05)


def test_series_is_stable_across_processes():
    script = (
        "from datetime import datetime, timezone;"
        "from collectors import DemoSource;"
        "now = datetime(2024, 3, 14, 15, 9, 26, tzinfo=timezone.utc);"
        "print(repr(float(DemoSource(now=lambda: now).fetch_candles('AAPL', '1h', limit=1)"
        ".iloc[-1]['close'])))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
        cwd=Path(__file__).resolve().parents[1],
    )
    here = demo().fetch_candles("AAPL", "1h", limit=1).iloc[-1]["close"]
    assert float(result.stdout) == here


def test_strategies_have_something_to_trade():
    close = demo().fetch_candles("BTCUSDT", "1h", limit=3000)["close"]
    delta = close.diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / 14, adjust=False).mean()
    rsi = 100 - 100 / (1 + gain / loss)
    middle, spread = close.rolling(20).mean(), close.rolling(20).std()
    fast, slow = close.ewm(span=12).mean(), close.ewm(span=26).mean()
    crossings = (np.sign(fast - slow).diff().abs() == 2).sum()
    breakouts = (close > close.rolling(20).max().shift(1)).sum()
    assert (rsi < 30).sum() > 10 and (rsi > 70).sum() > 10
    assert (close < middle - 2 * spread).sum() > 10 and (close > middle + 2 * spread).sum() > 10
    assert crossings > 20 and breakouts > 20


def test_malformed_asset_and_unknown_timeframe_are_typed_errors():
    with pytest.raises(UnknownSymbol):
        demo().fetch_candles("btc/usdt", "1h")
    with pytest.raises(UnsupportedTimeframe):
        demo().fetch_candles("BTCUSDT", "2m")


# --- shared pieces: timeframes, asset syntax, gaps, routing ---


def test_timeframes_are_binance_names_in_seconds_with_a_nominal_month():
    assert list(TIMEFRAMES) == [
        "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
        "1d", "3d", "1w", "1M",
    ]  # fmt: skip
    assert timeframe_seconds("4h") == 14400
    assert timeframe_seconds("1M") == 30 * 86400
    with pytest.raises(UnsupportedTimeframe, match="1H"):
        timeframe_seconds("1H")


@pytest.mark.parametrize("asset", ["BTCUSDT", "AAPL", "BRK.B", "BF-B", "PETR4", "X", "A" * 20])
def test_well_formed_assets_are_accepted(asset):
    assert validate_asset(asset) == asset


@pytest.mark.parametrize("asset", ["", "btcusdt", "BTC/USDT", ".AAPL", "AAPL-", "A" * 21, "A B"])
def test_malformed_assets_are_unknown_symbols(asset):
    with pytest.raises(UnknownSymbol):
        validate_asset(asset)


def test_asset_pattern_has_no_anchors_so_it_embeds_in_url_patterns():
    import re

    assert re.fullmatch(rf"/candles/(?P<asset>{ASSET_PATTERN})/", "/candles/BRK.B/")


def test_find_gaps_reports_missing_bar_ranges_without_filling_them():
    frame = demo().fetch_candles("BTCUSDT", "1h", limit=48)
    holed = frame.drop(frame.index[[5, 6, 7, 20]])
    assert find_gaps(holed, "1h") == [
        (frame.index[5], frame.index[7]),
        (frame.index[20], frame.index[20]),
    ]
    assert len(holed) == 44 and find_gaps(frame, "1h") == []


def test_find_gaps_uses_calendar_months():
    frame = demo().fetch_candles("BTCUSDT", "1M", limit=12)
    assert find_gaps(frame, "1M") == []
    holed = frame.drop(frame.index[3])
    assert find_gaps(holed, "1M") == [(frame.index[3], frame.index[3])]


def route(asset, mode="live", **kwargs):
    return source_for(
        asset,
        mode,
        binance_base_url="http://binance.invalid",
        alphavantage_base_url="http://alphavantage.invalid",
        alphavantage_api_key=None,
        **kwargs,
    )


@pytest.mark.parametrize("asset", ["BTCUSDT", "ETHBTC", "SOLUSDC", "BNBFDUSD", "BTCBRL"])
def test_live_mode_sends_crypto_pairs_to_binance(asset):
    source = route(asset)
    assert isinstance(source, BinanceSource) and source.base_url == "http://binance.invalid"


@pytest.mark.parametrize("asset", ["AAPL", "BRK.B", "PETR4", "ETH", "SETH"])
def test_live_mode_sends_stock_tickers_to_alpha_vantage(asset):
    source = route(asset)
    assert isinstance(source, AlphaVantageSource) and source.name == "alphavantage"


def test_overrides_win_in_live_mode_and_demo_mode_serves_everything():
    assert route("AAPL", overrides={"AAPL": "binance"}).name == "binance"
    assert route("BTCUSDT", overrides={"BTCUSDT": "demo"}).name == "demo"
    assert route("BTCUSDT", "demo").name == "demo"
    assert route("AAPL", "demo", overrides={"AAPL": "alphavantage"}).name == "demo"


def test_sources_are_reused_per_configuration():
    assert route("BTCUSDT") is route("ETHUSDT")
    assert route("AAPL") is not route("BTCUSDT")


def test_bad_mode_or_source_name_is_a_value_error():
    with pytest.raises(ValueError, match="mode"):
        route("AAPL", "paper")
    with pytest.raises(ValueError, match="source"):
        route("AAPL", overrides={"AAPL": "yahoo"})


def test_package_exports_the_interface():
    for name in ["CandleSource", "MarketDataError", "RateLimited", "MissingApiKey",
                 "UpstreamUnavailable", "MalformedResponse"]:  # fmt: skip
        assert hasattr(collectors, name)
    assert issubclass(collectors.RateLimited, collectors.MarketDataError)
    assert collectors.RateLimited("slow down", 3.0).retry_after == 3.0
