"""Calibration speed: training on 100,000 labelled signals, and scoring one live signal.

Run: .venv/bin/python bench/calibration.py [--signals 100000] [--score-repeat 2000]

Training: strategies.calibration.train() on synthetic labelled signals (tests/calibration/
synthetic.py, learnable: the outcome follows the trend on the signal's side) with the default
candidates (two regularised logistic regressions and a gradient-boosting model, each scored on
three walk-forward purged folds), calibration, held-out metrics and the bootstrap of the Brier
margins. Each candidate's fit is also timed on its own, so the table shows what each costs.
Goal: under 60 s on the 2-core machine.

Scoring: one live candidate as serving does it (calibration/serving.py without the database
read of the active version's id): its regime from the analysed closes, the feature row, the
model and the calibration map. Goal: under 1 ms per signal. Best of several runs: the machine is
shared.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from strategies import calibration  # noqa: E402
from strategies.base import SignalCandidate  # noqa: E402
from tests.calibration.synthetic import synthetic_signals  # noqa: E402


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def score_seconds(model: calibration.CalibratedModel, repeat: int) -> float:
    """Best per-signal time of scoring one candidate, features included."""
    rng = np.random.default_rng(1)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 500)))
    candidate = SignalCandidate(
        strategy="trend_following", direction="long", entry=float(closes[-1]),
        stop_loss=float(closes[-1]) - 1.5, take_profit=float(closes[-1]) + 3.0, confidence=0.6,
        candle_time=pd.Timestamp("2026-01-01", tz="UTC"),
        indicators={"atr": 1.0, "rsi": 55.0, "adx": 30.0, "ema_fast": closes[-1] - 0.5})
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            columns = calibration.candidate_signals(candidate, "1h", closes)
            model.predict_signals(columns)
        best = min(best, (time.perf_counter() - started) / repeat)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=100_000)
    parser.add_argument("--score-repeat", type=int, default=2000)
    options = parser.parse_args()

    signals = synthetic_signals(options.signals, learnable=True, seed=7)
    stages: list[tuple[str, float]] = []

    def progress(done: int, total: int, stage: str) -> None:
        stages.append((stage, time.perf_counter()))

    started = time.perf_counter()
    result, seconds = timed(calibration.train, signals, progress=progress)
    rows = [("train() in all", seconds)]
    previous = started
    for stage, moment in stages:
        rows.append((f"  {stage}", moment - previous))
        previous = moment
    rows.append(("  metrics, bootstrap, decision", started + seconds - previous))

    features = result.model.spec.matrix(signals)
    won = signals["won"].to_numpy()
    for candidate in calibration.default_candidates():
        _, fit_seconds = timed(candidate.build().fit, features, won)
        rows.append((f"one fit on all {len(signals):,}: {candidate.name}", fit_seconds))

    print(f"{len(signals):,} labelled signals, {len(result.features)} features; "
          f"chose {result.model_name}, {result.calibration_method} calibration; "
          f"{'activated' if result.activate else 'rejected'}")
    print(f"fold Brier: {result.metrics['selection']['fold_brier']}")
    print(f"held out: {result.counts['held_out']:,} signals, Brier "
          f"{result.metrics['model']['brier']:.4f} (base rate "
          f"{result.metrics['base_rate']['brier']:.4f}, heuristic "
          f"{result.metrics['heuristic']['brier']:.4f}), ECE {result.metrics['model']['ece']:.4f}")
    print()
    width = max(len(name) for name, _ in rows)
    print(f"{'training step':<{width}}  {'seconds':>8}")
    for name, value in rows:
        print(f"{name:<{width}}  {value:8.2f}")
    print()

    logistic = result.model
    print(f"{'scoring one signal (features + model + calibration)':<60}  {'ms':>8}")
    logistic_ms = score_seconds(logistic, options.score_repeat) * 1e3
    print(f"{'  ' + result.model_name:<60}  {logistic_ms:8.3f}")
    boosting_candidate = calibration.default_candidates()[-1]
    boosting = calibration.CalibratedModel(
        spec=logistic.spec, estimator=boosting_candidate.build().fit(features[:20_000],
                                                                   won[:20_000]),
        method=logistic.method, calibration_x=logistic.calibration_x,
        calibration_y=logistic.calibration_y, sigmoid=logistic.sigmoid)
    print(f"{'  ' + boosting_candidate.name:<60}  "
          f"{score_seconds(boosting, max(1, options.score_repeat // 10)) * 1e3:8.3f}")


if __name__ == "__main__":
    main()
