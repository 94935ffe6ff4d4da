"""Calibrated probabilities that a signal reaches its target: plain Python, no Django.

The pieces, each used by training (calibration/services.py, bench/calibration.py) and, where
it applies, by serving a live signal (calibration/serving.py):

- labelled_signals(): every signal of a history with its features and label, from the
  backtest engine in every_signal mode (the live ending rules). Label: won (reached its target)
  against not (stopped or expired). Features use the signal's bar and the bars before it only.
- FeatureSpec: the feature matrix of signals (training) or of one candidate (serving), the
  same code for both.
- time_split() and purged_folds(): time-ordered slices. A signal's label is known only when it
  ends, so a sample whose outcome window (entry to end) reaches into a later slice is purged,
  and an embargo adds a gap after it. The newest slice is held out: never fitted, never used
  to calibrate.
- train(): model choice by walk-forward purged folds, calibration on the newest slice before
  the held-out one, held-out metrics beside the base rate's and the heuristic's, a bootstrap of
  the Brier margins, and the activation decision with its reason.

The probability figures (Brier, log loss, reliability table, ECE) are strategies/stats.py's.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from strategies import stats
from strategies.backtest import EVERY_SIGNAL, run_backtest
from strategies.base import SignalCandidate, Strategy

# Bumped when a feature's definition changes: the data hash then changes and a retrain runs.
FEATURE_VERSION = 1

# Regime windows, in bars up to and including the signal's bar.
VOLATILITY_BARS = 20  # short-term volatility: std of log returns
BASELINE_BARS = 100  # the volatility it is compared with (a regime ratio)
TREND_BARS = 50  # trend: log distance of the close from its simple mean, in volatilities
REGIME_BARS = BASELINE_BARS + 1  # closes needed for one bar's regime
REGIME_COLUMNS = ("volatility", "volatility_ratio", "trend")

# How each stored indicator becomes scale-free (prices differ by orders of magnitude across
# assets): a price level as its signed distance from the entry in ATRs, a price difference in
# ATRs, the ATR in percent of the entry, bounded oscillators as fractions. A key not listed
# here is not a feature.
LEVEL, DIFFERENCE, PERCENT_OF_ENTRY, FRACTION, RATIO = range(5)
INDICATOR_SCALES = {
    "ema_fast": LEVEL, "ema_slow": LEVEL, "bb_upper": LEVEL, "bb_middle": LEVEL,
    "bb_lower": LEVEL, "channel_upper": LEVEL, "channel_lower": LEVEL,
    "macd": DIFFERENCE, "macd_signal": DIFFERENCE, "macd_histogram": DIFFERENCE,
    "atr": PERCENT_OF_ENTRY,
    "rsi": FRACTION, "adx": FRACTION,
    "percent_b": RATIO, "volume_ratio": RATIO,
}
FEATURE_LIMIT = 50.0  # features are clipped to +-this: one absurd value must not dominate

# Slices: newest share held out, the share before it that calibrates, the rest fits.
HELD_OUT_FRACTION = 0.25
CALIBRATION_FRACTION = 0.25
EMBARGO_FRACTION = 0.01  # of the whole period, a gap after each purged slice boundary
SELECTION_FOLDS = 3
LOGISTIC_STRENGTHS = (0.01, 0.1, 1.0)  # inverse L2 strengths (C) the folds choose from
MIN_SIGNALS = 300  # fewer labelled signals than this: no version is fitted
MIN_SLICE = 50  # each of fit, calibration and held-out needs this many, with both outcomes
ISOTONIC_MIN_SAMPLES = 1000  # smaller calibration slices get a sigmoid (isotonic overfits them)
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_LEVEL = 0.95  # one-sided: the margin's lower bound at this level must be above 0
# Served probabilities stay this far from 0 and 1: no signal is certain.
PROBABILITY_FLOOR = 0.001
TRAINING_THREADS = 1


# ---- labelled signals and their features ----


def regime_at(close: np.ndarray, bars: np.ndarray) -> dict[str, np.ndarray]:
    """Volatility, volatility ratio and trend at each of bars, from that bar and the
    REGIME_BARS - 1 before it only (NaN with fewer). The same arithmetic for a history's
    signal bars and for the last bar of a live analysis."""
    bars = np.asarray(bars, dtype=np.int64)
    windows = np.full((len(bars), REGIME_BARS), np.nan)
    enough = bars >= REGIME_BARS - 1
    if len(close) >= REGIME_BARS and enough.any():
        windows[enough] = sliding_window_view(close, REGIME_BARS)[bars[enough] - REGIME_BARS + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        returns = np.diff(np.log(windows), axis=1)
        volatility = returns[:, -VOLATILITY_BARS:].std(axis=1, ddof=1)
        baseline = returns.std(axis=1, ddof=1)
        mean = windows[:, -TREND_BARS:].mean(axis=1)
        trend = np.log(windows[:, -1] / mean) / (volatility * math.sqrt(TREND_BARS))
        return {"volatility": volatility, "volatility_ratio": volatility / baseline,
                "trend": trend}


def labelled_signals(strategy: Strategy, candles: pd.DataFrame, *, asset: str, timeframe: str,
                     timeframe_seconds: int, fee_percent: float = 0.0) -> pd.DataFrame:
    """Every signal of the history that has ended, one row each, in signal order.

    Columns: asset, strategy, timeframe, direction, confidence, entry, stop_loss, take_profit,
    one `ind.<key>` per stored indicator, the REGIME_COLUMNS, signal_time (the bar's open),
    end_time (when its outcome was known) and won (reached its target). Signals still open
    when the candles run out have no label and are left out.
    """
    table = strategy.signals(candles)
    result = run_backtest(strategy, candles, fee_percent=fee_percent, mode=EVERY_SIGNAL,
                          timeframe_seconds=timeframe_seconds)
    trades = result.trades
    rows = table.index.get_indexer(trades["signal_time"])
    if (rows < 0).any():  # the engine and signals() scan the same bars: a bug if not
        raise RuntimeError("backtest trades do not match the strategy's signals")
    signals = table.iloc[rows].reset_index(drop=True)
    indicator_keys = [c for c in table.columns if c not in ("direction", "entry", "stop_loss",
                                                            "take_profit", "confidence")]
    close = candles["close"].to_numpy(dtype=np.float64)
    regime = regime_at(close, trades["signal_bar"].to_numpy())
    frame = pd.DataFrame({
        "asset": asset,
        "strategy": strategy.name,
        "timeframe": timeframe,
        "direction": signals["direction"].astype(str).to_numpy(),
        "confidence": signals["confidence"].to_numpy(dtype=float),
        "entry": signals["entry"].to_numpy(dtype=float),
        "stop_loss": signals["stop_loss"].to_numpy(dtype=float),
        "take_profit": signals["take_profit"].to_numpy(dtype=float),
        **{f"ind.{key}": signals[key].to_numpy(dtype=float) for key in indicator_keys},
        **regime,
        "signal_time": trades["signal_time"].to_numpy(),
        "end_time": trades["exit_time"].to_numpy(),
        "won": (trades["result"].astype(str) == "win").to_numpy(),
    })
    return frame


def candidate_signals(candidate: SignalCandidate, timeframe: str,
                      close: np.ndarray) -> dict[str, np.ndarray]:
    """One live candidate as the columns FeatureSpec.matrix() reads, its regime measured on
    close (the analysed closes, the candidate's bar last), as labelled_signals() measures it."""
    close = np.asarray(close, dtype=np.float64)[-REGIME_BARS:]
    regime = regime_at(close, np.array([len(close) - 1]))
    return {
        "strategy": np.array([candidate.strategy]),
        "timeframe": np.array([timeframe]),
        "direction": np.array([candidate.direction]),
        "confidence": np.array([candidate.confidence]),
        "entry": np.array([candidate.entry]),
        "stop_loss": np.array([candidate.stop_loss]),
        "take_profit": np.array([candidate.take_profit]),
        **{f"ind.{key}": np.array([value]) for key, value in candidate.indicators.items()},
        **regime,
    }


def combine(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Labelled signals of many series as one table in time order (ties in a fixed order)."""
    tables = [table for table in tables if len(table)]
    if not tables:
        return pd.DataFrame(columns=["signal_time", "end_time", "won"])
    frame = pd.concat(tables, ignore_index=True)
    order = np.lexsort((frame["strategy"].to_numpy(dtype=str), frame["asset"].to_numpy(dtype=str),
                        frame["timeframe"].to_numpy(dtype=str), frame["signal_time"].to_numpy()))
    return frame.take(order).reset_index(drop=True)


@dataclass(frozen=True)
class FeatureSpec:
    """Which categories and indicators the features cover, learnt from the training signals;
    matrix() turns signals (a DataFrame, or a mapping of equal-length arrays) into features."""

    strategies: tuple[str, ...]
    timeframes: tuple[str, ...]
    indicators: tuple[str, ...]

    @classmethod
    def learn(cls, signals: pd.DataFrame) -> FeatureSpec:
        keys = sorted(c[4:] for c in signals.columns
                      if c.startswith("ind.") and c[4:] in INDICATOR_SCALES)
        return cls(strategies=tuple(sorted(pd.unique(signals["strategy"].astype(str)))),
                   timeframes=tuple(sorted(pd.unique(signals["timeframe"].astype(str)))),
                   indicators=tuple(keys))

    @property
    def names(self) -> list[str]:
        return ["confidence", "side", "reward_risk", "stop_in_volatilities", "log_volatility",
                "volatility_ratio", "trend_with_side",
                *(f"strategy={name}" for name in self.strategies),
                *(f"timeframe={name}" for name in self.timeframes),
                *(f"ind.{key}" for key in self.indicators)]

    def matrix(self, signals: Mapping[str, Any]) -> np.ndarray:
        """Features, one row per signal, in the order of names."""
        side = np.where(np.asarray(signals["direction"]) == "long", 1.0, -1.0)
        entry = np.asarray(signals["entry"], dtype=float)
        stop = np.asarray(signals["stop_loss"], dtype=float)
        target = np.asarray(signals["take_profit"], dtype=float)
        volatility = np.asarray(signals["volatility"], dtype=float)
        strategy = np.asarray(signals["strategy"])
        timeframe = np.asarray(signals["timeframe"])
        missing = np.full(len(entry), np.nan)
        atr = np.asarray(signals.get("ind.atr", missing), dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            columns = [
                np.asarray(signals["confidence"], dtype=float),
                side,
                np.abs(target - entry) / np.abs(entry - stop),
                np.abs(entry - stop) / entry / volatility,
                np.log(volatility),
                np.asarray(signals["volatility_ratio"], dtype=float),
                side * np.asarray(signals["trend"], dtype=float),
                *((strategy == name).astype(float) for name in self.strategies),
                *((timeframe == name).astype(float) for name in self.timeframes),
            ]
            for key in self.indicators:
                value = np.asarray(signals.get(f"ind.{key}", missing), dtype=float)
                scale = INDICATOR_SCALES[key]
                if scale == LEVEL:
                    value = side * (value - entry) / atr
                elif scale == DIFFERENCE:
                    value = side * value / atr
                elif scale == PERCENT_OF_ENTRY:
                    value = value / entry * 100.0
                elif scale == FRACTION:
                    value = value / 100.0
                columns.append(value)
        features = np.column_stack(columns) if columns else np.empty((len(entry), 0))
        # A missing value (an indicator another strategy stores, too short a history) is 0.
        return np.clip(np.nan_to_num(features, nan=0.0, posinf=0.0, neginf=0.0),
                       -FEATURE_LIMIT, FEATURE_LIMIT)


def data_hash(signals: pd.DataFrame) -> str:
    """sha256 of the labelled signals (and FEATURE_VERSION): equal data, equal hash."""
    digest = hashlib.sha256(f"features v{FEATURE_VERSION}".encode())
    columns = sorted(signals.columns)
    digest.update(",".join(columns).encode())
    if len(signals):
        hashed = pd.util.hash_pandas_object(signals[columns], index=False)
        digest.update(hashed.to_numpy().tobytes())
    return digest.hexdigest()


# ---- time-ordered slices ----


def epoch_seconds(values) -> np.ndarray:
    return stats.epoch_seconds(values)


@dataclass(frozen=True)
class Split:
    """Row positions of each slice and the moments that bound them (epoch seconds)."""

    fit: np.ndarray
    calibration: np.ndarray
    held_out: np.ndarray
    calibration_start: float
    held_out_start: float
    embargo_seconds: float
    purged: int  # samples left out because their outcome reached into a later slice


def time_split(signal_times: np.ndarray, end_times: np.ndarray, *,
               held_out_fraction: float = HELD_OUT_FRACTION,
               calibration_fraction: float = CALIBRATION_FRACTION,
               embargo_fraction: float = EMBARGO_FRACTION) -> Split:
    """Newest held_out_fraction of the signals held out; of those whose outcome was known
    (end + embargo) before the held-out slice began, the newest calibration_fraction
    calibrates, and those known before the calibration slice began fit."""
    start, end = epoch_seconds(signal_times), epoch_seconds(end_times)
    count = len(start)
    if count == 0:
        empty = np.empty(0, dtype=np.int64)
        return Split(empty, empty, empty, math.nan, math.nan, 0.0, 0)
    order = np.argsort(start, kind="stable")
    # From the signal times only: moving later outcomes must not move an earlier boundary.
    embargo = embargo_fraction * float(start.max() - start.min())
    held_out_start = start[order[min(count - 1, int(count * (1 - held_out_fraction)))]]
    held_out = np.flatnonzero(start >= held_out_start)
    pool = np.flatnonzero((start < held_out_start) & (end + embargo < held_out_start))
    if len(pool):
        pool = pool[np.argsort(start[pool], kind="stable")]
        calibration_start = start[pool[min(len(pool) - 1,
                                           int(len(pool) * (1 - calibration_fraction)))]]
    else:
        calibration_start = held_out_start
    calibration = pool[start[pool] >= calibration_start]
    fit = pool[(start[pool] < calibration_start) & (end[pool] + embargo < calibration_start)]
    purged = count - len(held_out) - len(calibration) - len(fit)
    return Split(fit, calibration, held_out, float(calibration_start), float(held_out_start),
                 embargo, purged)


def purged_folds(signal_times: np.ndarray, end_times: np.ndarray, folds: int = SELECTION_FOLDS,
                 embargo_seconds: float = 0.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Walk-forward folds: the samples in time order cut into folds + 1 blocks; fold k tests
    block k and trains on the samples whose outcome was known (end + embargo) before it."""
    start, end = epoch_seconds(signal_times), epoch_seconds(end_times)
    order = np.argsort(start, kind="stable")
    blocks = np.array_split(order, folds + 1)
    result = []
    for block in blocks[1:]:
        if not len(block):
            continue
        test_start = start[block].min()
        train = np.flatnonzero((start < test_start) & (end + embargo_seconds < test_start))
        result.append((train, np.sort(block)))
    return result


# ---- models ----


@dataclass(frozen=True)
class Candidate:
    """A classifier to try: its name and how to build it."""

    name: str
    build: Callable[[], Any]


def default_candidates(seed: int = 0) -> list[Candidate]:
    """L2-regularised logistic regressions at three strengths; the folds pick one.

    Gradient boosting (gradient_boosting_candidate) is not among them, by the numbers of
    bench/calibration.py: on the demo market's labelled signals and on the synthetic ones its
    fold Brier score is worse than the best logistic regression's (0.2271 against 0.2186 and
    0.1699 against 0.1650), one fit on 100,000 signals takes about 10 times longer (1 to 2 s
    against 0.1 s on one thread, 24 to 31 s on all threads of the busy 2-core machine), and
    scoring one signal takes 0.8 to 1.3 ms against 0.1 ms. A calibration map over a linear
    score is also easy to read.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def logistic(c: float) -> Candidate:
        return Candidate(f"logistic_regression(C={c})", lambda: make_pipeline(
            StandardScaler(), LogisticRegression(C=c, max_iter=1000)))

    return [logistic(c) for c in LOGISTIC_STRENGTHS]


def gradient_boosting_candidate(seed: int = 0) -> Candidate:
    """The alternative the bench measures against the logistic regressions."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return Candidate("gradient_boosting(150 trees, 15 leaves)",
                     lambda: HistGradientBoostingClassifier(
                         max_iter=150, learning_rate=0.05, max_leaf_nodes=15,
                         min_samples_leaf=100, l2_regularization=1.0,
                         early_stopping=False, random_state=seed))


@dataclass
class CalibratedModel:
    """A fitted classifier and the calibration map of its scores to probabilities.

    A scaled logistic regression is folded into one weight vector, so scoring one signal is a
    dot product and an interpolation (well under a millisecond); other models use sklearn.
    """

    spec: FeatureSpec
    estimator: Any
    method: str  # "isotonic" or "sigmoid"
    calibration_x: np.ndarray = field(default_factory=lambda: np.empty(0))  # isotonic knots
    calibration_y: np.ndarray = field(default_factory=lambda: np.empty(0))
    sigmoid: tuple[float, float] = (1.0, 0.0)  # slope, intercept on the score's log-odds
    weights: np.ndarray | None = None
    bias: float = 0.0

    def __post_init__(self) -> None:
        steps = getattr(self.estimator, "named_steps", None)
        if self.weights is None and steps and set(steps) == {"standardscaler",
                                                             "logisticregression"}:
            scaler, regression = steps["standardscaler"], steps["logisticregression"]
            self.weights = regression.coef_[0] / scaler.scale_
            self.bias = float(regression.intercept_[0] - self.weights @ scaler.mean_)

    def raw_scores(self, features: np.ndarray) -> np.ndarray:
        if self.weights is not None:
            return 1.0 / (1.0 + np.exp(-(features @ self.weights + self.bias)))
        return self.estimator.predict_proba(features)[:, 1]

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            probabilities = np.interp(scores, self.calibration_x, self.calibration_y)
        else:
            slope, intercept = self.sigmoid
            probabilities = 1.0 / (1.0 + np.exp(-(slope * _logit(scores) + intercept)))
        return np.clip(probabilities, PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.calibrate(self.raw_scores(features))

    def predict_signals(self, signals: Mapping[str, Any]) -> np.ndarray:
        return self.predict(self.spec.matrix(signals))


def fit_calibration(model: CalibratedModel, scores: np.ndarray, outcomes: np.ndarray) -> None:
    """Fit the model's calibration map on a later slice's scores and outcomes."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    if model.method == "isotonic":
        isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        isotonic.fit(scores, outcomes)
        model.calibration_x = np.asarray(isotonic.X_thresholds_, dtype=float)
        model.calibration_y = np.asarray(isotonic.y_thresholds_, dtype=float)
    else:  # Platt scaling on the log-odds, barely regularised
        platt = LogisticRegression(C=1e6, max_iter=1000)
        platt.fit(_logit(scores).reshape(-1, 1), outcomes)
        model.sigmoid = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))


def _logit(scores: np.ndarray) -> np.ndarray:
    clipped = np.clip(scores, 1e-6, 1 - 1e-6)
    return np.log(clipped / (1 - clipped))


# ---- metrics and the decision ----


def probability_metrics(probabilities: np.ndarray, outcomes: np.ndarray) -> dict[str, Any]:
    """Brier, log loss, AUC, ECE and the reliability table of probabilities against outcomes."""
    from sklearn.metrics import roc_auc_score

    outcomes = np.asarray(outcomes, dtype=float)
    table = stats.reliability_table(probabilities, outcomes)
    both = 0 < outcomes.sum() < len(outcomes)
    return {
        "count": int(len(outcomes)),
        "brier": stats.brier_score(probabilities, outcomes),
        "log_loss": stats.log_loss(probabilities, outcomes),
        "auc": float(roc_auc_score(outcomes, probabilities)) if both else None,
        "ece": stats.expected_calibration_error(table),
        "reliability": table,
    }


def bootstrap_brier_margin(outcomes: np.ndarray, model: np.ndarray, other: np.ndarray, *,
                           resamples: int = BOOTSTRAP_RESAMPLES, level: float = BOOTSTRAP_LEVEL,
                           seed: int = 0) -> dict[str, float]:
    """How much lower the model's Brier score is than other's, with a one-sided lower bound.

    Signals close in time share market conditions, so the held-out slice is resampled in
    blocks of consecutive signals (moving-block bootstrap, blocks of n^(1/3)).
    """
    outcomes = np.asarray(outcomes, dtype=float)
    differences = (np.asarray(other) - outcomes) ** 2 - (np.asarray(model) - outcomes) ** 2
    count = len(differences)
    block = max(1, round(count ** (1 / 3)))
    blocks = math.ceil(count / block)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // max(count, 1))  # bound the index array's memory
    for first in range(0, resamples, chunk):
        size = min(chunk, resamples - first)
        starts = rng.integers(0, count, size=(size, blocks))
        positions = (starts[:, :, None] + np.arange(block)).reshape(size, -1)[:, :count]
        means[first:first + size] = differences[positions % count].mean(axis=1)
    return {"margin": float(differences.mean()),
            "lower_bound": float(np.quantile(means, 1 - level)),
            "share_not_better": float(np.mean(means <= 0)),
            "resamples": resamples, "block": block}


@dataclass
class TrainingResult:
    """What a training run found; model is None when there was too little data to fit."""

    activate: bool
    reason: str
    model: CalibratedModel | None
    features: list[str]
    data_hash: str
    counts: dict[str, int]
    windows: dict[str, pd.Timestamp | None]
    metrics: dict[str, Any]
    model_name: str = ""
    calibration_method: str = ""


def train(signals: pd.DataFrame, *, candidates: list[Candidate] | None = None, seed: int = 0,
          progress: Callable[[int, int, str], None] | None = None,
          held_out_fraction: float = HELD_OUT_FRACTION,
          calibration_fraction: float = CALIBRATION_FRACTION,
          embargo_fraction: float = EMBARGO_FRACTION) -> TrainingResult:
    """Choose, fit and calibrate a model on the older signals, judge it on the newest.

    signals: labelled_signals() tables, combined. It is activated only when its held-out Brier
    score beats the constant base rate's and the heuristic confidence's, each by a margin whose
    bootstrap lower bound is above 0.
    """
    from threadpoolctl import threadpool_limits

    # One thread: OpenMP's threads spin and contend on a shared 2-core worker, which measured
    # several times slower than one thread (bench/calibration.py).
    with threadpool_limits(limits=TRAINING_THREADS):
        return _train(signals, candidates, seed, progress, held_out_fraction,
                      calibration_fraction, embargo_fraction)


def _train(signals: pd.DataFrame, candidates: list[Candidate] | None, seed: int,
           progress: Callable[[int, int, str], None] | None, held_out_fraction: float,
           calibration_fraction: float, embargo_fraction: float) -> TrainingResult:
    steps = len(candidates or LOGISTIC_STRENGTHS) * SELECTION_FOLDS + 3
    done = 0

    def step(stage: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, steps, stage)

    signals = signals.reset_index(drop=True)
    digest = data_hash(signals)
    spec = FeatureSpec.learn(signals) if len(signals) else FeatureSpec((), (), ())
    split = time_split(signals["signal_time"], signals["end_time"],
                       held_out_fraction=held_out_fraction,
                       calibration_fraction=calibration_fraction,
                       embargo_fraction=embargo_fraction)
    times = epoch_seconds(signals["signal_time"])
    ends = epoch_seconds(signals["end_time"])
    counts = {"signals": len(signals), "fit": len(split.fit),
              "calibration": len(split.calibration), "held_out": len(split.held_out),
              "purged": split.purged}
    windows = {
        "training_start": _moment(times[split.fit].min()) if len(split.fit) else None,
        "training_end": _moment(ends[np.concatenate([split.fit, split.calibration])].max())
        if len(split.fit) + len(split.calibration) else None,
        "calibration_start": _moment(split.calibration_start),
        "held_out_start": _moment(split.held_out_start),
        "held_out_end": _moment(ends[split.held_out].max()) if len(split.held_out) else None,
    }

    def rejected(reason: str, model=None, metrics=None, **names) -> TrainingResult:
        return TrainingResult(False, reason, model, spec.names, digest, counts, windows,
                              metrics or {}, **names)

    won = signals["won"].to_numpy(dtype=float)
    if len(signals) < MIN_SIGNALS:
        return rejected(f"too few labelled signals: {len(signals)}, at least {MIN_SIGNALS} "
                        "are needed")
    for name in ("fit", "calibration", "held_out"):
        rows = getattr(split, name)
        if len(rows) < MIN_SLICE or not 0 < won[rows].sum() < len(rows):
            return rejected(f"the {name.replace('_', '-')} slice has {len(rows)} signals; it "
                            f"needs {MIN_SLICE} with both outcomes")

    candidates = candidates or default_candidates(seed)
    features = spec.matrix(signals)
    step("features")
    fit_x, fit_y = features[split.fit], won[split.fit]
    # Model choice on walk-forward purged folds inside the fitting slice.
    selection: dict[str, float | None] = {}
    folds = purged_folds(times[split.fit], ends[split.fit], SELECTION_FOLDS,
                         split.embargo_seconds)
    for candidate in candidates:
        scores = []
        for train_rows, test_rows in folds:
            if len(train_rows) >= MIN_SLICE and 0 < fit_y[train_rows].sum() < len(train_rows):
                estimator = candidate.build().fit(fit_x[train_rows], fit_y[train_rows])
                predicted = estimator.predict_proba(fit_x[test_rows])[:, 1]
                scores.append((stats.brier_score(predicted, fit_y[test_rows]), len(test_rows)))
            step(f"selecting: {candidate.name}")
        selection[candidate.name] = (sum(s * n for s, n in scores) / sum(n for _, n in scores)
                                     if scores else None)
    scored = [c for c in candidates if selection[c.name] is not None]
    chosen = min(scored, key=lambda c: selection[c.name]) if scored else candidates[0]

    estimator = chosen.build().fit(fit_x, fit_y)
    step(f"fitting {chosen.name}")
    method = "isotonic" if len(split.calibration) >= ISOTONIC_MIN_SAMPLES else "sigmoid"
    model = CalibratedModel(spec=spec, estimator=estimator, method=method)
    fit_calibration(model, model.raw_scores(features[split.calibration]),
                    won[split.calibration])
    step("calibrating")

    held_y = won[split.held_out]
    base_rate = float(won[np.concatenate([split.fit, split.calibration])].mean())
    predictions = {
        "model": model.predict(features[split.held_out]),
        "base_rate": np.full(len(split.held_out), base_rate),
        "heuristic": signals["confidence"].to_numpy(dtype=float)[split.held_out],
    }
    metrics: dict[str, Any] = {name: probability_metrics(p, held_y)
                               for name, p in predictions.items()}
    metrics["base_rate"]["rate"] = base_rate
    metrics["selection"] = {"fold_brier": selection, "folds": len(folds), "chosen": chosen.name}
    metrics["bootstrap"] = {
        other: bootstrap_brier_margin(held_y, predictions["model"], predictions[other],
                                      seed=seed)
        for other in ("base_rate", "heuristic")
    }
    activate, reason = decide(metrics)
    names = {"model_name": chosen.name, "calibration_method": method}
    if not activate:
        return rejected(reason, model, metrics, **names)
    return TrainingResult(True, reason, model, spec.names, digest, counts, windows, metrics,
                          **names)


def decide(metrics: dict[str, Any]) -> tuple[bool, str]:
    """Activate only when the model's held-out Brier beats both references by a bootstrap-
    confirmed margin; the reason names the numbers either way."""
    model = metrics["model"]["brier"]
    parts, earned = [], True
    for other, label in (("base_rate", "the base rate"), ("heuristic", "the heuristic")):
        margin = metrics["bootstrap"][other]
        better = margin["margin"] > 0 and margin["lower_bound"] > 0
        earned &= better
        parts.append(
            f"{'beats' if better else 'does not beat'} {label} ({metrics[other]['brier']:.4f}; "
            f"margin {margin['margin']:.4f}, {BOOTSTRAP_LEVEL:.0%} lower bound "
            f"{margin['lower_bound']:.4f})")
    verdict = "activated" if earned else "rejected"
    return earned, (f"{verdict}: held-out Brier {model:.4f} " + " and ".join(parts)
                    + f"; held-out ECE {metrics['model']['ece']:.4f}")


def _moment(epoch: float) -> pd.Timestamp | None:
    if not math.isfinite(epoch):
        return None
    return pd.Timestamp(round(epoch * 1e6), unit="us", tz="UTC")
