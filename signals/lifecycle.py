"""Settling open signals against the candles after them: strategies.lifecycle.settle, live.

A signal is evaluated on the closed candles after the candle it fired on, the same bars a
backtest walks: its entry is that candle's close. The candles come from the candle store
(market.store.candles_after), which fetches what it lacks through the configured source. When
both levels fall inside one candle the stop counts, unless finer candles of that bar of the
same source are in the candle store and settle it (see docs/performance.md); they are not
fetched for it.

Only signals of the data source the platform runs on (MARKET_DATA_MODE) are settled, on that
source's candles. A signal of another source (demo signals after a switch to live, or the
reverse) stays active and untouched, shown with its source, until the platform runs on its
source again; then it is settled on its own source's candles from its own candle on.
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
from market.models import running_data_source
from signals import events
from signals.models import Signal, SignalStatus
from strategies.lifecycle import Outcome, refine, settle

log = logging.getLogger(__name__)


def evaluate_open_signals(asset: str | None = None, timeframe: str | None = None) -> int:
    """Close the active signals of the running source (optionally of one asset/timeframe) that
    ended; how many did."""
    active = active_signals()
    if asset:
        active = active.filter(asset=asset)
    if timeframe:
        active = active.filter(timeframe=timeframe)
    pairs = active.order_by().values_list("asset", "timeframe").distinct()
    return sum(evaluate_pair(pair_asset, pair_timeframe) for pair_asset, pair_timeframe in pairs)


def evaluate_pair(asset: str, timeframe: str, now: datetime | None = None) -> int:
    """Settle one pair's active signals of the running source with one candle read."""
    now = now or timezone.now()
    pair = active_signals().filter(asset=asset, timeframe=timeframe)
    signals = list(pair.order_by("candle_time"))
    try:
        seconds = collectors.timeframe_seconds(timeframe)
        # Nothing to walk until a whole candle after the earliest signal's candle has closed.
        if not signals or bar_index_at(now, timeframe) - bar_index_at(
            signals[0].candle_time, timeframe
        ) < 2:
            return 0
        candles = store.candles_after(asset, timeframe, signals[0].candle_time, now=now)
    except collectors.MarketDataError as exc:
        log.warning("cannot evaluate %s %s signals: %s", asset, timeframe, exc)
        return 0
    fee = fee_percent(asset)
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


def active_signals():
    """The active signals this platform settles: those of the source it runs on."""
    return Signal.objects.filter(status=SignalStatus.ACTIVE, source=running_data_source())


def fee_percent(asset: str) -> float:
    """The fee schedule's percent a side for an asset, by who serves it (binance, demo, ...)."""
    provider = store.candle_source(asset).name
    return fees.fee_percent(asset, settings.FEE_SCHEDULE, settings.SIGNAL_FEE_PERCENT, provider)


def refine_from_store(signal: Signal, outcome: Outcome, seconds: int, fee: float) -> Outcome:
    """Settle a bar that reached both levels on the finest stored candles of the signal's
    source that cover it."""
    bar_open = outcome.closed_at - timedelta(seconds=seconds)
    last_open = outcome.closed_at - timedelta(microseconds=1)  # finer bars inside this bar
    finer_timeframes = sorted(
        (finer_seconds, name)
        for name, finer_seconds in collectors.TIMEFRAMES.items()
        if finer_seconds < seconds and seconds % finer_seconds == 0
    )
    for finer_seconds, name in finer_timeframes:
        finer = store.stored_candles(
            signal.source, signal.asset, name, start=bar_open, end=last_open
        )
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
        events.publish(events.signal_closed(signal))
    return True
