"""Indicators: hand-computed values on tiny series, and agreement with TA-Lib on random ones."""

from fractions import Fraction
from math import sqrt

import numpy as np
import pandas as pd
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import indicators

NAN = np.nan


def assert_values(actual, expected) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float), expected, rtol=1e-12,
                               atol=1e-12, equal_nan=True)


# ---- hand-computed values ----

def test_sma_averages_the_last_period_values():
    assert_values(indicators.sma(np.array([1.0, 2, 3, 4, 5]), 3), [NAN, NAN, 2, 3, 4])


def test_ema_is_seeded_with_the_sma_then_recurses():
    # alpha = 2/(3+1) = 0.5; seed (2+4+6)/3 = 4; 4 + .5*(8-4) = 6; 6 + .5*(4-6) = 5
    assert_values(indicators.ema(np.array([2.0, 4, 6, 8, 4]), 3), [NAN, NAN, 4, 6, 5])


def test_rsi_uses_wilder_averages_seeded_with_simple_averages():
    # changes +1, -.5, +1, -.5; seed gain .5, loss .25; then (g*(n-1) + x)/n
    closes = np.array([10.0, 11, 10.5, 11.5, 11])
    assert_values(indicators.rsi(closes, 2), [NAN, NAN, 200 / 3, 600 / 7, 600 / 11])


def test_rsi_is_neutral_when_prices_do_not_move():
    assert_values(indicators.rsi(np.full(5, 7.0), 2), [NAN, NAN, 50, 50, 50])


def test_atr_averages_true_ranges_including_gaps():
    high = np.array([10.0, 11, 10.8, 12])
    low = np.array([9.0, 9.5, 10, 11])
    close = np.array([9.5, 10.5, 10.2, 11.5])
    # true ranges 1.5, 0.8, 1.8 (the last bar gaps up from 10.2 to a high of 12)
    assert_values(indicators.true_range(high, low, close), [NAN, 1.5, 0.8, 1.8])
    assert_values(indicators.atr(high, low, close, 2), [NAN, NAN, 1.15, 1.475])


def test_bollinger_bands_use_the_population_standard_deviation():
    bands = indicators.bollinger(np.array([1.0, 2, 3, 5]), 3, 2.0)
    first, second = sqrt(2 / 3), sqrt(14) / 3  # std of (1,2,3) and of (2,3,5)
    assert_values(bands.middle, [NAN, NAN, 2, 10 / 3])
    assert_values(bands.upper, [NAN, NAN, 2 + 2 * first, 10 / 3 + 2 * second])
    assert_values(bands.lower, [NAN, NAN, 2 - 2 * first, 10 / 3 - 2 * second])
    assert_values(bands.percent_b, [NAN, NAN, (1 + 2 * first) / (4 * first),
                                    (5 / 3 + 2 * second) / (4 * second)])
    assert_values(bands.bandwidth, [NAN, NAN, 4 * first / 2, 4 * second / (10 / 3)])


def test_macd_seeds_the_fast_ema_on_the_slow_emas_first_bar():
    result = indicators.macd(np.array([1.0, 2, 4, 8, 16]), fast=2, slow=3, signal=2)
    # slow: 7/3, 31/6, 127/12; fast seeded with mean(2, 4) = 3 at bar 2: 3, 19/3, 115/9
    assert_values(result.line, [NAN, NAN, 2 / 3, 7 / 6, 79 / 36])
    assert_values(result.signal, [NAN, NAN, NAN, 11 / 12, 191 / 108])
    assert_values(result.histogram, [NAN, NAN, NAN, 7 / 6 - 11 / 12, 23 / 54])


def test_donchian_channel_spans_the_last_period_bars():
    channel = indicators.donchian(np.array([3.0, 5, 4, 2, 1]), np.array([1.0, 2, 0, 1, 0.5]), 3)
    assert_values(channel.upper, [NAN, NAN, 5, 5, 4])
    assert_values(channel.lower, [NAN, NAN, 0, 0, 0])
    assert_values(channel.middle, [NAN, NAN, 2.5, 2.5, 2])


def test_a_gap_in_the_middle_blanks_only_the_windows_that_hold_it():
    values = np.array([1.0, 2, 3, NAN, 5, 6, 7, 8])
    assert_values(indicators.sma(values, 2), [NAN, 1.5, 2.5, NAN, NAN, 5.5, 6.5, 7.5])
    channel = indicators.donchian(values, values, 3)
    assert_values(channel.upper, [NAN, NAN, 3, NAN, NAN, NAN, 7, 8])
    assert_values(channel.lower, [NAN, NAN, 1, NAN, NAN, NAN, 5, 6])


def test_donchian_starts_once_both_high_and_low_have_values():
    high = np.array([NAN, NAN, 4.0, 5, 6, 5])
    low = np.array([NAN, 1.0, 2, 3, 4, 3])
    channel = indicators.donchian(high, low, 2)
    assert_values(channel.upper, [NAN, NAN, NAN, 5, 6, 6])
    assert_values(channel.lower, [NAN, NAN, NAN, 2, 3, 3])


def test_adx_follows_wilders_directional_movement():
    high = np.array([10.0, 11, 12, 11.5, 13])
    low = np.array([9.0, 10, 10.5, 10, 12])
    close = np.array([9.5, 10.5, 11.5, 10.5, 12.5])
    # DX: 100 at bar 2, 20 at bar 3, 1300/17 at bar 4; ADX = mean of the first two, then Wilder
    assert_values(indicators.adx(high, low, close, 2), [NAN, NAN, NAN, 60, 1160 / 17])


def test_stochastic_smooths_raw_k_and_d_with_simple_averages():
    result = indicators.stochastic(np.array([3.0, 5, 4, 2, 1]), np.array([1.0, 2, 0, 1, 0.5]),
                                   np.array([2.0, 4, 1, 1.5, 0.75]), 3, 2, 2)
    # raw %K 20, 30, 18.75
    assert_values(result.k, [NAN, NAN, NAN, 25, 24.375])
    assert_values(result.d, [NAN, NAN, NAN, NAN, 24.6875])


def test_vwap_weights_typical_prices_by_volume():
    result = indicators.vwap(np.array([3.0, 6, 4]), np.array([1.0, 3, 2]),
                             np.array([2.0, 3, 3]), np.array([1.0, 3, 0]), 2)
    assert_values(result, [NAN, 3.5, 4])  # typical prices 2, 4, 3


def test_zscore_measures_distance_from_the_mean_in_deviations():
    assert_values(indicators.zscore(np.array([1.0, 2, 3, 5]), 3),
                  [NAN, NAN, 1 / sqrt(2 / 3), 5 / sqrt(14)])


def test_volume_average_is_a_simple_average():
    assert_values(indicators.volume_average(np.array([1.0, 3, 0]), 2), [NAN, 2, 1.5])


def test_flat_prices_give_neutral_values():
    flat = np.full(40, 5.0)
    assert_values(indicators.bollinger(flat, 20).percent_b[19:], np.full(21, 0.5))
    assert_values(indicators.zscore(flat, 20)[19:], np.zeros(21))
    assert_values(indicators.stochastic(flat, flat, flat).k[15:], np.full(25, 50.0))
    assert_values(indicators.adx(flat, flat, flat, 14)[27:], np.zeros(13))
    assert_values(indicators.atr(flat, flat, flat, 14)[14:], np.zeros(26))


def test_series_in_series_out_with_the_same_index():
    index = pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC")
    result = indicators.ema(pd.Series([2.0, 4, 6, 8, 4], index=index), 3)
    assert isinstance(result, pd.Series)
    assert result.index.equals(index)


def test_too_short_input_gives_only_nans():
    assert np.isnan(indicators.adx(np.ones(5), np.ones(5), np.ones(5), 3)).all()
    assert np.isnan(indicators.ema(np.ones(2), 3)).all()
    assert np.isnan(indicators.sma(np.ones(2), 3)).all()


def test_invalid_period_is_rejected():
    with pytest.raises(ValueError, match="period"):
        indicators.sma(np.ones(10), 0)


# ---- agreement with TA-Lib on a random walk ----

@pytest.fixture(scope="module")
def market():
    rng = np.random.default_rng(20240601)
    size = 3000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, size)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, size))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, size))
    volume = rng.lognormal(10, 1, size)
    return high, low, close, volume


def assert_matches_talib(ours, reference) -> None:
    """Same warm-up as TA-Lib and equal to 1e-9 of the indicator's scale after it."""
    ours, reference = np.asarray(ours, dtype=float), np.asarray(reference, dtype=float)
    first_ours, first_reference = np.argmax(~np.isnan(ours)), np.argmax(~np.isnan(reference))
    assert first_ours <= first_reference
    scale = np.nanmax(np.abs(reference))
    np.testing.assert_allclose(ours[first_reference:], reference[first_reference:], rtol=1e-9,
                               atol=1e-9 * scale)


@pytest.mark.parametrize("period", [2, 14, 50])
def test_sma_ema_rsi_match_talib(market, period):
    close = market[2]
    assert_matches_talib(indicators.sma(close, period), talib.SMA(close, period))
    assert_matches_talib(indicators.ema(close, period), talib.EMA(close, period))
    assert_matches_talib(indicators.rsi(close, period), talib.RSI(close, period))


@pytest.mark.parametrize("period", [2, 14, 50])
def test_atr_and_adx_match_talib(market, period):
    high, low, close, _ = market
    assert_matches_talib(indicators.atr(high, low, close, period),
                         talib.ATR(high, low, close, period))
    assert_matches_talib(indicators.adx(high, low, close, period),
                         talib.ADX(high, low, close, period))


def test_warm_up_ends_on_the_same_bar_as_talib(market):
    high, low, close, _ = market
    pairs = [
        (indicators.ema(close, 20), talib.EMA(close, 20)),
        (indicators.rsi(close, 14), talib.RSI(close, 14)),
        (indicators.atr(high, low, close, 14), talib.ATR(high, low, close, 14)),
        (indicators.adx(high, low, close, 14), talib.ADX(high, low, close, 14)),
        (indicators.macd(close).signal, talib.MACD(close)[1]),
    ]
    for ours, reference in pairs:
        assert np.array_equal(np.isnan(ours), np.isnan(reference))


@pytest.mark.parametrize("period", [2, 5, 14])
def test_recursive_averages_match_talib_at_every_length(market, period):
    # The block-wise recursion has edges at multiples of 16 bars; cross them all.
    high, low, close, _ = market
    for size in range(1, 80):
        h, lo, c = high[:size], low[:size], close[:size]
        assert_values(indicators.ema(c, period), talib.EMA(c, period))
        assert_values(indicators.rsi(c, period), talib.RSI(c, period))
        assert_values(indicators.atr(h, lo, c, period), talib.ATR(h, lo, c, period))
        assert_values(indicators.adx(h, lo, c, period), talib.ADX(h, lo, c, period))


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5), (2, 3, 2)])
def test_macd_matches_talib(market, fast, slow, signal):
    ours = indicators.macd(market[2], fast, slow, signal)
    line, signal_line, histogram = talib.MACD(market[2], fast, slow, signal)
    assert_matches_talib(ours.line, line)
    assert_matches_talib(ours.signal, signal_line)
    assert_matches_talib(ours.histogram, histogram)


@pytest.mark.parametrize(("period", "deviations"), [(20, 2.0), (5, 1.5), (100, 3.0)])
def test_bollinger_matches_talib(market, period, deviations):
    ours = indicators.bollinger(market[2], period, deviations)
    upper, middle, lower = talib.BBANDS(market[2], period, deviations, deviations, 0)
    assert_matches_talib(ours.upper, upper)
    assert_matches_talib(ours.middle, middle)
    assert_matches_talib(ours.lower, lower)


@pytest.mark.parametrize("period", [2, 20, 1500])
def test_donchian_matches_talib_max_and_min(market, period):
    high, low, _, _ = market
    channel = indicators.donchian(high, low, period)
    assert_matches_talib(channel.upper, talib.MAX(high, period))
    assert_matches_talib(channel.lower, talib.MIN(low, period))


@pytest.mark.parametrize("period", [2, 3, 7])
def test_donchian_matches_talib_at_every_length(market, period):
    # The channel works in blocks of `period` bars; cross every kind of block edge.
    high, low, _, _ = market
    for size in range(1, 40):
        channel = indicators.donchian(high[:size], low[:size], period)
        assert_values(channel.upper, talib.MAX(high[:size], period))
        assert_values(channel.lower, talib.MIN(low[:size], period))


def test_donchian_of_one_bar_is_the_bar_itself(market):
    high, low, _, _ = market
    channel = indicators.donchian(high, low, 1)
    assert_values(channel.upper, high)
    assert_values(channel.lower, low)


def test_stochastic_matches_talib(market):
    high, low, close, _ = market
    ours = indicators.stochastic(high, low, close, 14, 3, 3)
    k, d = talib.STOCH(high, low, close, 14, 3, 0, 3, 0)
    assert_matches_talib(ours.k, k)
    assert_matches_talib(ours.d, d)


@pytest.mark.parametrize("period", [3, 20, 1500])
def test_volume_average_matches_talib_across_sum_blocks(market, period):
    volume = market[3]
    assert_matches_talib(indicators.volume_average(volume, period), talib.SMA(volume, period))


def test_vwap_and_zscore_match_their_definitions(market):
    high, low, close, volume = market
    frame = pd.DataFrame({"typical": (high + low + close) / 3, "volume": volume})
    turnover = (frame["typical"] * frame["volume"]).rolling(20).sum()
    expected_vwap = turnover / frame["volume"].rolling(20).sum()
    np.testing.assert_allclose(indicators.vwap(high, low, close, volume, 20), expected_vwap,
                               rtol=1e-9, equal_nan=True)
    closes = pd.Series(close)
    expected_z = (closes - closes.rolling(20).mean()) / closes.rolling(20).std(ddof=0)
    np.testing.assert_allclose(indicators.zscore(close, 20), expected_z, rtol=1e-8,
                               atol=1e-8, equal_nan=True)


def test_leading_nans_are_skipped_like_the_talib_wrapper(market):
    close = np.r_[np.full(7, np.nan), market[2][:500]]
    assert_matches_talib(indicators.ema(close, 10), talib.EMA(close, 10))
    assert_matches_talib(indicators.sma(close, 10), talib.SMA(close, 10))


def test_long_history_keeps_full_precision():
    # A plain cumulative sum over a million bars would drift by ~1e-8 of the price.
    rng = np.random.default_rng(5)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.002, 1_000_000)))
    assert_matches_talib(indicators.sma(close, 20), talib.SMA(close, 20))
    assert_matches_talib(indicators.bollinger(close, 20).upper, talib.BBANDS(close, 20)[0])


# ---- exact rolling variance (Bollinger, z-score) ----

def exact_rolling_std(values: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Population std of every full window and the last value's distance from the window's
    mean, by two passes, each window less its first value (exact for prices within a factor
    of 2), with the second pass's correction term."""
    windows = np.lib.stride_tricks.sliding_window_view(values, period)
    std, last = np.empty(len(windows)), np.empty(len(windows))
    for start in range(0, len(windows), 1 << 16):
        chunk = windows[start:start + (1 << 16)]
        shifted = chunk - chunk[:, :1]
        deviations = shifted - shifted.mean(axis=1, keepdims=True)
        correction = deviations.sum(axis=1)
        squares = (deviations * deviations).sum(axis=1) - correction**2 / period
        std[start:start + len(chunk)] = np.sqrt(squares / period)
        last[start:start + len(chunk)] = deviations[:, -1] - correction / period
    return std, last


def fraction_rolling_std(values: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """The same in exact rational arithmetic, each rounded once at the end."""
    exact = [Fraction(x) for x in values]  # floats are dyadic: sums and products stay cheap
    std, last = [], []
    for start in range(len(values) - period + 1):
        window = exact[start:start + period]
        total, squares = sum(window), sum(x * x for x in window)
        std.append(sqrt(float((period * squares - total * total) / period**2)))
        last.append(float((period * window[-1] - total) / period))
    return np.array(std), np.array(last)


def band_std(bands: indicators.Bollinger, deviations: float) -> np.ndarray:
    # bandwidth x middle = upper - lower without the cancellation of subtracting two prices
    return np.asarray(bands.bandwidth) * np.asarray(bands.middle) / (2 * deviations)


def assert_rolling_std_exact(values: np.ndarray, period: int,
                             expected: tuple[np.ndarray, np.ndarray]) -> None:
    """Bollinger's std and the z-score within 1e-9 relative of the exact ones."""
    expected_std, expected_last = expected
    std = band_std(indicators.bollinger(values, period, 2.0), 2.0)[period - 1:]
    np.testing.assert_allclose(std, expected_std, rtol=1e-9, atol=0)
    expected_z = expected_last / expected_std
    z = np.asarray(indicators.zscore(values, period))[period - 1:]
    np.testing.assert_allclose(z, expected_z, rtol=1e-9, atol=1e-9)


def test_rolling_std_is_exact_for_tiny_moves():
    # Running sums of x and x^2 erred by 1.7e-2 here (moves of 1e-6 of the price).
    rng = np.random.default_rng(11)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 1e-6, 1_000_000)))
    assert_rolling_std_exact(close, 20, exact_rolling_std(close, 20))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), period=st.integers(2, 30), size=st.integers(30, 120),
       sigma=st.sampled_from([1e-7, 1e-6, 1e-5, 1e-3, 3e-2]),
       price=st.sampled_from([1e-4, 0.37, 100.0, 65_000.0]))
def test_rolling_std_is_exact_on_random_walks(seed, period, size, sigma, price):
    rng = np.random.default_rng(seed)
    values = price * np.exp(np.cumsum(rng.normal(0, sigma, size)))
    assert_rolling_std_exact(values, period, fraction_rolling_std(values, period))


def test_rolling_std_stays_exact_after_a_jump_leaves_the_window():
    # A 10% jump, then moves of 1e-7: the jump's rounding must not stay in the calm windows.
    rng = np.random.default_rng(3)
    calm = np.exp(np.cumsum(rng.normal(0, 1e-7, 300)))
    values = np.r_[100 * calm[:100], 110 * calm[100:]]
    assert_rolling_std_exact(values, 5, fraction_rolling_std(values, 5))


def test_rolling_std_across_the_periodic_fresh_sums():
    rng = np.random.default_rng(4)
    values = 50 * np.exp(np.cumsum(rng.normal(0, 1e-5, 5000)))
    assert_rolling_std_exact(values, 3, exact_rolling_std(values, 3))
