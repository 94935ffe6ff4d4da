"""Parameter grids (strategies/grid.py): expansion within the schema, results equal to single
backtests, indicators computed once per distinct parameter set, ranking and heatmap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies import grid, indicators
from strategies.backtest import EVERY_SIGNAL, ONE_POSITION, run_backtest
from strategies.base import ParameterError
from strategies.breakout import Breakout
from strategies.mean_reversion import MeanReversion
from strategies.trend_following import TrendFollowing
from strategies.warmup import synthetic_candles


def random_walk(size: int, seed: int, freq: str = "15min",
                start: str = "2024-01-01") -> pd.DataFrame:
    return synthetic_candles(size, seed, step=0.004, freq=freq, start=start)


def test_ranges_include_their_stop_and_lists_keep_their_order():
    expanded = grid.expand_grid(MeanReversion, {"bb_period": "10:50:5",
                                                "bb_deviations": "1.5,2,2.5"}, max_sets=400)
    assert expanded.values == {"bb_period": [10, 15, 20, 25, 30, 35, 40, 45, 50],
                               "bb_deviations": [1.5, 2.0, 2.5]}
    assert len(expanded.parameter_sets) == 27
    assert expanded.parameter_sets[1] == {**MeanReversion().params, "bb_period": 10,
                                          "bb_deviations": 2.0}
    floats = grid.expand_grid(MeanReversion, {"stop_atr": "0.5:1.0:0.1"}, max_sets=400)
    assert floats.values["stop_atr"] == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


@pytest.mark.parametrize(("spec", "parameter", "reason"), [
    ({"bb_period": "1:10:1"}, "bb_period", "below the minimum"),
    ({"bb_period": [10, 900]}, "bb_period", "above the maximum"),
    ({"bb_period": "10:5:1"}, "bb_period", "below its start"),
    ({"bb_period": "10:20:0"}, "bb_period", "step > 0"),
    ({"bb_period": "10:20:2.5"}, "bb_period", "start:stop:step"),
    ({"bb_period": "ten"}, "bb_period", "expected int"),
    ({"window": [1, 2]}, "window", "unknown parameter"),
    ({}, "grid", "at least one parameter"),
    ({"bb_period": "2:200:1", "rsi_period": "2:200:1"}, "grid", "more than the limit"),
    ({"bb_period": "2:100000000:1"}, "bb_period", "more than the grid's limit"),
])
def test_bad_grids_name_the_parameter(spec, parameter, reason):
    with pytest.raises(ParameterError) as error:
        grid.expand_grid(MeanReversion, spec, max_sets=400)
    assert error.value.parameter == parameter
    assert reason in error.value.reason


def test_combinations_the_strategy_refuses_are_counted_not_run():
    expanded = grid.expand_grid(TrendFollowing, {"fast_period": [10, 20, 30],
                                                 "slow_period": [20, 40]}, max_sets=400)
    pairs = [(p["fast_period"], p["slow_period"]) for p in expanded.parameter_sets]
    assert pairs == [(10, 20), (10, 40), (20, 40), (30, 40)]
    assert expanded.refused == 2
    with pytest.raises(ParameterError, match="refuses every combination"):
        grid.expand_grid(TrendFollowing, {"fast_period": [60], "slow_period": [40]},
                         max_sets=400)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000),
       periods=st.lists(st.integers(5, 40), min_size=1, max_size=3, unique=True),
       deviations=st.lists(st.sampled_from([1.0, 1.5, 2.0, 2.5]), min_size=1, max_size=2,
                           unique=True),
       mode=st.sampled_from([EVERY_SIGNAL, ONE_POSITION]))
def test_each_set_gets_exactly_the_figures_of_its_own_backtest(seed, periods, deviations, mode):
    candles = random_walk(1500, seed)
    expanded = grid.expand_grid(MeanReversion, {"bb_period": periods,
                                                "bb_deviations": deviations,
                                                "rsi_oversold": [35.0, 45.0]}, max_sets=400)
    results = grid.evaluate_grid(MeanReversion, expanded.parameter_sets, candles,
                                 varied=expanded.varied, fee_percent=0.1, mode=mode)
    assert len(results) == len(expanded.parameter_sets)
    for parameters, result in zip(expanded.parameter_sets, results, strict=True):
        alone = run_backtest(MeanReversion(**parameters), candles, fee_percent=0.1, mode=mode)
        assert result.statistics == alone.statistics
        assert result.signals == alone.signals
        assert result.parameters == expanded.varied_of(parameters)


def test_each_distinct_indicator_parameter_set_is_computed_once(monkeypatch):
    calls: list[tuple] = []
    counting_get = grid.SharedIndicators.get

    def counted(self, function, args, kwargs):
        before = self.computed
        result = counting_get(self, function, args, kwargs)
        if self.computed > before:
            calls.append((function.__name__, *[a for a in args if not isinstance(a, np.ndarray)]))
        return result

    monkeypatch.setattr(grid.SharedIndicators, "get", counted)
    expanded = grid.expand_grid(Breakout, {"channel_period": [10, 20],
                                           "volume_factor": [1.2, 1.5, 2.0]}, max_sets=400)
    grid.evaluate_grid(Breakout, expanded.parameter_sets, random_walk(800, 3),
                       varied=expanded.varied)
    assert sorted(calls) == sorted([("donchian", 10), ("donchian", 20),
                                    ("volume_average", 20), ("sma", 20), ("atr", 14)])


def test_a_strategy_writing_into_a_shared_result_fails_loudly():
    candles = random_walk(300, 5)
    shared = grid.SharedIndicators(candles)
    with indicators.sharing_results(shared):
        bands = indicators.bollinger(candles["close"].to_numpy(), 20, 2.0)
        again = indicators.bollinger(candles["close"].to_numpy(), 20, 2.0)
        assert again is bands
        with pytest.raises(ValueError, match="read-only"):
            bands.upper[0] = 1.0
        # Derived arrays are not price columns: computed as usual, not shared.
        derived = candles["close"].to_numpy() * 2
        assert indicators.sma(derived, 5) is not indicators.sma(derived, 5)
    assert shared.computed == 1 and shared.reused == 1


def test_results_no_other_set_asks_for_are_not_kept_long():
    candles = random_walk(1000, 5)
    close = candles["close"].to_numpy()
    bands_bytes = 5 * close.nbytes  # Bollinger: five arrays of the frame's length
    # Room for one set's new results besides the current set's: one set's bands and RSI.
    shared = grid.SharedIndicators(candles, unproven_bytes=bands_bytes + close.nbytes)
    with indicators.sharing_results(shared):
        for deviations in (1.5, 2.0, 2.5):  # a set each, as a grid of the band width makes
            bands = indicators.bollinger(close, 20, deviations)
            strength = indicators.rsi(close, 14)
            shared.next_set()
    # The RSI every set asks for is kept; of the bands, only the last set's.
    assert list(shared.results) == [shared._key(indicators.rsi.__wrapped__, (close, 14), {})]
    assert [entry[0] is bands for entry in shared.unproven.values()] == [True]
    assert shared.size == bands_bytes + strength.nbytes
    assert (shared.computed, shared.reused) == (4, 2)


def test_a_grid_of_exits_only_computes_each_indicator_once():
    expanded = grid.expand_grid(MeanReversion, {"stop_atr": [1.0, 1.5, 2.0, 2.5]}, max_sets=10)
    counted = []
    original = grid.SharedIndicators.__init__

    def counting(self, *args, **kwargs):
        original(self, *args, **kwargs)
        counted.append(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grid.SharedIndicators, "__init__", counting)
        # No room for unproven results: a set's own are still there for the next set.
        patch.setattr(grid, "UNPROVEN_BYTES", 1)
        patch.setattr(grid, "UNPROVEN_ARRAYS", 0)
        grid.evaluate_grid(MeanReversion, expanded.parameter_sets, random_walk(800, 3),
                           varied=expanded.varied)
    # Bollinger, RSI and ATR once; the three later sets reuse all three.
    assert (counted[0].computed, counted[0].reused) == (3, 9)


def _row(period, deviation, trades, expectancy):
    return {"parameters": {"bb_period": period, "bb_deviations": deviation},
            "statistics": {"trades": trades, "expectancy_r": expectancy,
                           "max_drawdown_percent": None if expectancy is None else 1 + expectancy}}


def test_ranking_is_best_first_among_sets_with_enough_trades():
    rows = [_row(10, 1.5, 50, 0.1), _row(20, 1.5, 5, 0.9), _row(30, 1.5, 80, 0.3),
            _row(10, 2.0, 60, None), _row(20, 2.0, 40, -0.2)]
    ranked = grid.rank(rows, "expectancy_r", minimum_trades=30)
    assert [row["parameters"]["bb_period"] for row in ranked] == [30, 10, 20]
    lowest_drawdown = grid.rank(rows, "max_drawdown_percent", minimum_trades=30)
    assert [row["parameters"]["bb_period"] for row in lowest_drawdown] == [20, 10, 30]
    with pytest.raises(ParameterError) as error:
        grid.rank(rows, "luck")
    assert error.value.parameter == "metric"


def test_heatmap_places_each_metric_in_its_cell_and_leaves_thin_sets_empty():
    rows = [_row(10, 1.5, 50, 0.1), _row(20, 1.5, 5, 0.9), _row(10, 2.0, 60, 0.4)]
    xs, ys, matrix = grid.heatmap(rows, "bb_period", "bb_deviations", minimum_trades=30)
    assert xs == [10, 20] and ys == [1.5, 2.0]
    assert matrix[0, 0] == 0.1 and np.isnan(matrix[0, 1]) and matrix[1, 0] == 0.4
    with pytest.raises(ParameterError) as error:
        grid.heatmap(rows, "bb_period", "rsi_period")
    assert error.value.parameter == "rsi_period"
