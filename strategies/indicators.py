"""Vectorised technical indicators that reproduce TA-Lib's definitions.

Every function takes numpy arrays or pandas Series and returns the same kind (a Series keeps the
index of its price input). Values are NaN until the warm-up is over, at the same bar as TA-Lib,
and match TA-Lib to about 1e-12 relative after it: EMAs are seeded with the simple average of
their first `period` inputs and Wilder averages (RSI, ATR, ADX) with plain averages, exactly as
TA-Lib does. Leading NaNs in an input are skipped like the TA-Lib Python wrapper does.

Whole-array numpy where that is fast; where each bar depends on the one before (EMAs, Wilder
averages, running window sums) a loop compiled with numba (the *_kernel functions), which numpy
cannot vectorise. Kernels are cached on disk after their first compile (about a second).

Deliberate departures from TA-Lib, all in degenerate windows without any price movement:
RSI is 50 (TA-Lib: 0), stochastic %K is 50 (TA-Lib: 0), Bollinger %b is 0.5, and ADX treats an
undefined DX as 0. TA-Lib also treats |x| < 1e-8 as zero, which breaks coins priced below a
cent; here only exact zeros count as zero.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import numpy as np
import pandas as pd
from numba import njit

Values = TypeVar("Values", pd.Series, np.ndarray)
SeriesLike = pd.Series | np.ndarray  # an output: a Series when the input was one

# Rolling sums are summed afresh at every window starting on a multiple of this many bars.
_RESUM = 1024


class MACD(NamedTuple):
    line: SeriesLike
    signal: SeriesLike
    histogram: SeriesLike


class Bollinger(NamedTuple):
    middle: SeriesLike
    upper: SeriesLike
    lower: SeriesLike
    percent_b: SeriesLike
    bandwidth: SeriesLike


class Donchian(NamedTuple):
    upper: SeriesLike
    lower: SeriesLike
    middle: SeriesLike


class Stochastic(NamedTuple):
    k: SeriesLike
    d: SeriesLike


def _array(values: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _like(template: Values, result: np.ndarray) -> Values:
    if isinstance(template, pd.Series):
        return pd.Series(result, index=template.index, copy=False)
    return result


def _first_valid(values: np.ndarray) -> int:
    if len(values) == 0 or np.isfinite(values[0]):
        return 0  # the usual case, without scanning the whole array
    finite = np.isfinite(values)
    return int(finite.argmax()) if finite.any() else len(values)


def _check_period(period: int, name: str = "period") -> None:
    if int(period) != period or period < 1:
        raise ValueError(f"{name} must be a positive integer, got {period!r}")


def _rolling_sum(values: np.ndarray, period: int) -> np.ndarray:
    """Sum of the last `period` values at each bar; NaN before the first full window."""
    out = np.full(len(values), np.nan)
    if len(values) >= period:
        _rolling_sum_kernel(values, period, out)
    return out


@njit(cache=True)
def _rolling_sum_kernel(values, period, out):  # pragma: no cover (compiled)
    # A running total, summed afresh every _RESUM bars (and while a NaN is in the window), so
    # rounding cannot build up over long histories as TA-Lib's does (~1e-9 over 1M bars).
    total = 0.0
    for i in range(period):
        total += values[i]
    out[period - 1] = total
    for i in range(period, len(values)):
        start = i - period + 1
        if start % _RESUM == 0 or not np.isfinite(total):
            total = 0.0
            for j in range(start, i + 1):
                total += values[j]
        else:
            total += values[i] - values[i - period]
        out[i] = total


def _rolling_extreme(values: np.ndarray, period: int, ufunc: np.ufunc) -> np.ndarray:
    """Rolling max/min: extremes over doubling widths, then two overlapping power-of-2 windows."""
    size = len(values)
    out = np.full(size, np.nan)
    if size < period:
        return out
    extreme, width = values, 1
    while 2 * width <= period:
        extreme = ufunc(extreme[:-width], extreme[width:])
        width *= 2
    length = size - period + 1
    ufunc(extreme[:length], extreme[period - width:period - width + length], out=out[period - 1:])
    return out


def _on_valid(values: np.ndarray, compute: Callable[..., Any], *args: object) -> Any:
    """Apply compute to the part of values after its leading NaNs, keeping positions.

    compute returns an array or a tuple of arrays as long as its input.
    """
    start = _first_valid(values)
    if start == 0:
        return compute(values, *args)
    result = compute(values[start:], *args)

    def pad(part: np.ndarray) -> np.ndarray:
        out = np.full(len(values), np.nan)
        out[start:] = part
        return out

    return tuple(pad(part) for part in result) if isinstance(result, tuple) else pad(result)


def _smooth(values: np.ndarray, seed: float, alpha: float, out: np.ndarray) -> None:
    """out[0] = seed, then out[t] = out[t-1] + alpha * (values[t] - out[t-1]).

    TA-Lib's seeded EMA and Wilder average. out may be values itself (smoothing in place).
    """
    if len(out):
        _smooth_kernel(values, float(seed), float(alpha), out)


@njit(cache=True)
def _smooth_kernel(values, seed, alpha, out):  # pragma: no cover (compiled)
    average = seed
    out[0] = average
    for t in range(1, len(out)):
        average += alpha * (values[t] - average)
        out[t] = average


def _sma(values: np.ndarray, period: int) -> np.ndarray:
    def compute(valid: np.ndarray) -> np.ndarray:
        out = _rolling_sum(valid, period)
        out /= period
        return out

    return _on_valid(values, compute)


def _ema(values: np.ndarray, period: int) -> np.ndarray:
    def compute(valid: np.ndarray) -> np.ndarray:
        out = np.full(len(valid), np.nan)
        if len(valid) >= period:
            _smooth(valid[period - 1:], valid[:period].mean(), 2.0 / (period + 1),
                    out[period - 1:])
        return out

    return _on_valid(values, compute)


def _true_ranges(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range of bars 1.. (bar 0 has no previous close)."""
    previous_close = close[:-1]
    ranges = np.maximum(high[1:], previous_close)
    ranges -= np.minimum(low[1:], previous_close)
    return ranges


def _mean_and_std(values: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Rolling mean and population standard deviation, computed like TA-Lib (E[x^2] - E[x]^2)."""
    mean, std = np.full(len(values), np.nan), np.full(len(values), np.nan)
    if len(values) >= period:
        _mean_and_std_kernel(values, period, mean, std)
    return mean, std


@njit(cache=True, error_model="numpy")
def _mean_and_std_kernel(values, period, mean, std):  # pragma: no cover (compiled)
    # Running sums of x and x^2, summed afresh like _rolling_sum_kernel's.
    total = squares = 0.0
    for i in range(period - 1, len(values)):
        start = i - period + 1
        if start % _RESUM == 0 or not np.isfinite(squares):
            total = squares = 0.0
            for j in range(start, i + 1):
                total += values[j]
                squares += values[j] * values[j]
        else:
            leaving, entering = values[start - 1], values[i]
            total += entering - leaving
            squares += entering * entering - leaving * leaving
        average = total / period
        mean[i] = average
        std[i] = np.sqrt(max(squares / period - average * average, 0.0))


def sma(values: Values, period: int) -> Values:
    """Simple moving average (TA-Lib SMA)."""
    _check_period(period)
    return _like(values, _sma(_array(values), period))


def ema(values: Values, period: int) -> Values:
    """Exponential moving average, alpha 2/(period+1), seeded with the SMA (TA-Lib EMA)."""
    _check_period(period)
    return _like(values, _ema(_array(values), period))


def rsi(close: Values, period: int = 14) -> Values:
    """Wilder's relative strength index (TA-Lib RSI); first value at bar `period`."""
    _check_period(period)
    return _like(close, _on_valid(_array(close), _rsi, period))


def _rsi(prices: np.ndarray, period: int) -> np.ndarray:
    out = np.full(len(prices), np.nan)
    if len(prices) > period:
        _rsi_kernel(prices, period, out)
    return out


@njit(cache=True, error_model="numpy")
def _rsi_kernel(prices, period, out):  # pragma: no cover (compiled)
    # Gains and losses averaged side by side in one pass, as TA-Lib does.
    gain = loss = 0.0
    for i in range(1, period + 1):
        change = prices[i] - prices[i - 1]
        gain += max(change, 0.0)
        loss += max(-change, 0.0)
    gain /= period
    loss /= period
    alpha = 1.0 / period
    for i in range(period, len(prices)):
        if i > period:
            change = prices[i] - prices[i - 1]
            gain += alpha * (max(change, 0.0) - gain)
            loss += alpha * (max(-change, 0.0) - loss)
        total = gain + loss
        out[i] = 100.0 * gain / total if total > 0 else 50.0


def macd(close: Values, fast: int = 12, slow: int = 26, signal: int = 9) -> MACD:
    """MACD line, signal line and histogram (TA-Lib MACD).

    Like TA-Lib, the fast EMA starts on the same bar as the slow one: it is seeded with the
    average of the `fast` closes ending at bar slow-1, not at bar fast-1.
    """
    for name, period in (("fast", fast), ("slow", slow), ("signal", signal)):
        _check_period(period, name)
    if fast >= slow:
        raise ValueError(f"fast ({fast}) must be shorter than slow ({slow})")
    result = _on_valid(_array(close), _macd, fast, slow, signal)
    return MACD(*(_like(close, part) for part in result))


def _macd(prices: np.ndarray, fast: int, slow: int,
          signal: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    line, signal_line = np.full(len(prices), np.nan), np.full(len(prices), np.nan)
    if len(prices) >= slow:
        _macd_kernel(prices, fast, slow, signal, line, signal_line)
    return line, signal_line, line - signal_line


@njit(cache=True, error_model="numpy")
def _macd_kernel(prices, fast, slow, signal, line, signal_line):  # pragma: no cover (compiled)
    # The three averages advance together in one pass over the prices.
    fast_alpha, slow_alpha = 2.0 / (fast + 1), 2.0 / (slow + 1)
    signal_alpha = 2.0 / (signal + 1)
    slow_average = prices[:slow].sum() / slow
    fast_average = prices[slow - fast:slow].sum() / fast
    signal_start = slow + signal - 2  # the bar the signal line's seed average ends on
    signal_average = 0.0
    for t in range(slow - 1, len(prices)):
        if t >= slow:
            slow_average += slow_alpha * (prices[t] - slow_average)
            fast_average += fast_alpha * (prices[t] - fast_average)
        value = fast_average - slow_average
        line[t] = value
        if t < signal_start:
            signal_average += value
            continue
        if t == signal_start:
            signal_average = (signal_average + value) / signal
        else:
            signal_average += signal_alpha * (value - signal_average)
        signal_line[t] = signal_average


def bollinger(close: Values, period: int = 20, deviations: float = 2.0) -> Bollinger:
    """Bollinger Bands (TA-Lib BBANDS with SMA), plus %b and bandwidth by definition.

    percent_b = (close - lower) / (upper - lower); bandwidth = (upper - lower) / middle.
    """
    _check_period(period)
    result = _on_valid(_array(close), _bollinger, period, deviations)
    return Bollinger(*(_like(close, part) for part in result))


def _bollinger(prices: np.ndarray, period: int, deviations: float) -> tuple[np.ndarray, ...]:
    middle, std = _mean_and_std(prices, period)
    upper, lower = np.empty_like(middle), np.empty_like(middle)
    percent_b, bandwidth = np.empty_like(middle), np.empty_like(middle)
    _bands_kernel(prices, middle, std, float(deviations), upper, lower, percent_b, bandwidth)
    return middle, upper, lower, percent_b, bandwidth


@njit(cache=True, error_model="numpy")
def _bands_kernel(prices, middle, std, deviations, upper, lower, percent_b,
                  bandwidth):  # pragma: no cover (compiled)
    for i in range(len(prices)):
        offset = deviations * std[i]
        upper[i] = middle[i] + offset
        lower[i] = middle[i] - offset
        width = 2.0 * offset
        percent_b[i] = (prices[i] - lower[i]) / width if width != 0 else 0.5
        bandwidth[i] = width / middle[i]


def true_range(high: Values, low: Values, close: Values) -> Values:
    """True range (TA-Lib TRANGE); NaN on the first bar, which has no previous close."""
    out = np.full(len(close), np.nan)
    if len(close) > 1:
        out[1:] = _true_ranges(_array(high), _array(low), _array(close))
    return _like(close, out)


def atr(high: Values, low: Values, close: Values, period: int = 14) -> Values:
    """Average true range, Wilder-smoothed (TA-Lib ATR); first value at bar `period`."""
    _check_period(period)
    closes = _array(close)
    out = np.full(len(closes), np.nan)
    if len(closes) > period:
        _atr_kernel(_array(high), _array(low), closes, period, out)
    return _like(close, out)


@njit(cache=True, error_model="numpy")
def _atr_kernel(high, low, close, period, out):  # pragma: no cover (compiled)
    alpha = 1.0 / period  # a multiply: a division in the loop would set its pace
    average = 0.0
    for i in range(1, period + 1):
        average += max(high[i], close[i - 1]) - min(low[i], close[i - 1])
    average /= period
    out[period] = average
    for i in range(period + 1, len(close)):
        true_range = max(high[i], close[i - 1]) - min(low[i], close[i - 1])
        average += alpha * (true_range - average)
        out[i] = average


def donchian(high: Values, low: Values, period: int = 20) -> Donchian:
    """Highest high and lowest low of the last `period` bars including this one, and their mean."""
    _check_period(period)
    upper = _on_valid(_array(high), _rolling_extreme, period, np.maximum)
    lower = _on_valid(_array(low), _rolling_extreme, period, np.minimum)
    middle = np.add(upper, lower)
    middle *= 0.5
    return Donchian(_like(high, upper), _like(low, lower), _like(high, middle))


def adx(high: Values, low: Values, close: Values, period: int = 14) -> Values:
    """Average directional index (TA-Lib ADX); first value at bar 2*period - 1.

    TA-Lib seeds the smoothed +DM, -DM and TR with sums of their first period-1 values and then
    runs S = S - S/period + x; dividing by period turns that into a Wilder average seeded with
    sum/period. DX = 100 |+DI - -DI| / (+DI + -DI) is unchanged by that scale, and the smoothed
    true range divides both DIs alike, so DX = 100 |+DM - -DM| / (+DM + -DM) of smoothed moves.
    """
    _check_period(period)
    highs, lows = _array(high), _array(low)
    size = len(highs)
    out = np.full(size, np.nan)
    if size < 2 * period or period < 2:
        return _like(close, out)
    up = np.diff(highs)
    down = np.subtract(lows[:-1], lows[1:])
    plus = np.where(up > np.maximum(down, 0.0), up, 0.0)  # +DM: up > down and up > 0
    minus = np.where(down > np.maximum(up, 0.0), down, 0.0)
    for moves in (plus, minus):
        # Index 0 of moves is bar 1, so the seed sits on bar period-1.
        seed = moves[: period - 1].sum() / period
        _smooth(moves[period - 2:], seed, 1.0 / period, moves[period - 2:])
    plus, minus = plus[period - 1:], minus[period - 1:]  # bars period..
    total = plus + minus
    dx = np.abs(np.subtract(plus, minus, out=plus), out=plus)
    np.divide(dx, total, out=dx, where=total > 0)  # no movement at all: |0 - 0| stays 0
    dx *= 100.0
    _smooth(dx[period - 1:], dx[:period].mean(), 1.0 / period, out[2 * period - 1:])
    return _like(close, out)


def stochastic(high: Values, low: Values, close: Values, k_period: int = 14,
               k_smoothing: int = 3, d_period: int = 3) -> Stochastic:
    """Slow stochastic (TA-Lib STOCH with SMA smoothing): %K = SMA of raw %K, %D = SMA of %K."""
    for name, period in (("k_period", k_period), ("k_smoothing", k_smoothing),
                         ("d_period", d_period)):
        _check_period(period, name)
    highest = _on_valid(_array(high), _rolling_extreme, k_period, np.maximum)
    lowest = _on_valid(_array(low), _rolling_extreme, k_period, np.minimum)
    span = np.subtract(highest, lowest, out=highest)
    flat = span == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.subtract(_array(close), lowest, out=lowest)
        np.divide(raw, span, out=raw, where=~flat)
    raw *= 100.0
    raw[flat] = 50.0
    k = _sma(raw, k_smoothing)
    return Stochastic(_like(close, k), _like(close, _sma(k, d_period)))


def vwap(high: Values, low: Values, close: Values, volume: Values, period: int = 20) -> Values:
    """Rolling volume-weighted average of the typical price (high+low+close)/3 over `period` bars.

    Rolling rather than session-anchored: markets here trade around the clock. NaN where the
    window traded no volume.
    """
    _check_period(period)
    volumes = _array(volume)
    turnover = np.add(_array(high), _array(low))
    turnover += _array(close)
    turnover *= volumes
    turnover /= 3.0
    traded = _on_valid(volumes, _rolling_sum, period)
    out = _on_valid(turnover, _rolling_sum, period)
    with np.errstate(invalid="ignore", divide="ignore"):
        out /= traded
    out[traded == 0] = np.nan
    return _like(close, out)


def zscore(values: Values, period: int = 20) -> Values:
    """(value - rolling mean) / rolling population std over `period` bars; 0 where std is 0."""
    _check_period(period)
    return _like(values, _on_valid(_array(values), _zscore, period))


def _zscore(prices: np.ndarray, period: int) -> np.ndarray:
    mean, std = _mean_and_std(prices, period)
    flat = std == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.subtract(prices, mean, out=mean)
        np.divide(out, std, out=out, where=~flat)
    out[flat] = 0.0
    return out


def volume_average(volume: Values, period: int = 20) -> Values:
    """Simple average volume of the last `period` bars including this one."""
    return sma(volume, period)
