"""Calibration: which model, how long training takes, and what scoring one signal costs.

Run: .venv/bin/python bench/calibration.py [--signals 100000] [--score-repeat 2000]

1. Model choice, side by side: the default candidates (L2 logistic regressions) and gradient
   boosting, each scored by strategies.calibration.train() on its walk-forward purged folds, on
   (a) the labelled signals of the demo market (every strategy, every_signal backtests of two
   years of 1h candles of BTCUSDT, ETHUSDT and AAPL: the data a retrain would see) and (b) the
   synthetic learnable signals (tests/calibration/synthetic.py). Lower fold Brier is better.
2. Training on --signals synthetic labelled signals with the default candidates: train() in all
   (features, model choice on three folds, fit, calibration, held-out metrics, bootstrap of the
   Brier margins) and per step; then one fit of each model on all of them, on one thread (as
   train() runs) and on all. Goal: under 60 s on the 2-core machine.
3. Scoring one live candidate as calibration/serving.py does (without its database read of
   the active version's id): regime from the analysed closes, feature row, model, calibration
   map. Goal: under 1 ms. Best of five runs: the machine is shared and busy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import strategies  # noqa: E402
from collectors.demo import DemoSource  # noqa: E402
from strategies import calibration  # noqa: E402
from strategies.base import SignalCandidate  # noqa: E402
from tests.calibration.synthetic import synthetic_signals  # noqa: E402

DEMO_ASSETS = ("BTCUSDT", "ETHUSDT", "AAPL")
DEMO_START, DEMO_END = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2026-01-01", tz="UTC")


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def demo_signals() -> pd.DataFrame:
    tables = []
    for asset in DEMO_ASSETS:
        candles = DemoSource().fetch_candles(asset, "1h", start=DEMO_START, end=DEMO_END)
        for strategy_class in strategies.available().values():
            tables.append(calibration.labelled_signals(
                strategy_class(), candles, asset=asset, timeframe="1h", timeframe_seconds=3600))
    return calibration.combine(tables)


def model_choice(name: str, signals: pd.DataFrame) -> None:
    candidates = [*calibration.default_candidates(), calibration.gradient_boosting_candidate()]
    result, seconds = timed(calibration.train, signals, candidates=candidates)
    print(f"{name}: {len(signals):,} labelled signals, win rate {signals['won'].mean():.3f}; "
          f"train() with every candidate {seconds:.1f} s")
    print(f"  {'candidate':<44}  {'fold Brier':>10}")
    for candidate, brier in result.metrics["selection"]["fold_brier"].items():
        print(f"  {candidate:<44}  {brier:10.4f}")
    metrics = result.metrics
    print(f"  held out ({result.counts['held_out']:,}): Brier model {metrics['model']['brier']:.4f}"
          f", base rate {metrics['base_rate']['brier']:.4f}, heuristic "
          f"{metrics['heuristic']['brier']:.4f}; model ECE {metrics['model']['ece']:.4f}")
    print(f"  chose {result.model_name}: {result.reason}")
    print()


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

    print("1. model choice (walk-forward purged folds)\n")
    model_choice("demo market", demo_signals())
    model_choice("synthetic, learnable", synthetic_signals(20_000, learnable=True, seed=11))

    signals = synthetic_signals(options.signals, learnable=True, seed=7)
    stages: list[tuple[str, float]] = []
    started = time.perf_counter()
    result, seconds = timed(calibration.train, signals,
                            progress=lambda done, total, stage: stages.append(
                                (stage, time.perf_counter())))
    rows = [("train() in all", seconds)]
    previous = started
    for stage, moment in stages:
        rows.append((f"  {stage}", moment - previous))
        previous = moment
    rows.append(("  metrics, bootstrap, decision", started + seconds - previous))
    features = result.model.spec.matrix(signals)
    won = signals["won"].to_numpy()
    boosting = calibration.gradient_boosting_candidate()
    for candidate in [*calibration.default_candidates(), boosting]:
        for threads in (1, None):
            with threadpool_limits(limits=threads):
                _, fit_seconds = timed(candidate.build().fit, features, won)
            rows.append((f"one fit on all, {threads or 'all'} thread(s): {candidate.name}",
                         fit_seconds))

    print(f"2. training on {len(signals):,} labelled signals ({len(result.features)} features):"
          f" chose {result.model_name}, {result.calibration_method} calibration, "
          f"{'activated' if result.activate else 'rejected'}; held-out ECE "
          f"{result.metrics['model']['ece']:.4f}\n")
    width = max(len(name) for name, _ in rows)
    print(f"{'step':<{width}}  {'seconds':>8}")
    for name, value in rows:
        print(f"{name:<{width}}  {value:8.2f}")
    print()

    print("3. scoring one signal (features + model + calibration)\n")
    fitted = calibration.CalibratedModel(
        spec=result.model.spec, estimator=boosting.build().fit(features[:20_000],
                                                               won[:20_000]),
        method=result.model.method, calibration_x=result.model.calibration_x,
        calibration_y=result.model.calibration_y)
    scoring = [(result.model_name, score_seconds(result.model, options.score_repeat))]
    for threads in (1, None):
        with threadpool_limits(limits=threads):
            scoring.append((f"{boosting.name}, {threads or 'all'} thread(s)",
                            score_seconds(fitted, max(1, options.score_repeat // 10))))
    print(f"{'model':<56}  {'ms':>8}")
    for name, value in scoring:
        print(f"{name:<56}  {value * 1e3:8.3f}")


if __name__ == "__main__":
    main()
