"""The drift report on the demo market: scheduled scans over a simulated day with a frozen clock
agree with the backtest, and each kind of difference is named with its cause."""


import pandas as pd
import pytest
import time_machine
from django.core.cache import cache

from backtests import drift as drift_service
from collectors.demo import DemoSource
from signals import scans
from signals.models import Signal, Watchlist
from strategies.mean_reversion import MeanReversion

pytestmark = pytest.mark.django_db(transaction=True)  # the scans' analyses run on commit

ASSET, TIMEFRAME = "BTCUSDT", "5m"
DAY = pd.Timestamp("2026-03-02T00:00:00Z")
BAR = pd.Timedelta(minutes=5)
# Beat scans every 300 s from whenever it started: not on the bar boundary.
SCAN_PHASE = pd.Timedelta(seconds=17)


@pytest.fixture(autouse=True)
def fresh_candle_cache():
    cache.clear()  # frames cached by another test at the same frozen moments


@pytest.fixture
def watchlist():
    return Watchlist.objects.create(asset=ASSET, timeframe=TIMEFRAME)


def scan_at(moment: pd.Timestamp) -> None:
    """One scheduled scan (and the settling each analysis triggers) at a frozen moment."""
    with time_machine.travel(moment.to_pydatetime(), tick=False):
        scans.scan_watchlist()


def scan_bars(first: pd.Timestamp, bars: int, *, skip=(), between=None) -> None:
    """Scan after each of `bars` candles from first closes, except the candles in skip;
    between(candle) runs right after the scan that analysed candle."""
    for k in range(bars):
        candle = first + k * BAR
        if candle in skip:
            continue
        scan_at(candle + BAR + SCAN_PHASE)
        if between:
            between(candle)


def report(start, end, strategy="mean_reversion"):
    moment = end + SCAN_PHASE + pd.Timedelta(seconds=5)
    with time_machine.travel(moment.to_pydatetime(), tick=False):
        return drift_service.drift_report(strategy=strategy, asset=ASSET, timeframe=TIMEFRAME,
                                          start=start.isoformat(), end=end.isoformat())


def causes(result) -> dict[pd.Timestamp, str]:
    return {c.candle_time: c.cause for c in result.report.comparisons}


def firing_candles(start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    """The candles of [start, end) on which mean_reversion fires on the demo market."""
    candles = DemoSource(now=lambda: end).fetch_candles(ASSET, TIMEFRAME, limit=1500)
    fired = MeanReversion().signals(candles).index
    return [candle for candle in fired if start <= candle < end]


def test_a_day_of_scheduled_scans_matches_the_backtest_with_nothing_unexplained(watchlist):
    end = DAY + pd.Timedelta(days=1)
    scan_bars(DAY, 288)

    for strategy in ("breakout", "mean_reversion", "trend_following"):
        result = report(DAY, end, strategy)
        counts = result.report.counts()
        assert counts["unexplained"] == 0, [
            (c.candle_time, c.detail) for c in result.report.comparisons if c.cause != "identical"
        ]
        assert result.analysed_candles == 288
        assert counts["identical"] == result.live_signals > 0
        assert counts["missed"] == 0
    settled = Signal.objects.exclude(status="active")
    assert settled.exists()  # endings were compared, not only open signals
