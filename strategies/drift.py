"""Live versus backtest: match the live signals with the backtest's on the same candle and name
the cause of every difference. Plain Python, no Django.

The backtest is the every_signal mode of strategies/backtest.py: like the live platform, it takes
every signal a strategy fires, one per candle, whatever else is open. A candle of the period
compares as:

- identical: both fired, with the same direction, levels and outcome (within TOLERANCE);
- missed: the backtest fired on a candle no live analysis ran this strategy on (no scan then,
  the analysis failed, the watchlist left the strategy out, or the market data lagged);
- config_change: the live analysis ran the strategy with other parameters than the backtest's
  (or with the strategy disabled);
- revised_data: the candles the live analysis read have changed since (see candles_digest);
- different_ending: same signal, other ending, for a known reason (not settled live yet,
  cancelled live, another fee, finer candles settling a bar that reached both levels);
- unexplained: anything else: a defect to look into.

The causes are tried in that order: a config change explains a difference before revised data.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from strategies.backtest import BacktestResult
from strategies.base import PRICE_COLUMNS, as_utc

IDENTICAL = "identical"
MISSED = "missed"
CONFIG_CHANGE = "config_change"
REVISED_DATA = "revised_data"
DIFFERENT_ENDING = "different_ending"
UNEXPLAINED = "unexplained"
CAUSES = (IDENTICAL, MISSED, CONFIG_CHANGE, REVISED_DATA, DIFFERENT_ENDING, UNEXPLAINED)

# Prices and pnl agree when they differ by at most this much relative to the larger magnitude
# (absolutely, below 1). Live evaluates a finite tail of candles (Strategy.latest_window), the
# backtest the whole history: their seeded averages differ by ~6e-9 of the seed's distance,
# far below this; a revised candle moves a price by far more.
TOLERANCE = 1e-8

OPEN = "open"  # a signal that has not ended (a live one is "active")
CANCELLED = "cancelled"


@dataclass(frozen=True)
class DriftSignal:
    """One signal as the live record or the backtest has it."""

    candle_time: pd.Timestamp
    direction: str
    entry: float
    stop_loss: float
    take_profit: float
    status: str = OPEN  # open, closed, expired (live also: cancelled)
    result: str = "none"
    close_price: float | None = None
    closed_at: pd.Timestamp | None = None
    pnl_percent: float | None = None
    fee_percent: float | None = None
    parameters: Mapping[str, Any] | None = None  # live: the parameters it fired with
    ambiguous: bool = False  # backtest: its deciding bar reached both levels

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "entry": self.entry,
            "stop_loss": self.stop_loss,
            "take_profit": self.take_profit,
            "status": self.status,
            "result": self.result,
            "close_price": self.close_price,
            "closed_at": None if self.closed_at is None else self.closed_at.isoformat(),
            "pnl_percent": self.pnl_percent,
        }


@dataclass(frozen=True)
class Comparison:
    """One candle of the period on which the live record, the backtest or both have a signal."""

    candle_time: pd.Timestamp
    cause: str
    detail: str
    live: DriftSignal | None
    backtest: DriftSignal | None


@dataclass(frozen=True)
class DriftReport:
    comparisons: tuple[Comparison, ...]  # by candle

    def counts(self) -> dict[str, int]:
        """Comparisons per cause, every cause listed."""
        counts = dict.fromkeys(CAUSES, 0)
        for comparison in self.comparisons:
            counts[comparison.cause] += 1
        return counts

    @property
    def unexplained(self) -> int:
        return self.counts()[UNEXPLAINED]


def candles_digest(candles: pd.DataFrame) -> str:
    """A fingerprint of a candle frame's bars (open times and every price and volume): what an
    analysis records of the candles it read, so a later change of any of them is seen."""
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex) or index.unit != "ns":
        index = pd.DatetimeIndex(index).as_unit("ns")
    # A store frame has exactly these columns in one block: no copy on the live path.
    prices = candles if list(candles.columns) == list(PRICE_COLUMNS) else candles[
        list(PRICE_COLUMNS)]
    digest = hashlib.blake2b(digest_size=16)
    digest.update(index.asi8.tobytes())
    digest.update(np.ascontiguousarray(prices.to_numpy(np.float64)))
    return digest.hexdigest()


def backtest_signals(result: BacktestResult) -> list[DriftSignal]:
    """Every signal of an every_signal backtest, ended or still open, by candle."""
    signals = [
        DriftSignal(
            candle_time=as_utc(row.signal_time), direction=str(row.direction),
            entry=float(row.entry), stop_loss=float(row.stop_loss),
            take_profit=float(row.take_profit), status=str(row.status), result=str(row.result),
            close_price=float(row.exit_price), closed_at=as_utc(row.exit_time),
            pnl_percent=float(row.pnl_percent), fee_percent=result.fee_percent,
            ambiguous=bool(row.refined) or row.exit_reason == "ambiguous",
        )
        for row in result.trades.itertuples(index=False)
    ]
    signals += [
        DriftSignal(candle_time=as_utc(row.signal_time), direction=str(row.direction),
                    entry=float(row.entry), stop_loss=float(row.stop_loss),
                    take_profit=float(row.take_profit))
        for row in result.open_trades.itertuples(index=False)
    ]
    return sorted(signals, key=lambda signal: signal.candle_time)


def compare(
    live: Iterable[DriftSignal],
    backtest: Iterable[DriftSignal],
    *,
    parameters: Mapping[str, Any],
    analysed: Mapping[pd.Timestamp, Sequence[Mapping[str, Any] | None]],
    revised: Callable[[pd.Timestamp, pd.Timestamp], str],
    start: pd.Timestamp,
    end: pd.Timestamp,
    tolerance: float = TOLERANCE,
) -> DriftReport:
    """Match live and backtest signals of candles in [start, end) and classify each candle.

    parameters: the backtest's strategy parameters. analysed: candle -> the parameters of each
    live analysis that ran the strategy on it (None: it ran with the strategy disabled); a
    candle absent was never analysed with it. revised(first, last): why the candles the live
    analyses of the candles from first to last read differ from the stored ones now, "" if
    they do not (an ending is decided on candles analysed after the signal's).
    """
    start, end = as_utc(start), as_utc(end)
    live_by_candle = {s.candle_time: s for s in live if start <= s.candle_time < end}
    backtest_by_candle = {s.candle_time: s for s in backtest if start <= s.candle_time < end}
    candles = sorted(live_by_candle.keys() | backtest_by_candle.keys())
    judge = _Judge(parameters, analysed, revised, tolerance)
    comparisons = []
    for candle in candles:
        live_signal, backtest_signal = live_by_candle.get(candle), backtest_by_candle.get(candle)
        cause, detail = judge.classify(candle, live_signal, backtest_signal)
        comparisons.append(Comparison(candle, cause, detail, live_signal, backtest_signal))
    return DriftReport(tuple(comparisons))


@dataclass
class _Judge:
    parameters: Mapping[str, Any]
    analysed: Mapping[pd.Timestamp, Sequence[Mapping[str, Any] | None]]
    revised: Callable[[pd.Timestamp, pd.Timestamp], str]
    tolerance: float

    def classify(self, candle: pd.Timestamp, live: DriftSignal | None,
                 backtest: DriftSignal | None) -> tuple[str, str]:
        if live is None:
            return self.backtest_only(candle)
        config = parameter_changes(live.parameters, self.parameters)
        if backtest is None:
            return self.explain(candle, config, "the backtest does not fire on this candle")
        levels = self.level_differences(live, backtest)
        if levels:
            return self.explain(candle, config, f"levels differ: {levels}")
        outcome = self.outcome_differences(live, backtest)
        if not outcome:
            return IDENTICAL, ""
        if config:
            return CONFIG_CHANGE, f"live ran with {config}; {outcome}"
        reason = ending_reason(live, backtest)
        if reason:
            return DIFFERENT_ENDING, f"{reason}; {outcome}"
        decided = max(moment for moment in (live.closed_at, backtest.closed_at) if moment)
        return self.explain(candle, "", outcome, until=decided)

    def backtest_only(self, candle: pd.Timestamp) -> tuple[str, str]:
        runs = self.analysed.get(candle, ())
        if not runs:
            return MISSED, "no live analysis ran this strategy on this candle"
        changes = [parameter_changes(run, self.parameters) for run in runs]
        if all(changes):
            return CONFIG_CHANGE, f"live ran with {changes[0]}"
        return self.explain(candle, "", "the live analysis of this candle did not fire")

    def explain(self, candle: pd.Timestamp, config: str, what: str,
                until: pd.Timestamp | None = None) -> tuple[str, str]:
        """A config change, revised data (of the candle's window, or up to `until` where the
        ending differs), or unexplained."""
        if config:
            return CONFIG_CHANGE, f"live ran with {config}; {what}"
        revision = self.revised(candle, until or candle)
        if revision:
            return REVISED_DATA, f"{revision}; {what}"
        return UNEXPLAINED, what

    def level_differences(self, live: DriftSignal, backtest: DriftSignal) -> str:
        if live.direction != backtest.direction:
            return f"direction {live.direction} live, {backtest.direction} in the backtest"
        return ", ".join(
            f"{name} {live_value!r} live, {backtest_value!r} in the backtest"
            for name, live_value, backtest_value in (
                ("entry", live.entry, backtest.entry),
                ("stop_loss", live.stop_loss, backtest.stop_loss),
                ("take_profit", live.take_profit, backtest.take_profit),
            )
            if not agree(live_value, backtest_value, self.tolerance)
        )

    def outcome_differences(self, live: DriftSignal, backtest: DriftSignal) -> str:
        differences = [
            f"{name} {live_value} live, {backtest_value} in the backtest"
            for name, live_value, backtest_value in (
                ("status", live.status, backtest.status),
                ("result", live.result, backtest.result),
                ("closed_at", live.closed_at, backtest.closed_at),
            )
            if live_value != backtest_value
        ]
        differences += [
            f"{name} {live_value!r} live, {backtest_value!r} in the backtest"
            for name, live_value, backtest_value in (
                ("close_price", live.close_price, backtest.close_price),
                ("pnl_percent", live.pnl_percent, backtest.pnl_percent),
            )
            if not agree(live_value, backtest_value, self.tolerance)
        ]
        return ", ".join(differences)


def ending_reason(live: DriftSignal, backtest: DriftSignal) -> str:
    """Why one signal ended differently live and in the backtest, if a known reason fits."""
    if live.status == CANCELLED:
        return "cancelled live"
    if live.status == OPEN and backtest.status != OPEN:
        return "not settled live yet"
    if live.status == OPEN or backtest.status == OPEN:
        return ""
    if backtest.ambiguous:
        return "its deciding bar reached both levels: finer candles settle it differently"
    same_exit = (live.status, live.result, live.closed_at) == (
        backtest.status, backtest.result, backtest.closed_at)
    if same_exit and live.fee_percent is not None and live.fee_percent != backtest.fee_percent:
        return f"fee {live.fee_percent}% a side live, {backtest.fee_percent}% in the backtest"
    return ""


def parameter_changes(used: Mapping[str, Any] | None, parameters: Mapping[str, Any]) -> str:
    """How parameters a live analysis used differ from the backtest's, "" if they do not."""
    if used is None:
        return "the strategy disabled"
    changes = [
        f"{name}={used.get(name)!r} (backtest {parameters.get(name)!r})"
        for name in sorted(used.keys() | parameters.keys())
        if used.get(name) != parameters.get(name)
    ]
    return ", ".join(changes)


def agree(a: float | None, b: float | None, tolerance: float = TOLERANCE) -> bool:
    """Equal within tolerance relative to the larger magnitude (absolute below 1)."""
    if a is None or b is None:
        return a is None and b is None
    if not (math.isfinite(a) and math.isfinite(b)):
        return a == b
    return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))
