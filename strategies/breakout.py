"""Breakout: a close beyond the previous bars' Donchian channel on above-average volume."""

from __future__ import annotations

import numpy as np

from strategies import indicators
from strategies.base import (
    RISK_PARAMETERS,
    Evaluation,
    Param,
    Strategy,
    previous_bar,
    register,
)


@register
class Breakout(Strategy):
    """Long when the close breaks above the highest high of the previous `channel_period` bars
    and volume exceeds `volume_factor` x the average volume of the previous `volume_period` bars;
    short mirrored below the lowest low. With `use_adx_filter`, ADX must be >= `adx_minimum`.
    Stop and target are ATR multiples.

    Confidence = 0.5 * min(1, breakout_distance / ATR) + 0.5 * min(1, volume_ratio / factor - 1),
    where breakout_distance is how far the close is beyond the channel and
    volume_ratio = volume / average volume. Both terms are positive whenever it fires.
    """

    name = "breakout"
    parameters = {
        "channel_period": Param(int, 20, 2, 500, "Donchian channel length in previous bars"),
        "volume_period": Param(int, 20, 2, 500, "bars in the volume average"),
        "volume_factor": Param(float, 1.5, 0.1, 20.0, "volume must exceed this x its average"),
        "use_adx_filter": Param(bool, False, None, None, "require a trending market (ADX)"),
        "adx_period": Param(int, 14, 2, 250, "ADX period"),
        "adx_minimum": Param(float, 20.0, 0.0, 100.0, "lowest ADX when the filter is on"),
        **RISK_PARAMETERS,
    }

    @property
    def warmup_bars(self) -> int:
        p = self.params
        bars = max(p["channel_period"] + 1, p["volume_period"] + 1, p["atr_period"] + 1)
        return max(bars, 2 * p["adx_period"]) if p["use_adx_filter"] else bars

    def evaluate(self, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                 volume: np.ndarray) -> Evaluation:
        p = self.params
        channel = indicators.donchian(high, low, p["channel_period"])
        # The previous bars' channel and volume: a bar is not measured against itself.
        upper, lower = previous_bar(channel.upper, np.nan), previous_bar(channel.lower, np.nan)
        average_volume = previous_bar(indicators.volume_average(volume, p["volume_period"]),
                                      np.nan)
        average_range = indicators.atr(high, low, close, p["atr_period"])
        stored = {
            "channel_upper": upper,
            "channel_lower": lower,
            "volume_average": average_volume,
            "atr": average_range,
        }
        with np.errstate(invalid="ignore", divide="ignore"):
            volume_ratio = volume / average_volume
            loud = volume_ratio > p["volume_factor"]
            if p["use_adx_filter"]:
                stored["adx"] = indicators.adx(high, low, close, p["adx_period"])
                loud &= stored["adx"] >= p["adx_minimum"]
            long = (close > upper) & loud
            short = (close < lower) & loud

        def confidence(bars: np.ndarray) -> np.ndarray:
            price = close[bars]
            with np.errstate(invalid="ignore", divide="ignore"):
                distance = np.where(long[bars], price - upper[bars],
                                    lower[bars] - price) / average_range[bars]
                return 0.5 * np.minimum(1.0, distance) + 0.5 * np.minimum(
                    1.0, volume_ratio[bars] / p["volume_factor"] - 1.0)

        stored["volume_ratio"] = volume_ratio
        return Evaluation(long=long, short=short, confidence=confidence, atr=average_range,
                          indicators=stored)
