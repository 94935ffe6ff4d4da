"""Mean reversion: fade closes outside the Bollinger Bands when RSI agrees."""

from __future__ import annotations

import numpy as np

from strategies import indicators
from strategies.base import RISK_PARAMETERS, Evaluation, Param, ParameterError, Strategy, register


@register
class MeanReversion(Strategy):
    """Long when the close is below the lower band and RSI is below `rsi_oversold`; short mirrored
    (close above the upper band, RSI above `rsi_overbought`). Stop and target are ATR multiples.

    Confidence = 0.5 * min(1, band_excess / 0.5) + 0.5 * min(1, rsi_excess), where for a long
    band_excess = -%b (how far below the lower band, in band widths) and
    rsi_excess = (oversold - RSI) / oversold; for a short band_excess = %b - 1 and
    rsi_excess = (RSI - overbought) / (100 - overbought). Both are positive whenever it fires.
    """

    name = "mean_reversion"
    parameters = {
        "bb_period": Param(int, 20, 2, 500, "Bollinger Bands period (SMA)"),
        "bb_deviations": Param(float, 2.0, 0.1, 10.0, "band width in standard deviations"),
        "rsi_period": Param(int, 14, 2, 500, "RSI period (Wilder)"),
        "rsi_oversold": Param(float, 30.0, 1.0, 50.0, "longs need RSI below this"),
        "rsi_overbought": Param(float, 70.0, 50.0, 99.0, "shorts need RSI above this"),
        **RISK_PARAMETERS,
    }

    def check_params(self) -> None:
        if self.params["rsi_oversold"] >= self.params["rsi_overbought"]:
            raise ParameterError("rsi_oversold", "must be below rsi_overbought")

    @property
    def warmup_bars(self) -> int:
        p = self.params
        return max(p["bb_period"], p["rsi_period"] + 1, p["atr_period"] + 1)

    def evaluate(self, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                 volume: np.ndarray) -> Evaluation:
        p = self.params
        bands = indicators.bollinger(close, p["bb_period"], p["bb_deviations"])
        strength = indicators.rsi(close, p["rsi_period"])
        average_range = indicators.atr(high, low, close, p["atr_period"])
        with np.errstate(invalid="ignore"):
            long = (close < bands.lower) & (strength < p["rsi_oversold"])
            short = (close > bands.upper) & (strength > p["rsi_overbought"])

        def confidence(bars: np.ndarray) -> np.ndarray:
            percent_b, rsi = bands.percent_b[bars], strength[bars]
            with np.errstate(invalid="ignore"):
                long_confidence = 0.5 * np.minimum(1.0, -percent_b / 0.5) + 0.5 * np.minimum(
                    1.0, (p["rsi_oversold"] - rsi) / p["rsi_oversold"])
                short_confidence = 0.5 * np.minimum(1.0, (percent_b - 1.0) / 0.5) + 0.5 * (
                    np.minimum(1.0, (rsi - p["rsi_overbought"]) / (100.0 - p["rsi_overbought"])))
            return np.where(long[bars], long_confidence, short_confidence)

        return Evaluation(
            long=long,
            short=short,
            confidence=confidence,
            atr=average_range,
            indicators={
                "bb_upper": bands.upper,
                "bb_middle": bands.middle,
                "bb_lower": bands.lower,
                "percent_b": bands.percent_b,
                "rsi": strength,
                "atr": average_range,
            },
        )
