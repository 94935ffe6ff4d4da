"""Walk-forward tests (strategies/walkforward.py): the windows, the embargo, no choice reads a
bar after its training window, and an edge tuned to noise vanishes out of sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strategies import grid as grids
from strategies.backtest import run_backtest
from strategies.base import RISK_PARAMETERS, Evaluation, Param, ParameterError, Strategy
from strategies.mean_reversion import MeanReversion
from strategies.walkforward import Window, WindowPlan, one_position_at_a_time, walk_forward
from tests.test_grid import random_walk


class NoiseTuned(Strategy):
    """Longs on the bars whose position modulo `period` is `phase`: pure noise, so the sets a
    training window likes were lucky there and nowhere else."""

    name = "noise_tuned"
    parameters = {
        "period": Param(int, 7, 2, 100, "bars between signals"),
        "phase": Param(int, 0, 0, 99, "which bar of the period fires"),
        **RISK_PARAMETERS,
    }

    @property
    def warmup_bars(self) -> int:
        return 1

    def evaluate(self, high, low, close, volume) -> Evaluation:
        bars = np.arange(len(close))
        long = bars % self.params["period"] == self.params["phase"]
        return Evaluation(long=long, short=np.zeros(len(close), bool),
                          confidence=np.ones(len(close)), atr=close * 0.004, indicators={})


def test_rolling_and_anchored_windows_tile_the_history_after_the_first_training_window():
    rolling = WindowPlan(train_bars=100, test_bars=50, embargo_bars=10).windows(300)
    assert rolling == [Window(0, 0, 100, 110, 160), Window(1, 50, 150, 160, 210),
                       Window(2, 100, 200, 210, 260), Window(3, 150, 250, 260, 300)]
    anchored = WindowPlan(train_bars=100, test_bars=50, embargo_bars=10, anchored=True)
    assert [w.train_start for w in anchored.windows(300)] == [0, 0, 0, 0]
    assert [w.train_end for w in anchored.windows(300)] == [100, 150, 200, 250]


@pytest.mark.parametrize(("fields", "parameter"), [
    ({"train_bars": 100, "test_bars": 50, "embargo_bars": 47}, "embargo_bars"),
    ({"train_bars": 1, "test_bars": 50, "embargo_bars": None}, "train_bars"),
    ({"train_bars": 100, "test_bars": 0, "embargo_bars": None}, "test_bars"),
    ({"train_bars": 100.5, "test_bars": 50, "embargo_bars": None}, "train_bars"),
])
def test_a_bad_plan_names_its_field(fields, parameter):
    with pytest.raises(ParameterError) as error:
        WindowPlan.checked(**fields, anchored=False, expiry_bars=48)
    assert error.value.parameter == parameter
    assert WindowPlan.checked(train_bars=100, test_bars=50, embargo_bars=None, anchored=False,
                              expiry_bars=48).embargo_bars == 48


def noise_walk(candles: pd.DataFrame, plan: WindowPlan, minimum_trades: int = 5,
               mode: str = "every_signal"):
    grid = grids.expand_grid(NoiseTuned, {"period": "5:9:1", "phase": "0:3:1",
                                          "expiry_bars": [8]}, max_sets=400)
    return walk_forward(NoiseTuned, grid, candles, plan, metric="expectancy_r",
                        minimum_trades=minimum_trades, fee_percent=0.0,
                        mode=mode, timeframe_seconds=900)


def test_an_edge_tuned_to_noise_vanishes_out_of_sample():
    candles = random_walk(6000, 12)
    report = noise_walk(candles, WindowPlan(train_bars=400, test_bars=400, embargo_bars=8))
    in_sample = [window.in_sample["expectancy_r"] for window in report.windows]
    out_of_sample = [window.out_of_sample["expectancy_r"] for window in report.windows]
    # The best of 20 noise sets looks good on its training windows (about 50 trades each)...
    assert report.in_sample["expectancy_r"] > 0.15
    # ...and is worth about nothing after them, over some 700 stitched trades.
    assert report.out_of_sample["trades"] == len(report.trades) > 500
    assert report.out_of_sample["expectancy_r"] < 0.1
    assert report.out_of_sample["expectancy_r"] < report.in_sample["expectancy_r"] - 0.12
    assert np.mean(out_of_sample) < np.mean(in_sample) - 0.1


def test_a_windows_choice_never_depends_on_a_later_bar():
    candles = random_walk(5000, 3)
    plan = WindowPlan(train_bars=1200, test_bars=600, embargo_bars=8)
    before = noise_walk(candles, plan)
    changed = candles.copy()
    cut = before.windows[2].window.train_end  # everything from here on is rewritten
    # Another random walk from the cut on: every later bar changes, no earlier one.
    changed.iloc[cut:, :4] = random_walk(len(changed) - cut, 1234).iloc[:, :4].to_numpy()
    assert changed.iloc[:cut].equals(candles.iloc[:cut])
    after = noise_walk(changed, plan)
    for old, new in zip(before.windows[:3], after.windows[:3], strict=True):
        assert new.parameters == old.parameters and new.in_sample == old.in_sample
    # The later windows did see the change: the future is not ignored, only not peeked at.
    assert [(w.parameters, w.in_sample) for w in after.windows[3:]] != [
        (w.parameters, w.in_sample) for w in before.windows[3:]]


def test_test_trades_fire_after_the_embargo_and_inside_their_window():
    candles = random_walk(4000, 5)
    plan = WindowPlan(train_bars=1000, test_bars=500, embargo_bars=30)
    report = noise_walk(candles, plan)
    signal_bars = report.trades["signal_bar"].to_numpy()
    tests = [(w.window.test_start, w.window.test_end) for w in report.windows]
    assert all(any(start <= bar < end for start, end in tests) for bar in signal_bars)
    for window in report.windows:
        assert window.window.test_start - window.window.train_end == 30
        inside = signal_bars[(signal_bars >= window.window.test_start)
                             & (signal_bars < window.window.test_end)]
        assert len(inside) == window.out_of_sample["trades"]
        # Let the training window's signals run on: every one has ended before the test window.
        chosen = NoiseTuned(**window.parameters)
        ran_on = run_backtest(chosen, candles.iloc[window.window.train_start:
                                                   window.window.test_start])
        train_bars = window.window.train_end - window.window.train_start
        trained = ran_on.trades[ran_on.trades["signal_bar"] < train_bars]
        assert len(trained) and (ran_on.open_trades["signal_bar"] >= train_bars).all()
        assert (trained["exit_bar"] + window.window.train_start < window.window.test_start).all()


def test_one_position_at_a_time_is_the_engines_one_position_rule():
    candles = random_walk(3000, 9)
    strategy = NoiseTuned(period=3, phase=0)  # a signal every 3 bars: most fire while one is open
    every = run_backtest(strategy, candles).trades
    engine = run_backtest(strategy, candles, mode="one_position").trades
    ended = len(candles) - strategy.expiry_bars  # signals before it have all ended

    def bars(trades):
        return trades.loc[trades["signal_bar"] < ended, ["signal_bar", "exit_bar"]].reset_index(
            drop=True)

    pd.testing.assert_frame_equal(bars(one_position_at_a_time(every)), bars(engine))
    assert len(bars(engine)) < len(bars(every))


def test_one_position_walk_forward_holds_one_trade_at_a_time_across_windows():
    candles = random_walk(4000, 5)
    plan = WindowPlan(train_bars=600, test_bars=300, embargo_bars=8)
    report = noise_walk(candles, plan, mode="one_position")
    trades = report.trades
    assert len(trades) > 20
    assert (trades["signal_bar"].to_numpy()[1:] >= trades["exit_bar"].to_numpy()[:-1]).all()
    # The first window starts flat: its first test signal is taken, whatever fired on the
    # history bars before it.
    first = report.windows[0]
    chosen = NoiseTuned(**{**first.parameters, "expiry_bars": 8})
    history = max(0, first.window.test_start - chosen.latest_window)  # as the walk reads it
    signals = chosen.signal_arrays(candles.iloc[history:]).bars + history
    assert trades["signal_bar"].iloc[0] == signals[signals >= first.window.test_start][0]


def test_without_enough_trades_a_window_chooses_nothing_and_does_not_trade():
    candles = random_walk(3000, 8)
    report = noise_walk(candles, WindowPlan(train_bars=1000, test_bars=1000, embargo_bars=8),
                        minimum_trades=10_000)
    assert all(w.parameters is None and w.out_of_sample is None for w in report.windows)
    assert report.trades.empty and report.out_of_sample["trades"] == 0


def test_real_strategies_walk_forward_with_their_own_warm_up():
    candles = random_walk(3000, 4)
    grid = grids.expand_grid(MeanReversion, {"bb_period": [10, 20], "expiry_bars": [12]},
                             max_sets=400)
    report = walk_forward(MeanReversion, grid, candles,
                          WindowPlan(train_bars=1000, test_bars=500, embargo_bars=12),
                          metric="win_rate", minimum_trades=3, timeframe_seconds=900)
    assert len(report.windows) == 4
    assert all(w.parameters["bb_period"] in (10, 20) for w in report.windows if w.parameters)
