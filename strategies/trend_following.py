"""Trend following: EMA crossovers, optionally confirmed by MACD, in a trending market (ADX)."""

from __future__ import annotations

import numpy as np

from strategies import indicators
from strategies.base import (
    RISK_PARAMETERS,
    Evaluation,
    Param,
    ParameterError,
    Strategy,
    previous_bar,
    register,
)

# A MACD histogram of this many ATRs counts as full momentum in the confidence.
FULL_MOMENTUM_ATR = 0.25
# ADX at or above this counts as a fully trending market in the confidence.
FULL_TREND_ADX = 50.0


@register
class TrendFollowing(Strategy):
    """Long on the bar where the fast EMA crosses above the slow EMA, short on the cross below.
    With `use_macd`, the MACD histogram must agree in sign; ADX must be >= `adx_minimum`
    (0 turns the filter off). Stop and target are ATR multiples.

    Confidence = 0.5 * min(1, ADX / 50) + 0.5 * clip(side * histogram / (0.25 * ATR), 0, 1),
    where side is +1 for a long and -1 for a short: trend strength plus momentum.
    """

    name = "trend_following"
    parameters = {
        "fast_period": Param(int, 20, 2, 499, "fast EMA period"),
        "slow_period": Param(int, 50, 3, 500, "slow EMA period"),
        "use_macd": Param(bool, True, None, None, "require the MACD histogram to agree"),
        "macd_fast": Param(int, 12, 2, 499, "MACD fast EMA period"),
        "macd_slow": Param(int, 26, 3, 500, "MACD slow EMA period"),
        "macd_signal": Param(int, 9, 2, 500, "MACD signal EMA period"),
        "adx_period": Param(int, 14, 2, 250, "ADX period"),
        "adx_minimum": Param(float, 20.0, 0.0, 100.0, "lowest ADX to trade; 0 turns it off"),
        **RISK_PARAMETERS,
    }

    def check_params(self) -> None:
        if self.params["fast_period"] >= self.params["slow_period"]:
            raise ParameterError("fast_period", "must be below slow_period")
        if self.params["macd_fast"] >= self.params["macd_slow"]:
            raise ParameterError("macd_fast", "must be below macd_slow")

    @property
    def warmup_bars(self) -> int:
        p = self.params
        return max(p["slow_period"] + 1, p["macd_slow"] + p["macd_signal"] - 1,
                   2 * p["adx_period"], p["atr_period"] + 1)

    def evaluate(self, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                 volume: np.ndarray) -> Evaluation:
        p = self.params
        fast = indicators.ema(close, p["fast_period"])
        slow = indicators.ema(close, p["slow_period"])
        momentum = indicators.macd(close, p["macd_fast"], p["macd_slow"], p["macd_signal"])
        trend = indicators.adx(high, low, close, p["adx_period"])
        average_range = indicators.atr(high, low, close, p["atr_period"])
        with np.errstate(invalid="ignore"):
            above = fast > slow
            below = fast < slow
            # A cross needs both bars defined: NaN compares False, so the first bar cannot fire.
            long = above & previous_bar(fast <= slow, False)
            short = below & previous_bar(fast >= slow, False)
            trending = trend >= p["adx_minimum"]
            long &= trending
            short &= trending
            if p["use_macd"]:
                long &= momentum.histogram > 0
                short &= momentum.histogram < 0

        def confidence(bars: np.ndarray) -> np.ndarray:
            side = np.where(long[bars], 1.0, -1.0)
            with np.errstate(invalid="ignore"):
                return 0.5 * np.minimum(1.0, trend[bars] / FULL_TREND_ADX) + 0.5 * np.clip(
                    side * momentum.histogram[bars] / (FULL_MOMENTUM_ATR * average_range[bars]),
                    0.0, 1.0)

        return Evaluation(
            long=long,
            short=short,
            confidence=confidence,
            atr=average_range,
            indicators={
                "ema_fast": fast,
                "ema_slow": slow,
                "macd": momentum.line,
                "macd_signal": momentum.signal,
                "macd_histogram": momentum.histogram,
                "adx": trend,
                "atr": average_range,
            },
        )
