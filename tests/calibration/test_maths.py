"""strategies.calibration without Django: activation earned on a learnable market and refused
on noise, the purged time order, features that never read a bar after the signal's, and the
probability figures of strategies.stats against hand computations."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import strategies
from strategies import calibration, stats
from strategies.base import SignalCandidate
from strategies.warmup import synthetic_candles
from tests.calibration.synthetic import synthetic_signals


@pytest.fixture(scope="module")
def learnable():
    return synthetic_signals(12_000, learnable=True, seed=3)


def random_walk(bars: int, seed: int) -> pd.DataFrame:
    return synthetic_candles(bars, seed, freq="1h", start="2025-01-01")


def test_learnable_market_is_activated_with_held_out_ece_below_005(learnable):
    result = calibration.train(learnable)
    assert result.activate, result.reason
    assert result.reason.startswith("activated")
    model = result.metrics["model"]
    assert model["ece"] < 0.05
    assert model["brier"] < result.metrics["base_rate"]["brier"]
    assert model["brier"] < result.metrics["heuristic"]["brier"]
    assert result.metrics["bootstrap"]["base_rate"]["lower_bound"] > 0
    assert result.calibration_method == "isotonic"  # 3,000 calibrating signals
    assert len(model["reliability"]) == 10
    assert sum(row["count"] for row in model["reliability"]) == result.counts["held_out"]


def test_pure_noise_is_rejected_with_the_reason():
    noise = synthetic_signals(6_000, learnable=False, seed=4)
    result = calibration.train(noise)
    assert not result.activate
    assert result.reason.startswith("rejected") and "does not beat the base rate" in result.reason
    assert result.metrics["bootstrap"]["base_rate"]["lower_bound"] <= 0


def test_too_few_signals_are_rejected_without_a_model():
    result = calibration.train(synthetic_signals(100, learnable=True))
    assert not result.activate and result.model is None
    assert "too few labelled signals: 100" in result.reason


def test_no_training_or_calibration_sample_ends_after_the_held_out_slice_begins(learnable):
    split = calibration.time_split(learnable["signal_time"], learnable["end_time"])
    start = stats.epoch_seconds(learnable["signal_time"])
    end = stats.epoch_seconds(learnable["end_time"])
    assert len(split.fit) and len(split.calibration) and len(split.held_out) and split.purged
    used = np.concatenate([split.fit, split.calibration])
    assert end[used].max() + split.embargo_seconds < split.held_out_start
    assert end[split.fit].max() + split.embargo_seconds < split.calibration_start
    assert start[split.calibration].min() >= split.calibration_start
    assert start[split.held_out].min() == split.held_out_start
    assert not set(split.fit) & set(split.calibration) | set(split.fit) & set(split.held_out)


def test_walk_forward_folds_train_only_on_outcomes_known_before_their_test_block(learnable):
    start = stats.epoch_seconds(learnable["signal_time"])
    end = stats.epoch_seconds(learnable["end_time"])
    folds = calibration.purged_folds(start, end, folds=3, embargo_seconds=3600.0)
    assert len(folds) == 3
    for train, test in folds:
        assert len(train) and end[train].max() + 3600.0 < start[test].min()


def test_moving_the_future_changes_nothing_before_it(learnable):
    before = calibration.train(learnable)
    split = calibration.time_split(learnable["signal_time"], learnable["end_time"])
    future = learnable.copy()
    held_out = future.index[split.held_out]
    future.loc[held_out, "won"] = ~future.loc[held_out, "won"]
    future.loc[held_out, "end_time"] += pd.Timedelta(days=30)
    moved = calibration.time_split(future["signal_time"], future["end_time"])
    after = calibration.train(future)

    for name in ("fit", "calibration", "held_out"):
        assert np.array_equal(getattr(split, name), getattr(moved, name))
    features = before.model.spec.matrix(learnable)
    assert np.array_equal(before.model.predict(features), after.model.predict(features))
    assert before.metrics["selection"] == after.metrics["selection"]
    assert before.data_hash != after.data_hash


def test_features_of_a_signal_use_no_bar_after_it():
    candles = random_walk(2_500, seed=5)
    cut = 1_800
    changed = candles.copy()
    changed.iloc[cut + 1:] = random_walk(len(candles) - cut - 1, seed=6).to_numpy() * (
        candles["close"].iloc[cut] / 100)
    for strategy_class in strategies.available().values():
        rows = [calibration.labelled_signals(strategy_class(), frame, asset="X", timeframe="1h",
                                             timeframe_seconds=3600)
                for frame in (candles, changed)]
        early = [table[table["signal_time"] <= candles.index[cut]] for table in rows]
        # Signals still open at the cut may end differently: only their labels may change.
        common = early[0].merge(early[1][["signal_time"]], on="signal_time")
        other = early[1].set_index("signal_time").loc[common["signal_time"]].reset_index()
        assert len(common) > 10
        features = [c for c in common.columns if c not in ("won", "end_time")]
        pd.testing.assert_frame_equal(common[features], other[features])


def test_a_live_candidate_gets_the_features_its_signal_has_in_training():
    candles = random_walk(2_000, seed=8)
    strategy = strategies.get("mean_reversion")()
    table = calibration.labelled_signals(strategy, candles, asset="X", timeframe="1h",
                                         timeframe_seconds=3600)
    spec = calibration.FeatureSpec.learn(table)
    for _, row in table.tail(5).iterrows():
        bar = candles.index.get_loc(row["signal_time"])
        candidate = strategy.latest(candles.iloc[:bar + 1])
        live = calibration.candidate_signals(candidate, "1h",
                                             candles["close"].to_numpy()[:bar + 1])
        np.testing.assert_allclose(spec.matrix(live)[0], spec.matrix(table.loc[[row.name]])[0],
                                   rtol=1e-7, atol=1e-9)


def test_reliability_table_matches_a_hand_computation():
    probabilities = [0.05, 0.15, 0.12, 0.55, 0.58, 1.0, 0.95]
    outcomes = [0, 1, 0, 1, 0, 1, 1]
    table = stats.reliability_table(probabilities, outcomes)
    assert [row["count"] for row in table] == [1, 2, 0, 0, 0, 2, 0, 0, 0, 2]
    assert table[1]["mean_probability"] == pytest.approx(0.135)
    assert table[1]["observed_rate"] == 0.5
    assert table[1]["brier"] == pytest.approx((0.85 ** 2 + 0.12 ** 2) / 2)
    assert table[2]["mean_probability"] is None and table[2]["brier"] is None
    assert table[9] == {"lower": 0.9, "upper": 1.0, "count": 2, "mean_probability": 0.975,
                        "observed_rate": 1.0, "brier": pytest.approx(0.00125)}
    # ECE: (1 * 0.05 + 2 * 0.365 + 2 * 0.065 + 2 * 0.025) / 7
    assert stats.expected_calibration_error(table) == pytest.approx(0.96 / 7)
    assert stats.brier_score(probabilities, outcomes) == pytest.approx(
        (0.05**2 + 0.85**2 + 0.12**2 + 0.45**2 + 0.58**2 + 0 + 0.05**2) / 7)


def test_probability_figures_refuse_values_outside_zero_and_one():
    with pytest.raises(ValueError):
        stats.reliability_table([1.2], [1])
    assert stats.brier_score([], []) is None
    assert stats.expected_calibration_error(stats.reliability_table([], [])) is None


def test_bootstrap_lower_bound_is_positive_only_for_a_better_model():
    rng = np.random.default_rng(0)
    chance = rng.uniform(0.1, 0.9, 2_000)
    outcomes = (rng.uniform(size=2_000) < chance).astype(float)
    base = np.full(2_000, outcomes.mean())
    better = calibration.bootstrap_brier_margin(outcomes, chance, base)
    worse = calibration.bootstrap_brier_margin(outcomes, base, chance)
    assert better["margin"] > 0 and better["lower_bound"] > 0
    assert worse["margin"] < 0 and worse["lower_bound"] < 0


def test_a_model_that_is_not_a_scaled_logistic_regression_scores_through_sklearn():
    signals = synthetic_signals(600, learnable=True, seed=9)
    spec = calibration.FeatureSpec.learn(signals)
    features = spec.matrix(signals)
    unscaled = LogisticRegression(max_iter=1000).fit(features, signals["won"])
    model = calibration.CalibratedModel(spec=spec, estimator=unscaled, method="sigmoid")
    calibration.fit_calibration(model, model.raw_scores(features), signals["won"])
    probabilities = model.predict(features)
    assert model.weights is None
    np.testing.assert_allclose(model.raw_scores(features), unscaled.predict_proba(features)[:, 1])
    assert ((probabilities > 0) & (probabilities < 1)).all()
    won = signals["won"].to_numpy()
    assert probabilities[won].mean() > probabilities[~won].mean()


def test_the_data_hash_changes_with_the_data_only(learnable):
    assert calibration.data_hash(learnable) == calibration.data_hash(learnable.copy())
    changed = learnable.copy()
    changed.loc[0, "confidence"] += 0.01
    assert calibration.data_hash(changed) != calibration.data_hash(learnable)


def test_candidate_signals_columns_are_read_by_the_feature_matrix():
    candidate = SignalCandidate(strategy="breakout", direction="short", entry=100.0,
                                stop_loss=102.0, take_profit=96.0, confidence=0.4,
                                candle_time=pd.Timestamp("2026-01-01", tz="UTC"),
                                indicators={"atr": 1.0, "volume_ratio": 2.0})
    columns = calibration.candidate_signals(candidate, "1h", np.linspace(90, 100, 150))
    spec = calibration.FeatureSpec(("breakout",), ("1h",), ("atr", "volume_ratio"))
    row = dict(zip(spec.names, spec.matrix(columns)[0], strict=True))
    assert row["side"] == -1 and row["reward_risk"] == 2.0 and row["strategy=breakout"] == 1
    assert row["ind.atr"] == 1.0 and row["ind.volume_ratio"] == 2.0
    assert row["trend_with_side"] < 0  # a rising market against a short
