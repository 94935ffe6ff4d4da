"""manage.py fetch_candles: backfill history through the asset's configured source."""

import io

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from market import store
from market.models import Candle
from tests.fake_binance import INTERVAL_MS, oversold_candles

pytestmark = pytest.mark.django_db

HOUR_MS = INTERVAL_MS["1h"]


@pytest.fixture
def now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


@pytest.fixture
def history(binance, now) -> pd.DataFrame:
    """BTCUSDT 1h on the Binance stand-in: 60 days of closed bars."""
    frame = oversold_candles(HOUR_MS, bars=24 * 60, now=now)
    binance[("BTCUSDT", "1h")] = frame
    return frame


def fetch(*args: str) -> str:
    out = io.StringIO()
    call_command("fetch_candles", *args, "--no-progress", stdout=out)
    return out.getvalue()


def test_backfill_stores_the_range_page_by_page(history, httpserver):
    output = fetch("--asset", "BTCUSDT", "--timeframe", "1h", "--days", "50")
    stored = store.stored_candles("live", "BTCUSDT", "1h")
    assert len(stored) in (1199, 1200)  # 50 days of bars, the first one only if on the hour
    assert list(stored.index) == list(history.index[-len(stored) :])
    starts = [int(request.args["startTime"]) for request, _ in httpserver.log]
    assert len(starts) == 2  # pages of 1000 bars
    assert starts[1] - starts[0] == 1000 * HOUR_MS
    assert f"from binance: {len(stored)} bars in range, {len(stored)} fetched" in output


def test_a_second_backfill_fetches_only_pages_still_incomplete(binance, history, httpserver, now):
    start = now - pd.Timedelta(days=50)
    binance[("BTCUSDT", "1h")] = history.iloc[:-3]
    first = store.backfill("BTCUSDT", "1h", start, now=now)
    binance[("BTCUSDT", "1h")] = history
    httpserver.clear_log()
    second = store.backfill("BTCUSDT", "1h", start, now=now)
    [(request, _)] = httpserver.log  # the first page was complete: only the last one again
    first_page_ms = history.index[-first.bars].value // 1_000_000
    assert int(request.args["startTime"]) == first_page_ms + store.BACKFILL_PAGE_BARS * HOUR_MS
    assert (first.inserted, second.inserted) == (first.bars - 3, 3)
    assert second.gaps == []


def test_gaps_the_source_leaves_are_reported_not_filled(binance, history):
    binance[("BTCUSDT", "1h")] = history.drop(history.index[-30:-25])
    output = fetch("--asset", "BTCUSDT", "--timeframe", "1h", "--days", "5")
    assert "5 bar(s) missing in 1 gap(s)" in output
    assert f"{history.index[-30].isoformat()} to {history.index[-26].isoformat()}" in output
    assert not Candle.objects.filter(open_time__in=list(history.index[-30:-25])).exists()


def test_collector_errors_become_command_errors(history):
    with pytest.raises(CommandError, match="does not list"):
        fetch("--asset", "DOGEUSDT", "--timeframe", "1h", "--days", "1")
    with pytest.raises(CommandError, match="timeframe"):
        fetch("--asset", "BTCUSDT", "--timeframe", "7m", "--days", "1")
    with pytest.raises(CommandError, match="positive"):
        fetch("--asset", "BTCUSDT", "--timeframe", "1h", "--days", "0")


def test_demo_mode_backfills_without_any_network(settings):
    settings.MARKET_DATA_MODE = "demo"
    output = fetch("--asset", "BTCUSDT", "--timeframe", "1d", "--days", "30")
    assert Candle.objects.filter(source="demo", asset="BTCUSDT", timeframe="1d").count() in (29, 30)
    assert "from demo" in output
    fetch("--asset", "AAPL", "--timeframe", "1d", "--days", "28")  # four weeks of sessions
    stored = Candle.objects.filter(source="demo", asset="AAPL", timeframe="1d")
    assert 19 <= stored.count() <= 20  # weekdays only: 20 in four weeks, 19 if one is today
    assert all(candle.open_time.weekday() < 5 for candle in stored)


def test_an_asset_outside_the_demo_catalogue_or_a_bad_timeframe_is_refused(settings):
    settings.MARKET_DATA_MODE = "demo"
    refused = r"--asset: 'NOTACOIN' is not in the demo market.*BTCUSDT"
    with pytest.raises(CommandError, match=refused):
        fetch("--asset", "NOTACOIN", "--timeframe", "1d", "--days", "3")
    with pytest.raises(CommandError, match="--timeframe: unsupported timeframe '2m'"):
        fetch("--asset", "BTCUSDT", "--timeframe", "2m", "--days", "3")
    assert not Candle.objects.exists()


def test_progress_goes_to_stderr_and_counts_every_bar(settings):
    settings.MARKET_DATA_MODE = "demo"
    err = io.StringIO()
    call_command(
        "fetch_candles", "--asset", "ETHUSDT", "--timeframe", "1h", "--days", "2",
        stdout=io.StringIO(), stderr=err,
    )  # fmt: skip
    assert "100%" in err.getvalue()
