"""Indicator speed against TA-Lib and `ta`, and a full live scan of many assets with latest().

Run: .venv/bin/python bench/strategies.py [--bars 1000000] [--assets 500] [--candles 1000]
Goals: each indicator within 2x of TA-Lib and faster than `ta`; Bollinger and the z-score
(exact rolling variance) within 1.5x of TA-Lib and within 1e-9 of an exact standard deviation
at moves of 1e-6 of the price; the full scan under 2 s.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import ta
import talib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import strategies  # noqa: E402
from strategies import indicators  # noqa: E402

# Best of up to REPEAT runs, stopping after BUDGET_SECONDS: a shared 2-core machine is noisy,
# and the fastest run is the one least disturbed. `ta` loops in Python for ATR and ADX, so a
# single run of those already spends the budget.
REPEAT = 25
BUDGET_SECONDS = 1.0


def best_time(func: Callable[[], object]) -> float:
    best, spent = float("inf"), 0.0
    for _ in range(REPEAT):
        started = time.perf_counter()
        func()
        elapsed = time.perf_counter() - started
        best, spent = min(best, elapsed), spent + elapsed
        if spent > BUDGET_SECONDS:
            break
    return best


def random_market(size: int, seed: int) -> pd.DataFrame:
    """Hourly random walk with calm and wild volatility regimes."""
    rng = np.random.default_rng(seed)
    volatility = np.where((np.arange(size) // 500) % 2 == 0, 0.004, 0.015)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1, size) * volatility))
    open_ = np.r_[close[0], close[:-1]]
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * (1 + rng.uniform(0, 1, size) * volatility),
            "low": np.minimum(open_, close) * (1 - rng.uniform(0, 1, size) * volatility),
            "close": close,
            "volume": rng.lognormal(10, 0.5, size),
        },
        index=pd.date_range("2020-01-01", periods=size, freq="h", tz="UTC"),
    )


def indicator_cases(frame: pd.DataFrame) -> list[tuple[str, Callable, Callable, Callable | None]]:
    """(name, ours, TA-Lib, ta) callables on the same data; None where `ta` has no equivalent."""
    high, low, close, volume = (frame[c].to_numpy() for c in ("high", "low", "close", "volume"))
    h, lo, c, v = frame["high"], frame["low"], frame["close"], frame["volume"]
    return [
        ("sma(20)", lambda: indicators.sma(close, 20), lambda: talib.SMA(close, 20),
         lambda: ta.trend.SMAIndicator(c, 20).sma_indicator()),
        ("ema(20)", lambda: indicators.ema(close, 20), lambda: talib.EMA(close, 20),
         lambda: ta.trend.EMAIndicator(c, 20).ema_indicator()),
        ("rsi(14)", lambda: indicators.rsi(close, 14), lambda: talib.RSI(close, 14),
         lambda: ta.momentum.RSIIndicator(c, 14).rsi()),
        ("macd(12,26,9)", lambda: indicators.macd(close), lambda: talib.MACD(close),
         lambda: _all(ta.trend.MACD(c), "macd", "macd_signal", "macd_diff")),
        ("bollinger(20,2)", lambda: indicators.bollinger(close), lambda: talib.BBANDS(close, 20),
         lambda: _all(ta.volatility.BollingerBands(c, 20, 2), "bollinger_mavg",
                      "bollinger_hband", "bollinger_lband", "bollinger_pband", "bollinger_wband")),
        ("atr(14)", lambda: indicators.atr(high, low, close, 14),
         lambda: talib.ATR(high, low, close, 14),
         lambda: ta.volatility.AverageTrueRange(h, lo, c, 14).average_true_range()),
        ("donchian(20)", lambda: indicators.donchian(high, low, 20),
         lambda: _channel_with_talib(high, low, 20),
         lambda: _all(ta.volatility.DonchianChannel(h, lo, c, 20), "donchian_channel_hband",
                      "donchian_channel_lband", "donchian_channel_mband")),
        ("adx(14)", lambda: indicators.adx(high, low, close, 14),
         lambda: talib.ADX(high, low, close, 14),
         lambda: ta.trend.ADXIndicator(h, lo, c, 14).adx()),
        ("stochastic(14,3,3)", lambda: indicators.stochastic(high, low, close),
         lambda: talib.STOCH(high, low, close, 14, 3, 0, 3, 0),
         lambda: _all(ta.momentum.StochasticOscillator(h, lo, c, 14, 3), "stoch",
                      "stoch_signal")),
        ("vwap(20)", lambda: indicators.vwap(high, low, close, volume, 20),
         lambda: talib.SMA((high + low + close) / 3 * volume, 20) / talib.SMA(volume, 20),
         lambda: _all(ta.volume.VolumeWeightedAveragePrice(h, lo, c, v, 20),
                      "volume_weighted_average_price")),
        ("zscore(20)", lambda: indicators.zscore(close, 20),
         lambda: (close - talib.SMA(close, 20)) / talib.STDDEV(close, 20), None),
        ("volume_average(20)", lambda: indicators.volume_average(volume, 20),
         lambda: talib.SMA(volume, 20), lambda: ta.trend.SMAIndicator(v, 20).sma_indicator()),
    ]


def _channel_with_talib(high: np.ndarray, low: np.ndarray, period: int) -> tuple[np.ndarray, ...]:
    """TA-Lib has no Donchian channel: its MAX and MIN, and their mean for the middle line."""
    upper, lower = talib.MAX(high, period), talib.MIN(low, period)
    return upper, lower, (upper + lower) / 2


def _all(indicator: object, *methods: str) -> list[pd.Series]:
    return [getattr(indicator, method)() for method in methods]


def bench_indicators(bars: int) -> None:
    frame = random_market(bars, seed=1)
    print(f"Indicators over {bars:,} bars (best of up to {REPEAT} runs, ms; "
          "ratio = ours / other)")
    header = f"{'indicator':<20}{'ours':>9}{'TA-Lib':>9}{'ta':>10}{'vs TA-Lib':>11}{'vs ta':>9}"
    print(header)
    print("-" * len(header))
    for name, ours, reference, other in indicator_cases(frame):
        ours_s, talib_s = best_time(ours), best_time(reference)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # `ta` warns about chained assignment in pandas 3
            ta_s = best_time(other) if other else None
        ta_ms = f"{ta_s * 1000:10.1f}" if ta_s else f"{'-':>10}"
        ta_ratio = f"{ours_s / ta_s:8.2f}x" if ta_s else f"{'-':>9}"
        print(f"{name:<20}{ours_s * 1000:9.1f}{talib_s * 1000:9.1f}{ta_ms}"
              f"{ours_s / talib_s:10.2f}x{ta_ratio}")


def exact_rolling_std(values: np.ndarray, period: int) -> np.ndarray:
    """Population std of every full window by two passes, each window less its first value."""
    windows = np.lib.stride_tricks.sliding_window_view(values, period)
    out = np.empty(len(windows))
    for start in range(0, len(windows), 1 << 16):
        chunk = windows[start:start + (1 << 16)]
        shifted = chunk - chunk[:, :1]
        deviations = shifted - shifted.mean(axis=1, keepdims=True)
        squares = (deviations * deviations).sum(axis=1) - deviations.sum(axis=1) ** 2 / period
        out[start:start + len(chunk)] = np.sqrt(squares / period)
    return out


def bench_rolling_std(bars: int, sigma: float = 1e-6, period: int = 20) -> None:
    """Speed and worst relative error of the rolling std behind Bollinger and the z-score on a
    random walk whose bars move `sigma` of the price."""
    rng = np.random.default_rng(2)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, sigma, bars)))
    exact = exact_rolling_std(close, period)
    bands = indicators.bollinger(close, period, 2.0)
    # bandwidth x middle / 4 is the std without subtracting two prices
    ours_std = (bands.bandwidth * bands.middle / 4.0)[period - 1:]
    talib_std = talib.STDDEV(close, period)[period - 1:]
    cases = [
        ("bollinger(20,2)", lambda: indicators.bollinger(close, period, 2.0),
         lambda: talib.BBANDS(close, period, 2.0, 2.0, 0)),
        ("zscore(20)", lambda: indicators.zscore(close, period),
         lambda: (close - talib.SMA(close, period)) / talib.STDDEV(close, period)),
    ]
    print(f"\nRolling std over {bars:,} bars moving {sigma:g} of the price (ms; error = worst "
          "relative error of the std against an exact two-pass one)")
    header = (f"{'indicator':<20}{'ours':>9}{'TA-Lib':>9}{'vs TA-Lib':>11}{'error ours':>13}"
              f"{'error TA-Lib':>14}")
    print(header)
    print("-" * len(header))
    ours_error = float(np.max(np.abs(ours_std - exact) / exact))
    talib_error = float(np.max(np.abs(talib_std - exact) / exact))
    for name, ours, reference in cases:
        ours()  # compiled (or loaded from numba's cache) outside the timing
        ours_s, talib_s = best_time(ours), best_time(reference)
        print(f"{name:<20}{ours_s * 1000:9.1f}{talib_s * 1000:9.1f}{ours_s / talib_s:10.2f}x"
              f"{ours_error:13.1e}{talib_error:14.1e}")


def bench_scan(assets: int, candles: int) -> None:
    frames = [random_market(candles, seed=seed) for seed in range(assets)]
    everything = [strategy_class() for strategy_class in strategies.available().values()]
    started = time.perf_counter()
    fired = sum(strategy.latest(frame) is not None for frame in frames for strategy in everything)
    elapsed = time.perf_counter() - started
    names = ", ".join(strategy.name for strategy in everything)
    print(f"\nLive scan: {assets} assets x {candles} candles x {len(everything)} strategies "
          f"({names}), latest() only, one core")
    print(f"total {elapsed:.2f} s, {assets / elapsed:,.0f} assets/s, "
          f"{elapsed / (assets * len(everything)) * 1e3:.2f} ms per latest(), {fired} signals")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--candles", type=int, default=1000)
    args = parser.parse_args()
    bench_indicators(args.bars)
    bench_rolling_std(args.bars)
    bench_scan(args.assets, args.candles)


if __name__ == "__main__":
    main()
