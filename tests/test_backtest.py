"""Backtests on the live ending rules: each trade equals what settle() and refine() return."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies.backtest import (
    OPEN_TRADE_COLUMNS,
    TRADE_COLUMNS,
    backtest_statistics,
    run_backtest,
)
from strategies.base import RISK_PARAMETERS, Evaluation, Strategy
from strategies.lifecycle import ENDING_REASON, refine, settle
from strategies.mean_reversion import MeanReversion

START = pd.Timestamp("2024-03-01 00:00", tz="UTC")
HOUR = 3600
QUARTER = 900


class Scripted(Strategy):
    """Fires where told: longs and shorts are bar numbers; stop and target sit stop_atr and
    target_atr ATRs from the close, with an ATR of `atr_percent` of the close."""

    name = "scripted"
    parameters = dict(RISK_PARAMETERS)

    def __init__(self, longs=(), shorts=(), atr_percent=1.0, **params) -> None:
        super().__init__(**params)
        self.longs, self.shorts, self.atr_percent = list(longs), list(shorts), atr_percent

    @property
    def warmup_bars(self) -> int:
        return 1

    def evaluate(self, high, low, close, volume) -> Evaluation:
        long, short = np.zeros(len(close), bool), np.zeros(len(close), bool)
        long[self.longs], short[self.shorts] = True, True
        return Evaluation(long=long, short=short, confidence=np.ones(len(close)),
                          atr=close * self.atr_percent / 100.0, indicators={})


def candles(*bars: tuple[float, float, float, float], start=START, freq="h") -> pd.DataFrame:
    """Bars from (open, high, low, close) tuples."""
    index = pd.date_range(start, periods=len(bars), freq=freq)
    frame = pd.DataFrame(bars, index=index, columns=["open", "high", "low", "close"], dtype=float)
    frame["volume"] = 1.0
    return frame


def scripted(longs=(), shorts=(), expiry_bars=10) -> Scripted:
    # A close of 100 gives stop 95 and target 110 for a long (105 and 90 for a short).
    return Scripted(longs, shorts, stop_atr=5.0, target_atr=10.0, expiry_bars=expiry_bars)


def live_outcome(trade: pd.Series, path: pd.DataFrame, expiry_bars: int, fee_percent: float,
                 seconds: int, finer: pd.DataFrame | None = None, finer_seconds: int = 0):
    """What the live evaluator records: settle() on the candles after the signal's bar, then
    refine() on the finer candles inside an ambiguous deciding bar (signals/lifecycle.py)."""
    outcome = settle(trade["direction"], trade["entry"], trade["stop_loss"], trade["take_profit"],
                     path[path.index > trade["signal_time"]], expiry_bars, fee_percent, seconds)
    if outcome is not None and outcome.ambiguous and finer is not None:
        bar_open = outcome.closed_at - pd.Timedelta(seconds=seconds)
        inside = finer[(finer.index >= bar_open) & (finer.index < outcome.closed_at)]
        outcome = refine(outcome, trade["direction"], trade["entry"], trade["stop_loss"],
                         trade["take_profit"], inside, fee_percent, finer_seconds, seconds)
    return outcome


def assert_trade_is_live(trade: pd.Series, outcome) -> None:
    assert outcome is not None
    assert (trade["status"], trade["result"]) == (outcome.status, outcome.result)
    assert trade["exit_time"] == outcome.closed_at
    assert trade["exit_price"] == outcome.close_price
    assert trade["pnl_percent"] == outcome.pnl
    assert trade["r"] == outcome.r_multiple
    assert trade["bars_held"] == outcome.bars
    assert (trade["exit_reason"] == "ambiguous") == outcome.ambiguous


def only_trade(path, strategy, **options) -> pd.Series:
    result = run_backtest(strategy, path, **options)
    assert len(result.trades) == 1
    return result.trades.iloc[0]


SIGNAL_BAR = (100, 100, 100, 100)


@pytest.mark.parametrize(("name", "path", "reason", "result", "price"), [
    ("target", [(100, 104, 99, 103), (103, 111, 102, 108)], "target", "win", 110.0),
    ("stop", [(100, 101, 96, 97), (97, 98, 94, 96)], "stop", "loss", 95.0),
    ("gap through the stop", [(100, 101, 99, 100), (92, 93, 90, 91)], "gap", "loss", 92.0),
    ("gap through the target", [(100, 101, 99, 100), (113, 115, 112, 114)], "gap", "win", 113.0),
    ("both levels in one bar", [(100, 112, 94, 105)], "ambiguous", "loss", 95.0),
    ("expiry", [(100, 102, 98, 101), (101, 103, 99, 102), (102, 104, 100, 103)],
     "expiry", "none", 103.0),
    ("hit on the expiry bar", [(100, 102, 98, 101), (101, 103, 99, 102), (102, 111, 100, 109)],
     "target", "win", 110.0),
])
def test_a_long_trade_ends_as_the_live_evaluator_ends_it(name, path, reason, result, price):
    path = candles(SIGNAL_BAR, *path)
    trade = only_trade(path, scripted(longs=[0], expiry_bars=3), fee_percent=0.1)
    assert (trade["exit_reason"], trade["result"], trade["exit_price"]) == (reason, result, price)
    assert_trade_is_live(trade, live_outcome(trade, path, 3, 0.1, HOUR))


@pytest.mark.parametrize(("path", "reason", "result", "price"), [
    ([(100, 101, 95, 96), (96, 97, 89, 90)], "target", "win", 90.0),
    ([(100, 106, 99, 104)], "stop", "loss", 105.0),
    ([(100, 106, 89, 95)], "ambiguous", "loss", 105.0),
    ([(108, 109, 107, 108)], "gap", "loss", 108.0),
    ([(88, 89, 85, 86)], "gap", "win", 88.0),
])
def test_a_short_trade_is_mirrored(path, reason, result, price):
    path = candles(SIGNAL_BAR, *path)
    trade = only_trade(path, scripted(shorts=[0]))
    assert (trade["direction"], trade["exit_reason"], trade["result"], trade["exit_price"]) == (
        "short", reason, result, price)
    assert_trade_is_live(trade, live_outcome(trade, path, 10, 0.0, HOUR))


def test_finer_candles_settle_a_bar_that_reached_both_levels():
    path = candles(SIGNAL_BAR, (100, 112, 94, 105))
    # The target is reached in the second quarter hour, the stop only in the third.
    finer = candles((100, 104, 99, 103), (103, 112, 102, 108), (108, 109, 94, 100),
                    (100, 106, 99, 105), start=START + pd.Timedelta(hours=1), freq="15min")
    result = run_backtest(scripted(longs=[0]), path, finer=finer, finer_seconds=QUARTER)
    trade = result.trades.iloc[0]
    assert (trade["result"], trade["exit_price"], trade["exit_reason"], trade["refined"]) == (
        "win", 110.0, "target", True)
    assert trade["exit_time"] == START + pd.Timedelta(hours=1, minutes=30)
    assert_trade_is_live(trade, live_outcome(trade, path, 10, 0.0, HOUR, finer, QUARTER))


def test_a_bar_with_a_finer_candle_missing_keeps_the_stop():
    path = candles(SIGNAL_BAR, (100, 112, 94, 105))
    finer = candles((100, 104, 99, 103), (103, 111, 102, 108), (108, 109, 94, 100),
                    start=START + pd.Timedelta(hours=1), freq="15min")
    trade = run_backtest(scripted(longs=[0]), path, finer=finer, finer_seconds=QUARTER
                         ).trades.iloc[0]
    assert (trade["result"], trade["exit_reason"], trade["refined"]) == (
        "loss", "ambiguous", False)
    assert_trade_is_live(trade, live_outcome(trade, path, 10, 0.0, HOUR, finer, QUARTER))


def test_a_signal_still_open_when_the_candles_end_is_not_a_trade():
    path = candles(SIGNAL_BAR, (100, 104, 99, 103), (103, 105, 101, 104))
    result = run_backtest(scripted(longs=[0, 1]), path)
    assert result.trades.empty
    assert list(result.open_trades.columns) == list(OPEN_TRADE_COLUMNS)
    assert result.open_trades["signal_bar"].tolist() == [0, 1]


def test_every_signal_takes_overlapping_signals():
    path = candles(SIGNAL_BAR, SIGNAL_BAR, (100, 104, 99, 100), (100, 111, 99, 108))
    trades = run_backtest(scripted(longs=[0, 1, 2]), path).trades
    assert trades["signal_bar"].tolist() == [0, 1, 2]
    assert trades["exit_bar"].tolist() == [3, 3, 3]


def test_one_position_skips_signals_while_one_is_open_and_takes_one_on_its_exit_bar():
    path = candles(SIGNAL_BAR, SIGNAL_BAR, (100, 104, 99, 103), (103, 111, 102, 100),
                   (100, 101, 99, 100), (100, 111, 99, 108))
    result = run_backtest(scripted(longs=[0, 1, 2, 3, 4]), path, mode="one_position")
    # 0 ends on bar 3 (target); 1 and 2 fire while it is open; 3 fires on its exit bar.
    assert result.trades["signal_bar"].tolist() == [0, 3]
    assert result.trades["exit_bar"].tolist() == [3, 5]
    assert result.signals == 5


def test_one_position_holds_a_signal_open_at_the_end_until_the_end():
    path = candles(SIGNAL_BAR, (100, 104, 99, 103), (103, 105, 101, 104))
    result = run_backtest(scripted(longs=[0, 1, 2]), path, mode="one_position")
    assert result.trades.empty
    assert result.open_trades["signal_bar"].tolist() == [0]


def test_the_equity_curve_compounds_each_trade_at_its_exit_bar():
    path = candles(SIGNAL_BAR, (100, 111, 99, 108), (108, 109, 94, 100), (100, 101, 99, 100),
                   (100, 101, 94, 96))
    result = run_backtest(scripted(longs=[1, 3]), path, mode="one_position", fee_percent=0.5)
    # Bar 1 (entry 108, stop 102.6) ends at its stop on bar 2; bar 3 at 95 on bar 4.
    first = 1 + (102.6 - 108) / 108 - 0.01
    assert result.equity["equity"].tolist() == pytest.approx(
        [1.0, 1.0, first, first, first * (1 - 0.05 - 0.01)])
    assert result.equity["drawdown_percent"].iloc[-1] == pytest.approx(
        (first * 0.94 - 1) * 100)
    assert result.equity.index.equals(path.index)


def test_statistics_are_computed_from_the_trades_and_the_equity():
    path = candles(SIGNAL_BAR, (100, 111, 99, 108), (108, 109, 94, 100), (100, 101, 99, 100),
                   (100, 102, 98, 101))
    result = run_backtest(scripted(longs=[0, 3], expiry_bars=1), path, mode="one_position")
    assert result.statistics == backtest_statistics(result.trades, path.index, 3600)
    # Without the per-candle curve (a grid's sets): the same figures.
    assert run_backtest(scripted(longs=[0, 3], expiry_bars=1), path, mode="one_position",
                        curve=False).statistics == result.statistics
    stats = result.statistics
    assert (stats["trades"], stats["winning_signals"], stats["losing_signals"],
            stats["expired_signals"]) == (2, 1, 0, 1)
    assert stats["win_rate"] == 1.0  # expiries are neither wins nor losses
    # The figures of strategies/stats.py, staking the whole capital: the equity curve's.
    assert stats["compounded_return_percent"] == pytest.approx((1.1 * 1.01 - 1) * 100)
    assert stats["compounded_return_percent"] == pytest.approx(
        (result.equity["equity"].iloc[-1] - 1) * 100)
    assert stats["max_drawdown_percent"] == 0.0


def test_the_trades_table_has_the_documented_columns():
    path = candles(SIGNAL_BAR, (100, 111, 99, 108))
    assert list(run_backtest(scripted(longs=[0]), path).trades.columns) == list(TRADE_COLUMNS)


@pytest.mark.parametrize(("option", "value"), [
    ("mode", "all_of_them"), ("fee_percent", -0.1), ("stake", 0.0), ("stake", 1.5),
])
def test_bad_options_are_refused(option, value):
    with pytest.raises(ValueError, match=option.split("_")[0]):
        run_backtest(scripted(longs=[0]), candles(SIGNAL_BAR, SIGNAL_BAR), **{option: value})


def test_a_registered_strategy_backtests_on_real_shaped_data():
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 600)))
    open_ = np.r_[close[0], close[:-1]] * (1 + rng.normal(0, 0.002, 600))
    frame = pd.DataFrame({
        "open": open_, "close": close,
        "high": np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, 600)),
        "low": np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, 600)),
        "volume": 1.0,
    }, index=pd.date_range(START, periods=600, freq="h"))
    strategy = MeanReversion(expiry_bars=12)
    result = run_backtest(strategy, frame, fee_percent=0.05)
    assert len(result.trades) + len(result.open_trades) == len(strategy.signals(frame)) > 5
    for _, trade in result.trades.iterrows():
        assert_trade_is_live(trade, live_outcome(trade, frame, 12, 0.05, HOUR))


# Random paths: finer quarter-hour bars with occasional gaps, aggregated into exact hourly bars.
@st.composite
def market(draw):
    hours = draw(st.integers(2, 30))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    count = hours * 4
    moves = rng.normal(0, draw(st.sampled_from([0.002, 0.01, 0.03])), count)
    gaps = rng.normal(0, 0.02, count) * (rng.random(count) < 0.1)
    close = 100 * np.exp(np.cumsum(moves + gaps))
    open_ = np.r_[100.0, close[:-1]] * np.exp(gaps)
    spread = rng.uniform(0, 0.01, (2, count))
    finer = pd.DataFrame({
        "open": open_, "high": np.maximum(open_, close) * (1 + spread[0]),
        "low": np.minimum(open_, close) * (1 - spread[1]), "close": close, "volume": 1.0,
    }, index=pd.date_range(START, periods=count, freq="15min"))
    hourly = finer.resample("h").agg({"open": "first", "high": "max", "low": "min",
                                      "close": "last", "volume": "sum"})
    if draw(st.booleans()):  # a missing finer candle leaves that hour unrefined
        finer = finer.drop(finer.index[draw(st.integers(0, count - 1))])
    fired = draw(st.lists(st.tuples(st.integers(0, hours - 1), st.booleans()), max_size=12))
    longs = sorted({bar for bar, is_long in fired if is_long})
    shorts = sorted({bar for bar, is_long in fired if not is_long} - set(longs))
    strategy = Scripted(longs, shorts, atr_percent=draw(st.sampled_from([0.3, 1.0, 2.0])),
                        stop_atr=draw(st.sampled_from([0.5, 1.0, 2.0])),
                        target_atr=draw(st.sampled_from([0.5, 1.5, 3.0])),
                        expiry_bars=draw(st.integers(1, 8)))
    return hourly, finer, strategy


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market(), st.sampled_from(["every_signal", "one_position"]),
       st.sampled_from([0.0, 0.1]))
def test_every_trade_equals_the_live_outcome_on_random_paths(data, mode, fee):
    hourly, finer, strategy = data
    result = run_backtest(strategy, hourly, fee_percent=fee, mode=mode, finer=finer,
                          finer_seconds=QUARTER, timeframe_seconds=HOUR)
    for _, trade in result.trades.iterrows():
        assert_trade_is_live(trade, live_outcome(trade, hourly, strategy.expiry_bars, fee, HOUR,
                                                 finer, QUARTER))
    for _, signal in result.open_trades.iterrows():
        assert live_outcome(signal, hourly, strategy.expiry_bars, fee, HOUR) is None
    taken = result.trades["signal_bar"].tolist() + result.open_trades["signal_bar"].tolist()
    fired = sorted(set(strategy.longs) | set(strategy.shorts))
    if mode == "every_signal":
        assert sorted(taken) == fired
    else:
        # Each taken signal fires at or after the previous one's exit bar, and none is skipped
        # that was free to be taken.
        exits = dict(zip(result.trades["signal_bar"], result.trades["exit_bar"], strict=True))
        free_from = 0
        for bar in fired:
            assert (bar in taken) == (bar >= free_from)
            if bar >= free_from:
                free_from = exits.get(bar, math.inf)


def test_exit_reasons_are_the_documented_ones():
    assert set(ENDING_REASON) == {"open", "target", "stop", "gap", "ambiguous", "expiry"}


@pytest.mark.parametrize("name", ["breakout", "mean_reversion", "trend_following"])
def test_signal_arrays_are_the_signals_table(name):
    from strategies import get

    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 800)))
    frame = pd.DataFrame({
        "open": np.r_[100.0, close[:-1]], "close": close, "high": close * 1.004,
        "low": close * 0.996, "volume": rng.lognormal(5, 1, 800),
    }, index=pd.date_range(START, periods=800, freq="h"))
    strategy = get(name)(adx_minimum=0.0) if name != "mean_reversion" else get(name)()
    table, arrays = strategy.signals(frame), strategy.signal_arrays(frame)
    assert len(table) > 3
    assert frame.index[arrays.bars].equals(table.index)
    assert (np.where(arrays.sides > 0, "long", "short") == table["direction"].to_numpy()).all()
    for column in ("entry", "stop_loss", "take_profit"):
        assert np.array_equal(getattr(arrays, column), table[column].to_numpy())
