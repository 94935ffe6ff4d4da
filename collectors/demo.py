"""DemoSource: deterministic synthetic candles for any asset, no network.

Every bar is a pure function of (seed, asset, timeframe, bar index), so the candle at a given
open time never changes with the requested range or the time of the request, and new bars
appear as the clock moves on. Timeframes are independent series (the 1h and 1d charts of an
asset are not aggregates of each other).

How a block of BLOCK_SIZE bars is built (log prices):
- each block boundary k has an anchor level drawn from its own generator; the level moves
  linearly from anchor k to anchor k+1 across block k, so blocks join without a jump;
- on top of that, a random-walk bridge (zero at both block ends) whose returns switch between
  ranging, trending and turbulent regimes, with AR(1) log-volatility for volatility clustering
  and Student-t shocks for fat tails. This gives mean reversion, breakouts and trends, so
  Bollinger/RSI, Donchian and EMA strategies all fire.
The close of bar i is exactly the open of bar i+1.
"""

import hashlib
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache

import numpy as np
import pandas as pd

from collectors.assets import validate_asset
from collectors.base import CandleSource, plan_window
from collectors.frames import COLUMNS, empty_candles
from collectors.timeframes import (
    TIMEFRAMES,
    bar_open_times,
    timeframe_seconds,
    to_utc,
    utc_now,
)

BLOCK_SIZE = 1024
# Guards memory: a million bars is ~40 MB of float64 (two years of 1m bars).
MAX_BARS = 1_000_000

_PURPOSE_PROFILE, _PURPOSE_ANCHOR, _PURPOSE_PATH = 0, 1, 2
_TIMEFRAME_CODES = {name: code for code, name in enumerate(TIMEFRAMES)}

# Regimes: ranging, trending up, trending down, turbulent. Drift in units of bar volatility.
_REGIME_DRIFT = np.array([0.0, 0.12, -0.12, 0.0])
_REGIME_VOLATILITY = np.array([0.8, 1.0, 1.0, 1.8])
_REGIME_SWITCH_PROBABILITY = 1 / 120

_VOL_PERSISTENCE = 0.95  # AR(1) coefficient of log-volatility
_VOL_OF_VOL = 0.35  # stationary std of log-volatility
_VOL_KERNEL = _VOL_PERSISTENCE ** np.arange(120)  # truncated AR(1) impulse response
_STUDENT_DF = 5


def _asset_key(asset: str) -> int:
    # hashlib, not hash(): must be stable across processes (hash() is salted per process).
    return int.from_bytes(hashlib.sha256(asset.encode()).digest()[:8], "big")


def _generator(seed: int, asset: str, timeframe: str, block: int, purpose: int):
    entropy = [seed, _asset_key(asset), _TIMEFRAME_CODES[timeframe], block, purpose]
    return np.random.Generator(np.random.Philox(np.random.SeedSequence(entropy)))


@lru_cache(maxsize=1024)
def _asset_profile(seed: int, asset: str) -> tuple[float, float, float]:
    """(log base price, daily volatility, notional traded per minute) for an asset."""
    rng = _generator(seed, asset, "1m", 0, _PURPOSE_PROFILE)
    log_price = rng.uniform(np.log(0.5), np.log(60_000))
    daily_volatility = rng.uniform(0.012, 0.045)
    notional_per_minute = np.exp(rng.uniform(np.log(5e3), np.log(5e5)))
    return float(log_price), float(daily_volatility), float(notional_per_minute)


def _bar_volatility(seed: int, asset: str, timeframe: str) -> float:
    _, daily_volatility, _ = _asset_profile(seed, asset)
    return daily_volatility * np.sqrt(timeframe_seconds(timeframe) / 86400)


@lru_cache(maxsize=4096)
def _anchor(seed: int, asset: str, timeframe: str, boundary: int) -> float:
    # Scaled to a block's random-walk spread, capped so monthly charts stay plausible.
    spread = min(0.8, 0.7 * _bar_volatility(seed, asset, timeframe) * np.sqrt(BLOCK_SIZE))
    return float(_generator(seed, asset, timeframe, boundary, _PURPOSE_ANCHOR).normal() * spread)


@lru_cache(maxsize=256)
def _block(seed: int, asset: str, timeframe: str, block: int) -> np.ndarray:
    """Read-only BLOCK_SIZE x 5 array (open high low close volume) of one block."""
    rng = _generator(seed, asset, timeframe, block, _PURPOSE_PATH)
    log_price, _, notional_per_minute = _asset_profile(seed, asset)
    bar_volatility = _bar_volatility(seed, asset, timeframe)
    n = BLOCK_SIZE

    segment = np.cumsum(rng.random(n) < _REGIME_SWITCH_PROBABILITY)
    regime = rng.integers(0, len(_REGIME_DRIFT), size=segment[-1] + 1)[segment]

    burn_in = len(_VOL_KERNEL)
    shocks = rng.normal(scale=_VOL_OF_VOL * np.sqrt(1 - _VOL_PERSISTENCE**2), size=n + burn_in)
    log_vol = np.convolve(shocks, _VOL_KERNEL)[burn_in : burn_in + n]
    volatility = bar_volatility * _REGIME_VOLATILITY[regime] * np.exp(log_vol - _VOL_OF_VOL**2 / 2)

    z = rng.standard_t(_STUDENT_DF, size=n) / np.sqrt(_STUDENT_DF / (_STUDENT_DF - 2))
    returns = _REGIME_DRIFT[regime] * bar_volatility + volatility * z
    walk = np.concatenate(([0.0], np.cumsum(returns)))
    position = np.linspace(0.0, 1.0, n + 1)
    bridge = walk - position * walk[-1]
    start_anchor = _anchor(seed, asset, timeframe, block)
    end_anchor = _anchor(seed, asset, timeframe, block + 1)
    prices = np.exp(log_price + start_anchor + (end_anchor - start_anchor) * position + bridge)
    # Pin both ends to the anchors exactly, so a block's last close is the next block's open.
    prices[0], prices[-1] = np.exp(log_price + start_anchor), np.exp(log_price + end_anchor)

    opens, closes = prices[:-1], prices[1:]
    highs = np.maximum(opens, closes) * np.exp(np.abs(rng.normal(scale=0.6, size=n)) * volatility)
    lows = np.minimum(opens, closes) * np.exp(-np.abs(rng.normal(scale=0.6, size=n)) * volatility)
    minutes = timeframe_seconds(timeframe) / 60
    activity = (volatility / bar_volatility) * (0.5 + np.abs(z)) * np.exp(rng.normal(0, 0.3, n))
    volumes = notional_per_minute * minutes / np.exp(log_price) * activity

    bars = np.column_stack([opens, highs, lows, closes, volumes])
    bars.setflags(write=False)
    return bars


def demo_bars(seed: int, asset: str, timeframe: str, first: int, last: int) -> np.ndarray:
    """Rows for bar indexes first..last inclusive (first >= 0), as a fresh n x 5 array."""
    first_block, last_block = first // BLOCK_SIZE, last // BLOCK_SIZE
    blocks = [_block(seed, asset, timeframe, k) for k in range(first_block, last_block + 1)]
    rows = np.concatenate(blocks) if len(blocks) > 1 else blocks[0].copy()
    offset = first_block * BLOCK_SIZE
    return rows[first - offset : last - offset + 1]


def _partial_bar(bar: np.ndarray, elapsed_fraction: float) -> np.ndarray:
    """The still-open bar as seen part way through: it grows into the final bar."""
    open_, high, low, close, volume = bar
    partial_close = open_ + (close - open_) * elapsed_fraction
    partial_high = max(open_, partial_close) + (high - max(open_, close)) * elapsed_fraction
    partial_low = min(open_, partial_close) - (min(open_, close) - low) * elapsed_fraction
    partial_volume = volume * max(elapsed_fraction, 1e-3)
    return np.array([open_, partial_high, partial_low, partial_close, partial_volume])


class DemoSource(CandleSource):
    name = "demo"

    def __init__(self, seed: int = 0, now: Callable[[], datetime] | None = None) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.seed = seed
        self._now = now or utc_now

    def fetch_candles(
        self,
        asset: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
        include_open: bool = False,
    ) -> pd.DataFrame:
        validate_asset(asset)
        timeframe_seconds(timeframe)
        now = to_utc(self._now())
        window = plan_window(
            timeframe, now=now, start=start, end=end, limit=limit, include_open=include_open
        )
        first = max(window.first, 0)  # the demo history starts at the epoch
        last = window.last
        if last < first:
            return empty_candles()
        if last - first + 1 > MAX_BARS:
            raise ValueError(f"range of {last - first + 1} bars exceeds the demo limit {MAX_BARS}")

        rows = demo_bars(self.seed, asset, timeframe, first, last)
        open_times = bar_open_times(np.arange(first, last + 1), timeframe)
        if last == window.open_bar:
            open_at, close_at = bar_open_times(np.array([last, last + 1]), timeframe)
            elapsed_fraction = (now - open_at) / (close_at - open_at)
            rows[-1] = _partial_bar(rows[-1], elapsed_fraction)
        frame = pd.DataFrame(rows, index=open_times, columns=COLUMNS)
        frame.attrs["rejected"] = 0
        return frame
