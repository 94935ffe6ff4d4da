"""Vectorised technical indicators that reproduce TA-Lib's definitions.

Every function takes numpy arrays or pandas Series and returns the same kind (a Series keeps the
index of its price input). What holds against TA-Lib, each proved by tests/test_indicators.py:
- SMA, EMA, RSI, ATR, ADX, the MACD signal line and histogram, and stochastic %D are NaN until
  the same bar as TA-Lib (test_warm_up_ends_on_the_same_bar_as_talib) and equal it within 1e-9
  of the indicator's scale after it (test_*_match_talib; about 1e-12 relative in practice).
- Two outputs start earlier than TA-Lib's, which blanks them until the last output of the
  function is defined: the MACD line from bar slow-1 (TA-Lib: slow+signal-2, with the signal
  line) and stochastic %K from bar k_period+k_smoothing-2 (TA-Lib: with %D, d_period-1 bars
  later). Where both are defined they are equal (test_macd_matches_talib,
  test_stochastic_matches_talib check from TA-Lib's first bar and allow ours to start sooner).
- Bollinger bands and the z-score rest on a rolling standard deviation within about 1e-11
  relative of an exact one (1e-9 tested: test_rolling_std_is_exact_for_tiny_moves on a million
  bars moving 1e-6 of the price, test_rolling_std_is_exact_on_random_walks); TA-Lib's
  BBANDS agrees within 1e-9 of the price (test_bollinger_matches_talib).
EMAs are seeded with the simple average of their first `period` inputs and Wilder averages
(RSI, ATR, ADX) with plain averages, exactly as TA-Lib does. Leading NaNs in an input are
skipped like the TA-Lib Python wrapper does.

The work is done by loops compiled with numba (the *_kernel functions), most indicators in one
pass: each bar depends on the one before (EMAs, Wilder averages, running window sums), which
numpy cannot vectorise, and one pass writing each output once beats several whole-array numpy
steps with their temporaries. Kernels
are cached on disk after their first compile (about a second). A NaN inside an input makes the
values whose window holds it NaN; recursive averages stay NaN after one.

Deliberate departures from TA-Lib, all in degenerate windows without any price movement:
RSI is 50 (TA-Lib: 0), stochastic %K is 50 (TA-Lib: 0), Bollinger %b is 0.5, and ADX treats an
undefined DX as 0. TA-Lib also treats |x| < 1e-8 as zero, which breaks coins priced below a
cent; here only exact zeros count as zero.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple, Protocol, TypeVar

import numpy as np
import pandas as pd
from numba import njit

Values = TypeVar("Values", pd.Series, np.ndarray)
SeriesLike = pd.Series | np.ndarray  # an output: a Series when the input was one

# Rolling sums are summed afresh at every window starting on a multiple of this many bars.
_RESUM = 1024
# A rolling variance is summed afresh when its squares fall below this fraction of the scale of
# its rounding (see _welford_step): rounding of about 1e-16 x scale x sqrt(_RESUM) stays < 1e-10.
_SQUARES_DROP = 2.0 ** -16


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


def _nan_until(size: int, first: int) -> np.ndarray:
    """An output array, NaN before index `first`; the kernel writes the rest.

    Not np.full: writing a million NaNs the kernel then overwrites costs as much as an indicator.
    """
    out = np.empty(size)
    out[:first] = np.nan
    return out


def _check_period(period: int, name: str = "period") -> None:
    if int(period) != period or period < 1:
        raise ValueError(f"{name} must be a positive integer, got {period!r}")


def _rolling_sum(values: np.ndarray, period: int, divisor: float = 1.0) -> np.ndarray:
    """Sum of the last `period` values at each bar, divided by `divisor`; NaN before the first
    full window."""
    out = _nan_until(len(values), period - 1)
    if len(values) >= period:
        _rolling_sum_kernel(values, period, float(divisor), out)
    return out


@njit(cache=True)
def _rolling_sum_kernel(values, period, divisor, out):  # pragma: no cover (compiled)
    # A running total, summed afresh every _RESUM bars (and while a NaN is in the window), so
    # rounding cannot build up over long histories as TA-Lib's does (~1e-9 over 1M bars).
    # Slices indexed from 0 compile to a faster loop than offsets from period - 1.
    entering, sums = values[period - 1:], out[period - 1:]
    total = np.nan
    for k in range(len(sums)):  # the window values[k:k + period]
        if k % _RESUM == 0 or not np.isfinite(total):
            total = values[k:k + period].sum()
        else:
            total += entering[k] - values[k - 1]
        sums[k] = total / divisor


def _channel(high: np.ndarray, low: np.ndarray,
             period: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Highest high, lowest low and their mean over the last `period` bars.

    Bars before both inputs have a value are skipped, like _on_valid does for one input.
    """
    size = len(high)
    start = max(_first_valid(high), _first_valid(low))
    channel = tuple(_nan_until(size - start, period - 1) for _ in range(3))
    if size - start >= period:
        _channel_kernel(high[start:], low[start:], period, *channel)
    return tuple(_padded(part, size) for part in channel)


@njit(inline="always")
def _higher(a, b):  # pragma: no cover (compiled)
    return a if a > b or a != a else b  # a NaN on either side wins, like np.maximum


@njit(inline="always")
def _lower(a, b):  # pragma: no cover (compiled)
    return a if a < b or a != a else b


@njit(cache=True, error_model="numpy")
def _channel_kernel(high, low, period, upper, lower, middle):  # pragma: no cover (compiled)
    # Van Herk / Gil-Werman: cut the bars into blocks of `period`. A window ending k bars into
    # a block is the previous block from bar k on plus this block's first k+1 bars, so its
    # extreme is a suffix extreme of one block against a running prefix extreme of the next:
    # three comparisons per bar whatever the period, where rescanning the window after its
    # extreme drops out costs `period` comparisons each time.
    size = len(upper)
    top, bottom = np.empty(period), np.empty(period)
    for start in range(0, size - period + 1, period):
        block_high, block_low = high[start:start + period], low[start:start + period]
        top[period - 1], bottom[period - 1] = block_high[period - 1], block_low[period - 1]
        for k in range(period - 2, -1, -1):
            top[k] = _higher(block_high[k], top[k + 1])
            bottom[k] = _lower(block_low[k], bottom[k + 1])
        end = start + period - 1  # this window is the block itself
        highest, lowest = top[0], bottom[0]
        upper[end], lower[end], middle[end] = highest, lowest, 0.5 * (highest + lowest)
        # Slices of the next block, indexed from 0: plain indexes compile to a faster loop.
        following = slice(end + 1, min(end + period, size))
        next_high, next_low = high[following], low[following]
        next_upper, next_lower, next_middle = upper[following], lower[following], middle[following]
        running_high, running_low = -np.inf, np.inf
        for k in range(len(next_high)):
            running_high = _higher(next_high[k], running_high)
            running_low = _lower(next_low[k], running_low)
            highest = _higher(top[k + 1], running_high)
            lowest = _lower(bottom[k + 1], running_low)
            next_upper[k], next_lower[k], next_middle[k] = highest, lowest, 0.5 * (highest + lowest)


def _on_valid(values: np.ndarray, compute: Callable[..., Any], *args: object) -> Any:
    """Apply compute to the part of values after its leading NaNs, keeping positions.

    compute returns an array or a tuple of arrays as long as its input.
    """
    start = _first_valid(values)
    if start == 0:
        return compute(values, *args)
    result = compute(values[start:], *args)
    if isinstance(result, tuple):
        return tuple(_padded(part, len(values)) for part in result)
    return _padded(result, len(values))


def _padded(part: np.ndarray, size: int) -> np.ndarray:
    """part at the end of `size` values, NaN before it."""
    if len(part) == size:
        return part
    out = np.full(size, np.nan)
    out[size - len(part):] = part
    return out


def _smooth(values: np.ndarray, seed: float, alpha: float, out: np.ndarray) -> None:
    """out[0] = seed, then out[t] = out[t-1] + alpha * (values[t] - out[t-1]).

    TA-Lib's seeded EMA and Wilder average. out may be values itself (smoothing in place).
    """
    if len(out):
        _smooth_kernel(values, float(seed), float(alpha), out)


@njit(cache=True, fastmath={"contract"})
def _smooth_kernel(values, seed, alpha, out):  # pragma: no cover (compiled)
    average = seed
    out[0] = average
    for t in range(1, len(out)):
        average = _step(average, values[t], alpha)
        out[t] = average


@njit(inline="always")
def _step(average, value, alpha):  # pragma: no cover (compiled)
    """One step of an exponential or Wilder average.

    In kernels compiled with fastmath "contract" this is one fused multiply-add from bar to
    bar, where average + alpha * (value - average) chains three operations; it paces the loop.
    """
    return (1.0 - alpha) * average + alpha * value


def _sma(values: np.ndarray, period: int) -> np.ndarray:
    return _on_valid(values, _rolling_sum, period, period)


def _ema(values: np.ndarray, period: int) -> np.ndarray:
    def compute(valid: np.ndarray) -> np.ndarray:
        out = _nan_until(len(valid), period - 1)
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


# Rolling variance (Bollinger, z-score). Welford's update of the window's mean and sum of
# squared deviations, both of the prices less `reference`, a price of the window they were last
# summed afresh on: prices within a factor of 2 subtract exactly, so the mean's rounding is of
# the order of the moves rather than of the price, and a tiny deviation over a large price
# keeps its digits (running sums of x and x^2 lose them: E[x^2] - E[x]^2 cancels; that was a
# relative error of 1.7e-2 at moves of 1e-6 of the price). A kernel sums afresh by two passes
# (_fresh_moments) at every window starting on a multiple of _RESUM, while a NaN is in the
# window, and when the squares fell below _SQUARES_DROP of `peak`, the scale of their rounding
# since the last fresh sum. Relative error of the standard deviation against an exact one:
# about 1e-11, see tests/test_indicators.py::test_rolling_std_is_exact_for_tiny_moves.
# (The kernels spell the branch out: an inline helper holding it compiled to a loop 1.7x slower.)

@njit(cache=True, error_model="numpy")
def _fresh_moments(window):  # pragma: no cover (compiled)
    """(reference, mean, squares, peak) of a window by two passes, the mean less reference."""
    reference = window[0]
    total = 0.0
    for x in window:
        total += x - reference
    mean = total / len(window)
    squares = 0.0
    for x in window:
        deviation = (x - reference) - mean
        squares += deviation * deviation
    return reference, mean, squares, max(squares, len(window) * mean * mean)


@njit(inline="always")
def _welford_step(leaving, entering, mean, squares, peak, period,
                  scale):  # pragma: no cover (compiled)
    """(mean, squares, peak) after `leaving` left the window and `entering` joined it; every
    value is less the same reference, scale is 1 / period.

    peak bounds the size of the rounding in squares: a large move that left the window leaves
    rounding of the squares it made behind, and rounding of the mean (relative to its size)
    adds about 2 x period x error x mean to the squares.
    """
    change = entering - leaving
    next_mean = mean + change * scale
    squares += change * ((entering - next_mean) + (leaving - mean))
    return next_mean, squares, max(peak, squares, period * next_mean * next_mean)


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
    out = _nan_until(len(prices), period)
    if len(prices) > period:
        _rsi_kernel(prices, period, out)
    return out


@njit(cache=True, error_model="numpy", fastmath={"contract"})
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
            gain = _step(gain, max(change, 0.0), alpha)
            loss = _step(loss, max(-change, 0.0), alpha)
        total = gain + loss
        out[i] = 100.0 * gain / total if total > 0 else 50.0


def macd(close: Values, fast: int = 12, slow: int = 26, signal: int = 9) -> MACD:
    """MACD line, signal line and histogram (TA-Lib MACD).

    Like TA-Lib, the fast EMA starts on the same bar as the slow one: it is seeded with the
    average of the `fast` closes ending at bar slow-1, not at bar fast-1. The line is defined
    from bar slow-1, signal-1 bars before TA-Lib's (which waits for the signal line); the
    signal line and histogram start on TA-Lib's bar, slow+signal-2. Equal to TA-Lib where both
    are defined: tests/test_indicators.py::test_macd_matches_talib.
    """
    for name, period in (("fast", fast), ("slow", slow), ("signal", signal)):
        _check_period(period, name)
    if fast >= slow:
        raise ValueError(f"fast ({fast}) must be shorter than slow ({slow})")
    result = _on_valid(_array(close), _macd, fast, slow, signal)
    return MACD(*(_like(close, part) for part in result))


def _macd(prices: np.ndarray, fast: int, slow: int,
          signal: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    signal_start = slow + signal - 2  # the bar the signal line's seed average ends on
    line = _nan_until(len(prices), slow - 1)
    signal_line = _nan_until(len(prices), signal_start)
    histogram = _nan_until(len(prices), signal_start)
    if len(prices) >= slow:
        _macd_kernel(prices, fast, slow, signal, signal_start, line, signal_line, histogram)
    return line, signal_line, histogram


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _macd_kernel(prices, fast, slow, signal, signal_start, line, signal_line,
                 histogram):  # pragma: no cover (compiled)
    # The three averages advance together in one pass over the prices.
    fast_alpha, slow_alpha = 2.0 / (fast + 1), 2.0 / (slow + 1)
    signal_alpha = 2.0 / (signal + 1)
    slow_average = prices[:slow].sum() / slow
    fast_average = prices[slow - fast:slow].sum() / fast
    signal_average = 0.0
    for t in range(slow - 1, len(prices)):
        if t >= slow:
            slow_average = _step(slow_average, prices[t], slow_alpha)
            fast_average = _step(fast_average, prices[t], fast_alpha)
        value = fast_average - slow_average
        line[t] = value
        if t < signal_start:
            signal_average += value
            continue
        if t == signal_start:
            signal_average = (signal_average + value) / signal
        else:
            signal_average = _step(signal_average, value, signal_alpha)
        signal_line[t] = signal_average
        histogram[t] = value - signal_average


def bollinger(close: Values, period: int = 20, deviations: float = 2.0) -> Bollinger:
    """Bollinger Bands (TA-Lib BBANDS with SMA), plus %b and bandwidth by definition.

    percent_b = (close - lower) / (upper - lower); bandwidth = (upper - lower) / middle. The
    standard deviation (population, like TA-Lib's) is within about 1e-11 relative of an exact
    two-pass one however small the moves are against the price (bandwidth x middle keeps that
    precision; upper - lower subtracts two prices and loses digits to the price's size):
    tests/test_indicators.py::test_rolling_std_is_exact_for_tiny_moves. The bands equal
    TA-Lib's within 1e-9 of the price: test_bollinger_matches_talib.
    """
    _check_period(period)
    result = _on_valid(_array(close), _bollinger, period, deviations)
    return Bollinger(*(_like(close, part) for part in result))


def _bollinger(prices: np.ndarray, period: int, deviations: float) -> tuple[np.ndarray, ...]:
    bands = tuple(_nan_until(len(prices), period - 1) for _ in range(5))
    if len(prices) >= period:
        _bollinger_kernel(prices, period, float(deviations), *bands)
    return bands


@njit(cache=True, error_model="numpy")
def _bollinger_kernel(prices, period, deviations, middle, upper, lower, percent_b,
                      bandwidth):  # pragma: no cover (compiled)
    # Outputs and the newest price as slices indexed by window start: see _rolling_sum_kernel.
    last = period - 1
    closes, middle, upper, lower = prices[last:], middle[last:], upper[last:], lower[last:]
    percent_b, bandwidth = percent_b[last:], bandwidth[last:]
    scale = 1.0 / period
    # Two passes: the rolling moments bar after bar (each depends on the one before), parked
    # in the outputs, then the bands from them, a loop free of that chain that compiles to
    # vector square roots and divisions (1.4x faster than one pass doing both).
    reference = mean = squares = peak = np.nan
    for k in range(len(closes)):
        if k % _RESUM:
            mean, squares, peak = _welford_step(prices[k - 1] - reference,
                                                prices[k + period - 1] - reference, mean,
                                                squares, peak, period, scale)
        if k % _RESUM == 0 or not squares >= peak * _SQUARES_DROP:  # true on NaN too
            reference, mean, squares, peak = _fresh_moments(prices[k:k + period])
        middle[k] = reference + mean
        # The close's distance from the mean, both less the reference: no digits lost.
        lower[k] = (closes[k] - reference) - mean
        upper[k] = squares
    for k in range(len(closes)):
        offset = deviations * np.sqrt(max(upper[k] * scale, 0.0))
        average = middle[k]
        width = 2.0 * offset
        position = (lower[k] + offset) / width
        percent_b[k] = position if width != 0 else 0.5
        bandwidth[k] = width / average
        upper[k], lower[k] = average + offset, average - offset


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
    out = _nan_until(len(closes), period)
    if len(closes) > period:
        _atr_kernel(_array(high), _array(low), closes, period, out)
    return _like(close, out)


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _atr_kernel(high, low, close, period, out):  # pragma: no cover (compiled)
    alpha = 1.0 / period
    average = 0.0
    for i in range(1, period + 1):
        average += max(high[i], close[i - 1]) - min(low[i], close[i - 1])
    average /= period
    out[period] = average
    for i in range(period + 1, len(close)):
        true_range = max(high[i], close[i - 1]) - min(low[i], close[i - 1])
        average = _step(average, true_range, alpha)
        out[i] = average


def donchian(high: Values, low: Values, period: int = 20) -> Donchian:
    """Highest high and lowest low of the last `period` bars including this one, and their mean."""
    _check_period(period)
    upper, lower, middle = _channel(_array(high), _array(low), period)
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
    out = _nan_until(len(highs), 2 * period - 1)
    if len(highs) >= 2 * period and period >= 2:
        _adx_kernel(highs, lows, period, out)
    return _like(close, out)


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _adx_kernel(high, low, period, out):  # pragma: no cover (compiled)
    alpha = 1.0 / period
    plus = minus = 0.0  # smoothed +DM and -DM, seeded with the moves of bars 1..period-1
    for i in range(1, period):
        up, down = _directional_moves(high, low, i)
        plus += up
        minus += down
    plus /= period
    minus /= period
    dx_total = average = 0.0
    for i in range(period, len(high)):
        up, down = _directional_moves(high, low, i)
        plus = _step(plus, up, alpha)
        minus = _step(minus, down, alpha)
        total = plus + minus
        dx = 100.0 * abs(plus - minus) / total if total > 0 else 0.0  # no movement at all: 0
        if i < 2 * period - 1:
            dx_total += dx
            continue
        if i == 2 * period - 1:
            average = (dx_total + dx) / period  # the seed: the first `period` DX values
        else:
            average = _step(average, dx, alpha)
        out[i] = average


@njit(inline="always")
def _directional_moves(high, low, i):  # pragma: no cover (compiled)
    """+DM and -DM of bar i: the larger of the two moves, if it is a gain; the other is 0."""
    up, down = high[i] - high[i - 1], low[i - 1] - low[i]
    return (up if up > max(down, 0.0) else 0.0), (down if down > max(up, 0.0) else 0.0)


def stochastic(high: Values, low: Values, close: Values, k_period: int = 14,
               k_smoothing: int = 3, d_period: int = 3) -> Stochastic:
    """Slow stochastic (TA-Lib STOCH with SMA smoothing): %K = SMA of raw %K, %D = SMA of %K.

    %K is defined from bar k_period+k_smoothing-2, d_period-1 bars before TA-Lib's (which waits
    for %D); %D starts on TA-Lib's bar. Equal to TA-Lib where both are defined:
    tests/test_indicators.py::test_stochastic_matches_talib.
    """
    for name, period in (("k_period", k_period), ("k_smoothing", k_smoothing),
                         ("d_period", d_period)):
        _check_period(period, name)
    highest, lowest, _ = _channel(_array(high), _array(low), k_period)
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
    """(value - rolling mean) / rolling population std over `period` bars; 0 where std is 0.

    Within 1e-9 (relative, or absolute near 0) of the exact z-score, however small the moves
    are against the price: tests/test_indicators.py::test_rolling_std_is_exact_for_tiny_moves.
    """
    _check_period(period)
    return _like(values, _on_valid(_array(values), _zscore, period))


def _zscore(prices: np.ndarray, period: int) -> np.ndarray:
    out = _nan_until(len(prices), period - 1)
    if len(prices) >= period:
        _zscore_kernel(prices, period, out)
    return out


@njit(cache=True, error_model="numpy")
def _zscore_kernel(prices, period, out):  # pragma: no cover (compiled)
    closes, scores = prices[period - 1:], out[period - 1:]
    scale = 1.0 / period
    reference = mean = squares = peak = np.nan
    for k in range(len(closes)):
        if k % _RESUM:
            mean, squares, peak = _welford_step(prices[k - 1] - reference,
                                                prices[k + period - 1] - reference, mean,
                                                squares, peak, period, scale)
        if k % _RESUM == 0 or not squares >= peak * _SQUARES_DROP:  # true on NaN too
            reference, mean, squares, peak = _fresh_moments(prices[k:k + period])
        std = np.sqrt(max(squares * scale, 0.0))
        scores[k] = ((closes[k] - reference) - mean) / std if std != 0 else 0.0


def volume_average(volume: Values, period: int = 20) -> Values:
    """Simple average volume of the last `period` bars including this one."""
    return sma(volume, period)


# ---- sharing results between strategies evaluated on the same prices (strategies/grid.py) ----

# The results in use, when a grid evaluates many parameter sets on one frame; None otherwise.
_shared_results: ContextVar[SharedResults | None] = ContextVar("shared_results", default=None)


class SharedResults(Protocol):
    def get(self, function: Callable[..., Any], args: tuple, kwargs: dict) -> Any: ...


@contextmanager
def sharing_results(results: SharedResults) -> Iterator[None]:
    """Within this block every public indicator asks `results` first (per thread/context)."""
    token = _shared_results.set(results)
    try:
        yield
    finally:
        _shared_results.reset(token)


def _shareable(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def shared(*args: Any, **kwargs: Any) -> Any:
        results = _shared_results.get()
        if results is None:
            return function(*args, **kwargs)
        return results.get(function, args, kwargs)

    return shared


# Wrapped here, once, rather than decorated one by one: the indicators above stay as they are.
for _name in ("sma", "ema", "rsi", "macd", "bollinger", "true_range", "atr", "donchian", "adx",
              "stochastic", "vwap", "zscore", "volume_average"):
    globals()[_name] = _shareable(globals()[_name])
del _name
