"""Compile the numba kernels before the first analysis needs them.

The kernels are cached on disk (njit(cache=True)), but a fresh checkout, a new numba or a
changed kernel compiles on first use, which would slow the first analysis after start-up by
seconds. warm_up() runs every registered strategy once on a small synthetic market, which
compiles (or loads) exactly the kernels an analysis calls, with the argument types it uses.
"""

from typing import Any

import numpy as np
import pandas as pd

from strategies.base import available

WARM_UP_BARS = 400


def synthetic_candles(bars: int = WARM_UP_BARS, seed: int = 7, *, step: float = 0.01,
                      freq: str | pd.Timedelta = "5min", start: Any = "2024-01-01") -> pd.DataFrame:
    """A random-walk candle frame shaped like the candle store's (float64 OHLCV, UTC index):
    log-returns of standard deviation step per bar, wicks about half a step beyond the body.
    Warm-up, tests and benches draw their synthetic markets here."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, step, bars)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.abs(rng.normal(0.0, step / 2, bars)) * close
    index = pd.date_range(start, periods=bars, freq=freq, tz="UTC", name="open_time")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.uniform(1.0, 10.0, bars),
        },
        index=index,
    )


def warm_up() -> list[str]:
    """Run every registered strategy with its defaults once, full history and latest bar;
    the names of the strategies run."""
    frame = synthetic_candles()
    names = []
    for name, strategy_class in available().items():
        strategy = strategy_class()
        strategy.signals(frame)
        strategy.latest(frame)
        names.append(name)
    return names
