"""Labelled signals with made-up features, shaped as strategies.calibration.labelled_signals()
makes them: for the tests and bench/calibration.py.

learnable=True: the chance to reach the target follows the trend on the signal's side through
a logistic curve (a model can learn it; the strategies' confidence carries nothing).
learnable=False: every signal has the same chance, whatever its features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STRATEGIES = ("breakout", "mean_reversion", "trend_following")
START = pd.Timestamp("2025-01-01", tz="UTC")


def synthetic_signals(count: int, *, learnable: bool, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    side = rng.choice([1.0, -1.0], count)
    atr = rng.uniform(0.5, 2.0, count)
    entry = 100.0 + rng.normal(0, 5, count)
    trend = rng.normal(0, 1, count)
    chance = (1 / (1 + np.exp(-(-0.6 + 1.6 * side * trend))) if learnable
              else np.full(count, 0.35))
    signal_time = START + pd.to_timedelta(np.sort(rng.integers(0, count * 2, count)), unit="h")
    return pd.DataFrame({
        "asset": "SYNTH",
        "strategy": rng.choice(STRATEGIES, count),
        "timeframe": "1h",
        "direction": np.where(side > 0, "long", "short"),
        "confidence": rng.uniform(0, 1, count),
        "entry": entry,
        "stop_loss": entry - side * 1.5 * atr,
        "take_profit": entry + side * 3.0 * atr,
        "ind.atr": atr,
        "ind.rsi": rng.uniform(0, 100, count),
        "volatility": rng.lognormal(-4.5, 0.3, count),
        "volatility_ratio": rng.lognormal(0, 0.2, count),
        "trend": trend,
        "signal_time": signal_time,
        "end_time": signal_time + pd.to_timedelta(rng.integers(2, 48, count), unit="h"),
        "won": rng.uniform(0, 1, count) < chance,
    })
