"""How an open signal ends: the same rules live (a periodic task) and in backtests.

Rules, for the bars after the signal's bar, in order:
- A long wins when a bar's high reaches take_profit and loses when its low reaches stop_loss;
  a short is mirrored (low reaches take_profit, high reaches stop_loss).
- Both levels inside one bar: the stop counts, since the path inside the bar is unknown,
  unless finer candles covering that bar settle it (refine()); finer candles that do not
  aggregate to that bar (another path, another source) are not believed.
- A bar that opens beyond a level fills at its open, not at the level (a gap through the stop
  loses more than planned; a gap through the target wins more).
- After expiry_bars bars without a hit it expires at the close of the last of them, result
  "none". A hit on that last bar still counts as a hit.
- fee_percent is charged on entry and on exit: pnl is net of 2 x fee_percent.

The rules are written once, in settle_path() (compiled with numba): settle() applies it to one
signal, settle_signals() to every signal of a history in one pass (strategies/backtest.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from numba import njit

from strategies.base import as_utc

LONG = "long"
SHORT = "short"

# How far (relative to the price) finer candles' open, high, low and close may sit from the
# bar they refine and still count as the same data: float rounding, not a different path.
REFINE_TOLERANCE = 1e-9
# How a signal ended, as settle_path() reports it (an int8 code in compiled arrays).
OPEN, TARGET, STOP, GAP_TARGET, GAP_STOP, AMBIGUOUS, EXPIRY = range(7)
# A one_position history skips the signals fired while another is open.
SKIPPED = -1
GAPS = (GAP_TARGET, GAP_STOP)
ENDING_STATUS = ("open", "closed", "closed", "closed", "closed", "closed", "expired")
ENDING_RESULT = ("none", "win", "loss", "win", "loss", "loss", "none")
ENDING_REASON = ("open", "target", "stop", "gap", "gap", "ambiguous", "expiry")


@dataclass(frozen=True)
class Outcome:
    status: str  # "closed" | "expired"
    result: str  # "win" | "loss" | "none"
    close_price: float
    closed_at: pd.Timestamp  # UTC; see settle() for which moment of the bar
    pnl: float  # percent of entry, signed, net of fees on both sides
    r_multiple: float  # net pnl / planned risk (entry-to-stop distance in percent of entry)
    bars: int  # bars after the signal's bar until the end, counting the last one
    ambiguous: bool = False  # both levels inside the deciding bar: the stop was assumed
    # Why finer candles offered to refine() were not believed; "" when none were rejected.
    refine_rejected: str = ""
    # The deciding bar (open, high, low, close) and the candles' source (their attrs["source"]),
    # kept for refine() to check finer candles against; not part of the outcome's identity.
    bar_prices: tuple[float, float, float, float] | None = field(default=None, compare=False)
    source: str | None = field(default=None, compare=False)


@njit(cache=True)
def settle_path(side, entry, stop_loss, take_profit, opens, highs, lows, closes, first,
                expiry_bars):  # pragma: no cover (compiled)
    """(ending, bar, exit price) of a signal whose bars after it start at index first.

    side is +1 for a long, -1 for a short. OPEN (bar -1, price NaN) when the bars run out
    before an ending. The one place the ending rules are written.
    """
    end = min(first + expiry_bars, len(opens))
    for bar in range(first, end):
        if side > 0:
            gap_stop, gap_target = opens[bar] <= stop_loss, opens[bar] >= take_profit
            stop_hit, target_hit = lows[bar] <= stop_loss, highs[bar] >= take_profit
        else:
            gap_stop, gap_target = opens[bar] >= stop_loss, opens[bar] <= take_profit
            stop_hit, target_hit = highs[bar] >= stop_loss, lows[bar] <= take_profit
        if gap_stop:
            return GAP_STOP, bar, opens[bar]
        if gap_target:
            return GAP_TARGET, bar, opens[bar]
        if stop_hit:
            return (AMBIGUOUS if target_hit else STOP), bar, stop_loss
        if target_hit:
            return TARGET, bar, take_profit
    if end - first >= expiry_bars:
        return EXPIRY, end - 1, closes[end - 1]
    return OPEN, -1, np.nan


@njit(cache=True)
def settle_signals(opens, highs, lows, closes, signal_bars, sides, entries, stops, targets,
                   expiry_bars, one_position):  # pragma: no cover (compiled)
    """settle_path() for every signal of one series, in one compiled pass.

    signal_bars are the bars the signals fired on, ascending; each is settled on the bars after
    it. With one_position a signal fired while an earlier taken one is still open is SKIPPED;
    one fired on the bar where the open one ended is taken (it enters at that bar's close).
    Returns (endings, exit bars, exit prices), -1 / NaN where skipped or still open.
    """
    count = len(signal_bars)
    endings = np.full(count, SKIPPED, np.int8)
    exit_bars = np.full(count, -1, np.int64)
    prices = np.full(count, np.nan)
    free_from = 0
    for k in range(count):
        bar = signal_bars[k]
        if one_position and bar < free_from:
            continue
        ending, exit_bar, price = settle_path(sides[k], entries[k], stops[k], targets[k], opens,
                                              highs, lows, closes, bar + 1, expiry_bars)
        endings[k], exit_bars[k], prices[k] = ending, exit_bar, price
        # An open signal at the end of the data keeps the position until the end.
        free_from = exit_bar if ending != OPEN else len(opens) + 1
    return endings, exit_bars, prices


def net_pnl_percent(side, entry, price, fee_percent):
    """pnl in percent of entry, signed, net of fee_percent on entry and exit (floats or arrays)."""
    return side * (price - entry) / entry * 100.0 - 2.0 * fee_percent


def r_multiple(pnl, entry, stop_loss):
    """Net pnl over the planned risk, the entry-to-stop distance in percent of entry."""
    return pnl / (abs(entry - stop_loss) / entry * 100.0)


def settle(direction: str, entry: float, stop_loss: float, take_profit: float,
           candles: pd.DataFrame, expiry_bars: int, fee_percent: float = 0.0,
           timeframe_seconds: int | None = None) -> Outcome | None:
    """The outcome of a signal given the closed candles after its bar, or None if still open.

    closed_at is the open time of the deciding bar for a fill at its open (a gap), and the
    bar's close time (open time + timeframe_seconds) for a fill inside the bar or an expiry;
    without timeframe_seconds it is always the bar's open time.
    """
    side = _side(direction)
    if side * (take_profit - entry) <= 0 or side * (entry - stop_loss) <= 0:
        raise ValueError(f"{direction} levels out of order: stop {stop_loss}, entry {entry}, "
                         f"target {take_profit}")
    if expiry_bars < 1:
        raise ValueError(f"expiry_bars must be at least 1, got {expiry_bars}")

    window = candles.iloc[:expiry_bars]
    opens, highs, lows, closes = (np.ascontiguousarray(window[column].to_numpy(dtype=np.float64))
                                  for column in ("open", "high", "low", "close"))
    ending, bar, price = settle_path(side, float(entry), float(stop_loss), float(take_profit),
                                     opens, highs, lows, closes, 0, expiry_bars)
    if ending == OPEN:
        return None
    pnl = net_pnl_percent(side, entry, price, fee_percent)
    closed_at = as_utc(window.index[bar])
    if timeframe_seconds is not None and ending not in GAPS:
        closed_at += pd.Timedelta(seconds=timeframe_seconds)
    bar_prices = (float(opens[bar]), float(highs[bar]), float(lows[bar]), float(closes[bar]))
    return Outcome(status=ENDING_STATUS[ending], result=ENDING_RESULT[ending],
                   close_price=float(price), closed_at=closed_at, pnl=pnl,
                   r_multiple=r_multiple(pnl, entry, stop_loss), bars=bar + 1,
                   ambiguous=ending == AMBIGUOUS, bar_prices=bar_prices,
                   source=candles.attrs.get("source"))


def refine(outcome: Outcome, direction: str, entry: float, stop_loss: float, take_profit: float,
           finer: pd.DataFrame, fee_percent: float, finer_seconds: int,
           timeframe_seconds: int, tolerance: float = REFINE_TOLERANCE) -> Outcome:
    """An ambiguous outcome settled on the finer candles of its deciding bar, if they can.

    finer must be every finer bar of that bar, in order: with one missing the path is still
    unknown, and the outcome is returned as it is. The finer bars must also be the same data
    as the bar: their first open, highest high, lowest low and last close equal the bar's
    within tolerance (relative to the price), and their attrs["source"], when both frames name
    one, is the bar's. If not, the conservative outcome stands with the reason in
    refine_rejected. If consistent finer bars decide (one level reached in a bar before the
    other), that ending stands, at the finer bar's time; otherwise the outcome stays.
    """
    if not outcome.ambiguous or len(finer) * finer_seconds != timeframe_seconds:
        return outcome
    bar_open = outcome.closed_at - pd.Timedelta(seconds=timeframe_seconds)
    if as_utc(finer.index[0]) != bar_open:
        return outcome
    rejected = inconsistency(outcome, finer, tolerance)
    if rejected:
        return replace(outcome, refine_rejected=rejected)
    inner = settle(direction, entry, stop_loss, take_profit, finer, len(finer), fee_percent,
                   finer_seconds)
    if inner is None or inner.status != "closed" or inner.ambiguous:
        return outcome
    return replace(inner, bars=outcome.bars, bar_prices=outcome.bar_prices,
                   source=outcome.source)


def inconsistency(outcome: Outcome, finer: pd.DataFrame, tolerance: float) -> str:
    """Why finer candles are not the same data as the outcome's deciding bar; "" if they are."""
    finer_source = finer.attrs.get("source")
    if outcome.source and finer_source and finer_source != outcome.source:
        return f"finer candles come from {finer_source!r}, the bar from {outcome.source!r}"
    if outcome.bar_prices is None:
        return "the deciding bar's prices are unknown"
    aggregate = (float(finer["open"].iloc[0]), float(finer["high"].max()),
                 float(finer["low"].min()), float(finer["close"].iloc[-1]))
    names = ("open", "high", "low", "close")
    for name, bar_value, finer_value in zip(names, outcome.bar_prices, aggregate, strict=True):
        if not abs(finer_value - bar_value) <= tolerance * abs(bar_value):
            return (f"finer candles do not aggregate to the bar: {name} {finer_value!r} "
                    f"against {bar_value!r}")
    return ""


def _side(direction: str) -> int:
    if direction == LONG:
        return 1
    if direction == SHORT:
        return -1
    raise ValueError(f"direction must be 'long' or 'short', got {direction!r}")
