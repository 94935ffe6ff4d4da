"""Backtests on exactly the live ending rules: plain Python, no Django.

A strategy's vectorised signals(candles) gives every bar that fires; each signal enters at the
close of that bar and ends on the bars after it by the live rules of strategies.lifecycle:
settle_signals() runs settle_path() (the function settle() itself runs) over the whole history
in one compiled pass, and the few trades whose deciding bar reached both levels are handed to
refine() itself with the finer candles of that bar, when they are given. Every trade therefore
carries exactly what settle() (and refine()) return for that signal on the same candles:
tests/test_backtest.py proves it trade by trade on random candle paths.

Modes:
- every_signal: every signal, overlapping allowed: what the live record counts.
- one_position: at most one open signal at a time, as a trader following the strategy would:
  a signal fired while another is open is skipped; one fired on the bar where the open one
  ended is taken (the exit happened inside that bar, the entry is at its close).

A signal still open when the candles run out is not a trade: it is listed in open_trades.

Known divergence from backtesting.py (trade_on_close=True, sl/tp orders): when a bar opens beyond
the target and its low (a long; high for a short) also reaches the stop, backtesting.py processes
the stop order first and books a loss at the stop; the live rules book a win at the bar's open,
the price a resting order would have filled at. Everything else matches backtesting.py trade for
trade: tests/test_backtest_parity.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from strategies import stats
from strategies.base import Strategy
from strategies.lifecycle import (
    AMBIGUOUS,
    ENDING_REASON,
    ENDING_RESULT,
    ENDING_STATUS,
    GAP_STOP,
    GAP_TARGET,
    LONG,
    OPEN,
    SHORT,
    SKIPPED,
    Outcome,
    net_pnl_percent,
    r_multiple,
    refine,
    settle_path,
    settle_signals,
)

EVERY_SIGNAL = "every_signal"
ONE_POSITION = "one_position"
MODES = (EVERY_SIGNAL, ONE_POSITION)

# The trades table, in this order. pnl_percent is net of fees on both sides; r is pnl over the
# planned risk; bars_held counts the bars after the signal's bar up to the deciding one;
# exit_reason is target, stop, gap, ambiguous or expiry; status is closed or expired (settle's);
# refined says finer candles settled a bar that reached both levels.
TRADE_COLUMNS = (
    "signal_bar", "signal_time", "direction", "entry", "stop_loss", "take_profit", "exit_bar",
    "exit_time", "exit_price", "status", "result", "pnl_percent", "r", "bars_held",
    "exit_reason", "refined",
)
OPEN_TRADE_COLUMNS = ("signal_bar", "signal_time", "direction", "entry", "stop_loss",
                      "take_profit")


@dataclass(frozen=True)
class BacktestResult:
    """trades (TRADE_COLUMNS), open_trades (OPEN_TRADE_COLUMNS), and equity: one row per candle,
    equity (starting at 1.0, each trade compounded at the close of its exit bar with `stake` of
    the equity) and drawdown_percent (below the running peak, <= 0)."""

    trades: pd.DataFrame
    open_trades: pd.DataFrame
    equity: pd.DataFrame | None  # None when run without the curve
    statistics: dict[str, Any]
    mode: str
    fee_percent: float
    signals: int  # every signal the strategy fired, taken or not


def run_backtest(strategy: Strategy, candles: pd.DataFrame, *, fee_percent: float = 0.0,
                 mode: str = EVERY_SIGNAL, timeframe_seconds: int | None = None,
                 finer: pd.DataFrame | None = None, finer_seconds: int | None = None,
                 stake: float = 1.0, curve: bool = True) -> BacktestResult:
    """Backtest strategy on candles (the strategy interface's frame: UTC bar open times, sorted).

    timeframe_seconds defaults to the smallest step of the index. finer (with finer_seconds) are
    candles of a finer timeframe used by refine() on bars that reached both levels. curve=False
    leaves out the equity per candle (result.equity is None; every figure is the same): a grid
    ranks figures, and a million-bar curve per set is most of a set's memory traffic.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not fee_percent >= 0:
        raise ValueError(f"fee_percent must be >= 0, got {fee_percent}")
    if not 0 < stake <= 1:
        raise ValueError(f"stake must be in (0, 1], got {stake}")
    if finer is not None and not finer_seconds:
        raise ValueError("finer candles need finer_seconds")
    index = _utc_index(candles.index)
    if timeframe_seconds is None:
        timeframe_seconds = _smallest_step_seconds(index)

    signals = strategy.signal_arrays(candles)
    opens, highs, lows, closes = (
        np.ascontiguousarray(candles[column].to_numpy(dtype=np.float64))
        for column in ("open", "high", "low", "close"))
    endings, exit_bars, prices = settle_signals(
        opens, highs, lows, closes, signals.bars, signals.sides, signals.entry,
        signals.stop_loss, signals.take_profit, strategy.expiry_bars, mode == ONE_POSITION)

    still_open = endings == OPEN
    bars = signals.bars[still_open]
    open_trades = pd.DataFrame({
        "signal_bar": bars,
        "signal_time": index[bars],
        "direction": _directions(signals.sides[still_open]),
        "entry": signals.entry[still_open],
        "stop_loss": signals.stop_loss[still_open],
        "take_profit": signals.take_profit[still_open],
    }, columns=list(OPEN_TRADE_COLUMNS))

    ended = (endings != OPEN) & (endings != SKIPPED)
    endings, exit_bars, prices = endings[ended], exit_bars[ended], prices[ended]
    bars, sides = signals.bars[ended], signals.sides[ended]
    entries, stops = signals.entry[ended], signals.stop_loss[ended]
    pnl = net_pnl_percent(sides, entries, prices, fee_percent)
    gap = (endings == GAP_STOP) | (endings == GAP_TARGET)
    trades = pd.DataFrame({
        "signal_bar": bars,
        "signal_time": index[bars],
        "direction": _directions(sides),
        "entry": entries,
        "stop_loss": stops,
        "take_profit": signals.take_profit[ended],
        "exit_bar": exit_bars,
        "exit_time": index[exit_bars] + pd.to_timedelta(
            np.where(gap, 0, timeframe_seconds), unit="s"),
        "exit_price": prices,
        "status": _labels(ENDING_STATUS, endings),
        "result": _labels(ENDING_RESULT, endings),
        "pnl_percent": pnl,
        "r": r_multiple(pnl, entries, stops),
        "bars_held": exit_bars - bars,
        "exit_reason": _labels(ENDING_REASON, endings),
        "refined": np.zeros(len(bars), dtype=bool),
    }, columns=list(TRADE_COLUMNS))
    if finer is not None and (endings == AMBIGUOUS).any():
        _refine_ambiguous(trades, candles, finer, fee_percent, int(finer_seconds),
                          timeframe_seconds)

    equity = equity_curve(trades, index, stake) if curve else None
    return BacktestResult(trades=trades, open_trades=open_trades, equity=equity,
                          statistics=backtest_statistics(trades, index, timeframe_seconds, stake),
                          mode=mode,
                          fee_percent=fee_percent, signals=len(signals.bars))


def equity_curve(trades: pd.DataFrame, index: pd.DatetimeIndex, stake: float = 1.0
                 ) -> pd.DataFrame:
    """Equity per candle, from 1.0, each trade compounded at its exit bar's close with stake
    of the equity; drawdown_percent is the fall below the running peak in percent (<= 0)."""
    factors = 1.0 + stake * trades["pnl_percent"].to_numpy(dtype=np.float64) / 100.0
    equity, drawdown = _equity_kernel(len(index), trades["exit_bar"].to_numpy(dtype=np.int64),
                                      factors)
    # Fresh arrays: the frame can own them without the copy of a consolidating constructor.
    return pd.DataFrame({"equity": equity, "drawdown_percent": drawdown}, index=index,
                        copy=False)


@njit(cache=True)
def _equity_kernel(size, exit_bars, factors):  # pragma: no cover (compiled)
    equity = np.ones(size)  # first each bar's product of factors, then the running product
    for k in range(len(exit_bars)):
        equity[exit_bars[k]] *= factors[k]
    drawdown = np.empty(size)
    value, peak = 1.0, 1.0
    for bar in range(size):
        value *= equity[bar]
        peak = max(peak, value)
        equity[bar], drawdown[bar] = value, (value / peak - 1.0) * 100.0
    return equity, drawdown


def backtest_statistics(trades: pd.DataFrame, index: pd.DatetimeIndex, timeframe_seconds: int,
                        stake: float = 1.0) -> dict[str, Any]:
    """The performance endpoint's figures (strategies/stats.py) of these trades over the
    period of the candles whose open times are index, the capital staking `stake` on each:
    so compounded_return_percent and max_drawdown_percent are the equity curve's."""
    bar = pd.Timedelta(seconds=timeframe_seconds)
    ended = pd.DataFrame({
        "entry_time": trades["signal_time"] + bar,  # entry at the signal bar's close
        "exit_time": trades["exit_time"],
        "pnl_percent": trades["pnl_percent"],
        "r_multiple": trades["r"],
        "result": np.where(trades["result"] == "none", "expired", trades["result"].astype(str)),
    })
    start, end = (index[0], index[-1] + bar) if len(index) else (0.0, 0.0)
    return {"trades": len(trades),
            **stats.summarize(ended, start, end, stake_fraction=stake).as_dict()}


def _refine_ambiguous(trades: pd.DataFrame, candles: pd.DataFrame, finer: pd.DataFrame,
                      fee_percent: float, finer_seconds: int, timeframe_seconds: int) -> None:
    """Hand the trades whose deciding bar reached both levels to refine(), the live function,
    with the finer candles inside that bar (as the live evaluator reads them from the store)."""
    finer_index = _utc_index(finer.index)
    bar_length = pd.Timedelta(seconds=timeframe_seconds)
    columns = {name: trades.columns.get_loc(name) for name in TRADE_COLUMNS}
    for row in np.flatnonzero(trades["exit_reason"].to_numpy() == ENDING_REASON[AMBIGUOUS]):
        trade = trades.iloc[row]
        closed_at = trade["exit_time"]
        first, last = finer_index.searchsorted([closed_at - bar_length, closed_at])
        window = finer.iloc[first:last]
        outcome = Outcome(status="closed", result="loss", close_price=trade["exit_price"],
                          closed_at=closed_at, pnl=trade["pnl_percent"], r_multiple=trade["r"],
                          bars=int(trade["bars_held"]), ambiguous=True,
                          bar_prices=tuple(float(candles[column].iloc[trade["exit_bar"]])
                                           for column in ("open", "high", "low", "close")),
                          source=candles.attrs.get("source"))
        refined = refine(outcome, trade["direction"], trade["entry"], trade["stop_loss"],
                         trade["take_profit"], window, fee_percent, finer_seconds,
                         timeframe_seconds)
        if refined is outcome or refined.refine_rejected:
            continue  # the stop stands, as live
        # The same compiled rule names how the finer bars ended it.
        ending = settle_path(
            1 if trade["direction"] == LONG else -1, float(trade["entry"]),
            float(trade["stop_loss"]), float(trade["take_profit"]),
            *(np.ascontiguousarray(window[column].to_numpy(dtype=np.float64))
              for column in ("open", "high", "low", "close")), 0, len(window))[0]
        for name, value in (("exit_time", refined.closed_at), ("exit_price", refined.close_price),
                            ("result", refined.result), ("pnl_percent", refined.pnl),
                            ("r", refined.r_multiple), ("exit_reason", ENDING_REASON[ending]),
                            ("refined", True)):
            trades.iat[row, columns[name]] = value


def _labels(names: tuple[str, ...], endings: np.ndarray) -> pd.Categorical:
    """Names of ending codes as a categorical column: compact for tens of thousands of trades."""
    categories = list(dict.fromkeys(names))
    codes = np.array([categories.index(name) for name in names], dtype=np.int8)
    return pd.Categorical.from_codes(codes[endings], categories=categories)


def _directions(sides: np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes((sides < 0).astype(np.int8), categories=[LONG, SHORT])


def _utc_index(index: pd.Index) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(index)
    if index.tz is None:
        return index.tz_localize("UTC")
    return index if str(index.tz) == "UTC" else index.tz_convert("UTC")


def _smallest_step_seconds(index: pd.DatetimeIndex) -> int:
    if len(index) < 2:
        raise ValueError("timeframe_seconds is needed with fewer than two candles")
    return int((index[1:] - index[:-1]).min().total_seconds())
