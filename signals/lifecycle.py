"""Settling open signals against the candles after them: strategies.lifecycle.settle, live.

A signal is evaluated on the closed candles after the candle it fired on, the same bars a
backtest walks: its entry is that candle's close. When both levels fall inside one candle the
stop counts, unless finer candles of that bar are in the candle store and settle it (see
docs/performance.md); they are not fetched for it.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import collectors
from collectors import fees
from collectors.timeframes import bar_index_at
from market import store
from signals import events, market
from signals.models import Signal, SignalStatus
from strategies.lifecycle import Outcome, refine, settle

log = logging.getLogger(__name__)


def evaluate_open_signals(asset: str | None = None, timeframe: str | None = None) -> int:
    """Close the active signals (optionally of one asset/timeframe) that ended; how many did."""
    active = Signal.objects.filter(status=SignalStatus.ACTIVE)
    if asset:
        active = active.filter(asset=asset)
    if timeframe:
        active = active.filter(timeframe=timeframe)
    pairs = active.order_by().values_list("asset", "timeframe").distinct()
    return sum(evaluate_pair(pair_asset, pair_timeframe) for pair_asset, pair_timeframe in pairs)


def evaluate_pair(asset: str, timeframe: str, now: datetime | None = None) -> int:
    """Settle one pair's active signals with one candle fetch for all of them."""
    now = now or timezone.now()
    signals = list(
        Signal.objects.filter(
            status=SignalStatus.ACTIVE, asset=asset, timeframe=timeframe
        ).order_by("candle_time")
    )
    try:
        seconds = collectors.timeframe_seconds(timeframe)
        # Nothing to walk until a whole candle after the earliest signal's candle has closed.
        if not signals or bar_index_at(now, timeframe) - bar_index_at(
            signals[0].candle_time, timeframe
        ) < 2:
            return 0
        source = market.candle_source(asset)
        candles = source.fetch_candles(
            asset, timeframe, start=signals[0].candle_time + timedelta(microseconds=1)
        )
    except collectors.MarketDataError as exc:
        log.warning("cannot evaluate %s %s signals: %s", asset, timeframe, exc)
        return 0
    fee = fee_percent(asset, source.name)
    closed = 0
    for signal in signals:
        outcome = settle(
            signal.direction,
            signal.entry_price,
            signal.stop_loss,
            signal.take_profit,
            candles[candles.index > signal.candle_time],
            signal.expiry_bars,
            fee,
            seconds,
        )
        if outcome is not None and outcome.ambiguous:
            outcome = refine_from_store(signal, outcome, seconds, fee)
        if outcome is not None and close_signal(signal, outcome, fee):
            closed += 1
    return closed


def fee_percent(asset: str, source: str) -> float:
    """The fee schedule's percent a side for an asset served by `source`."""
    return fees.fee_percent(asset, settings.FEE_SCHEDULE, settings.SIGNAL_FEE_PERCENT, source)


def refine_from_store(signal: Signal, outcome: Outcome, seconds: int, fee: float) -> Outcome:
    """Settle a bar that reached both levels on the finest stored candles that cover it."""
    source = market.candle_source(signal.asset).name
    bar_open = outcome.closed_at - timedelta(seconds=seconds)
    last_open = outcome.closed_at - timedelta(microseconds=1)  # finer bars inside this bar
    finer_timeframes = sorted(
        (finer_seconds, name)
        for name, finer_seconds in collectors.TIMEFRAMES.items()
        if finer_seconds < seconds and seconds % finer_seconds == 0
    )
    for finer_seconds, name in finer_timeframes:
        finer = store.stored_candles(source, signal.asset, name, start=bar_open, end=last_open)
        refined = refine(
            outcome, signal.direction, signal.entry_price, signal.stop_loss, signal.take_profit,
            finer, fee, finer_seconds, seconds,
        )
        if refined is not outcome:
            return refined
    return outcome


def close_signal(signal: Signal, outcome: Outcome, fee: float | None = None) -> bool:
    """Record the ending and announce it; False if another evaluator closed it first."""
    with transaction.atomic():
        if not signal.close(outcome, fee):
            return False
        events.publish_signal("SignalClosed", signal)
    return True
