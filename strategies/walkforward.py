"""Walk-forward tests: choose parameters on a training window, trade them on the next window only.

Plain Python, no Django. Windows are bar positions in one candle frame, ends exclusive:

    train [train_start, train_end) | embargo [train_end, test_start) | test [test_start, test_end)

Each next window moves on by test_bars, so the test windows tile the history after the first
training window. Rolling windows keep train_bars of training; anchored ones all start at bar 0.

- The choice: every set of the grid is backtested on the training window's candles alone
  (strategies/grid.py) and the best by the metric, among sets with at least minimum_trades
  trades, is chosen. Nothing after train_end is read, so a window's choice never depends on a
  later bar (tests/test_walkforward.py changes the future and sees the choices unchanged).
- The embargo: at least the sets' expiry_bars between the two windows, so a training signal
  could not still be open when the test window starts (it has expired by then).
- The test: the chosen set traded on the test window: its signals firing on test bars, with the
  bars before as the indicators' history (no decisions are taken on them) and the bars after
  only to settle trades still open at the window's end, as they would have been. Without a
  chosen set (no set had enough trades) the window does not trade. In one_position mode the
  position is carried across windows: a test signal fired while the trade taken before it
  (in this window or the one before) is open is skipped, as backtest.py's rule says; a signal
  on the history bars never holds a position.
- The report: the stitched out-of-sample trades and their statistics (strategies/stats.py via
  backtest_statistics) next to the in-sample figures of the chosen sets: the gap is the
  overfitting. In-sample windows overlap when rolling, so only per-trade figures are pooled.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from strategies import stats
from strategies.backtest import (
    EVERY_SIGNAL,
    ONE_POSITION,
    backtest_statistics,
    run_backtest,
)
from strategies.base import ParameterError, Strategy
from strategies.grid import Grid, evaluate_grid, rank

# The pooled in-sample report: the per-trade figures (the portfolio of overlapping windows
# would count a trade several times).
IN_SAMPLE_FIGURES = ("trades", *stats.SignalFigures.__dataclass_fields__)


@dataclass(frozen=True)
class Window:
    number: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


@dataclass(frozen=True)
class WindowPlan:
    train_bars: int
    test_bars: int
    embargo_bars: int
    anchored: bool = False

    @classmethod
    def checked(cls, *, train_bars: Any, test_bars: Any, embargo_bars: Any, anchored: Any,
                expiry_bars: int) -> WindowPlan:
        """ParameterError names a bad field; the embargo defaults to expiry_bars."""
        if embargo_bars is None:
            embargo_bars = expiry_bars
        for name, value, least in (("train_bars", train_bars, 2), ("test_bars", test_bars, 1),
                                   ("embargo_bars", embargo_bars, expiry_bars)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ParameterError(name, "must be a whole number of bars")
            if value < least:
                if name == "embargo_bars":
                    raise ParameterError(name, "must be at least the strategy's expiry_bars "
                                         "(%(least)s), so a training signal cannot end inside "
                                         "the test window", least=least)
                raise ParameterError(name, "must be at least %(least)s", least=least)
        if not isinstance(anchored, bool):
            raise ParameterError("anchored", "must be true or false")
        return cls(int(train_bars), int(test_bars), int(embargo_bars), anchored)

    def windows(self, bars: int) -> list[Window]:
        """The windows over `bars` bars; the last test window may be shorter."""
        windows = []
        test_start = self.train_bars + self.embargo_bars
        while test_start < bars:
            train_end = test_start - self.embargo_bars
            train_start = 0 if self.anchored else train_end - self.train_bars
            windows.append(Window(
                number=len(windows), train_start=train_start, train_end=train_end,
                test_start=test_start,
                test_end=min(test_start + self.test_bars, bars)))
            test_start += self.test_bars
        return windows


@dataclass(frozen=True)
class WindowResult:
    window: Window
    times: dict[str, pd.Timestamp]  # the windows' bounds as bar open times (ends exclusive)
    parameters: dict[str, Any] | None  # the chosen set's varied parameters; None: no trades
    in_sample: dict[str, Any] | None  # the chosen set's statistics on its training window
    out_of_sample: dict[str, Any] | None  # its statistics on the test window
    candidates: int  # sets with enough trades to be chosen

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self.window),
                **{name: moment.isoformat() for name, moment in self.times.items()},
                "parameters": self.parameters, "candidates": self.candidates,
                "in_sample": self.in_sample, "out_of_sample": self.out_of_sample}


@dataclass(frozen=True)
class WalkForwardReport:
    windows: list[WindowResult]
    trades: pd.DataFrame  # the stitched out-of-sample trades, bars as positions in the frame
    out_of_sample: dict[str, Any]
    in_sample: dict[str, Any]


def walk_forward(strategy_class: type[Strategy], grid: Grid, candles: pd.DataFrame,
                 plan: WindowPlan, *, metric: str, minimum_trades: int,
                 fee_percent: float = 0.0, mode: str = EVERY_SIGNAL,
                 timeframe_seconds: int, progress: Callable[[int, int], None] | None = None
                 ) -> WalkForwardReport:
    """Every window of plan over candles: choose on train, trade on test; stitch the tests."""
    windows = plan.windows(len(candles))
    if not windows:
        raise ValueError(f"{len(candles)} candles hold no test window after "
                         f"{plan.train_bars} training and {plan.embargo_bars} embargo bars")
    options = {"fee_percent": fee_percent, "mode": mode, "timeframe_seconds": timeframe_seconds}
    index = candles.index
    results, stitched, chosen_in_sample = [], [], []
    free_from = 0  # one_position: the bar the last trade taken ended on
    for window in windows:
        train = candles.iloc[window.train_start:window.train_end]
        rows = [result.to_dict() for result in evaluate_grid(
            strategy_class, grid.parameter_sets, train, varied=grid.varied, **options)]
        ranked = rank(rows, metric, minimum_trades)
        parameters = in_sample = out_of_sample = None
        if ranked:
            best = ranked[0]
            parameters, in_sample = best["parameters"], best["statistics"]
            full = next(sets for sets, row in zip(grid.parameter_sets, rows, strict=True)
                        if row is best)
            strategy = strategy_class(**full)
            chosen_in_sample.append(run_backtest(strategy, train, curve=False, **options).trades)
            trades = out_of_sample_trades(strategy, candles, window, options)
            if mode == ONE_POSITION:
                trades = one_position_at_a_time(trades, free_from)
                free_from = int(trades["exit_bar"].iloc[-1]) if len(trades) else free_from
            stitched.append(trades)
            out_of_sample = period_statistics(trades, index, window.test_start,
                                              window.test_end, timeframe_seconds)
        results.append(WindowResult(
            window=window, parameters=parameters, in_sample=in_sample,
            out_of_sample=out_of_sample, candidates=len(ranked),
            times={"train_from": index[window.train_start], "train_to": index[window.train_end],
                   "test_from": index[window.test_start],
                   "test_to": bar_after(index, window.test_end, timeframe_seconds)}))
        if progress is not None:
            progress(window.number + 1, len(windows))
    # No window chose a set: the empty trades table of a one-bar backtest (its columns' types).
    trades = (pd.concat(stitched, ignore_index=True) if stitched
              else run_backtest(strategy_class(**grid.parameter_sets[0]), candles.iloc[:1],
                                **options).trades)
    out_of_sample = period_statistics(trades, index, windows[0].test_start, windows[-1].test_end,
                                      timeframe_seconds)
    pooled = (pd.concat(chosen_in_sample, ignore_index=True) if chosen_in_sample
              else trades.iloc[:0])
    in_sample_figures = backtest_statistics(pooled, index[:0], timeframe_seconds)
    return WalkForwardReport(windows=results, trades=trades, out_of_sample=out_of_sample,
                             in_sample={name: in_sample_figures[name]
                                        for name in IN_SAMPLE_FIGURES})


def out_of_sample_trades(strategy: Strategy, candles: pd.DataFrame, window: Window,
                options: dict[str, Any]) -> pd.DataFrame:
    """The chosen strategy's trades of every signal firing in the test window, bars as positions
    in candles: earlier bars only as indicator history, later ones only to settle open trades.
    (Every signal: one_position's choice is made across windows, one_position_at_a_time.)"""
    history = max(0, window.test_start - strategy.latest_window)
    settle_end = min(len(candles), window.test_end + strategy.expiry_bars)
    every_signal = {**options, "mode": EVERY_SIGNAL}
    trades = run_backtest(strategy, candles.iloc[history:settle_end], curve=False,
                          **every_signal).trades
    trades = trades.assign(signal_bar=trades["signal_bar"] + history,
                           exit_bar=trades["exit_bar"] + history)
    taken = (trades["signal_bar"] >= window.test_start) & (trades["signal_bar"] < window.test_end)
    return trades[taken].reset_index(drop=True)


def one_position_at_a_time(trades: pd.DataFrame, free_from: int = 0) -> pd.DataFrame:
    """The trades a trader holding one position at a time takes, by backtest.py's one_position
    rule: a signal fired while the last taken trade is open is skipped; one fired on the bar
    that trade ended on is taken. free_from: the bar a trade taken before these ended on."""
    taken = []
    for position, (signal_bar, exit_bar) in enumerate(
            zip(trades["signal_bar"], trades["exit_bar"], strict=True)):
        if signal_bar >= free_from:
            taken.append(position)
            free_from = exit_bar
    return trades.iloc[taken].reset_index(drop=True)


def period_statistics(trades: pd.DataFrame, index: pd.DatetimeIndex, first: int, last: int,
                      timeframe_seconds: int) -> dict[str, Any]:
    """backtest_statistics of trades over bars [first, last) and any later bar they ended on."""
    end = max(last, int(trades["exit_bar"].max()) + 1 if len(trades) else last)
    return backtest_statistics(trades, index[first:end], timeframe_seconds)


def bar_after(index: pd.DatetimeIndex, position: int, timeframe_seconds: int) -> pd.Timestamp:
    """The open time of bar `position` (the moment a window ending there ends)."""
    if position < len(index):
        return index[position]
    return index[-1] + pd.Timedelta(seconds=timeframe_seconds)

