"""Strategies and their signals in words: what each strategy does, why a signal fired (from the
indicator values and parameters it stored), what its parameters mean.

One small formatter per strategy, reading exactly what that strategy stores (see strategies/);
words in the active language, numbers formatted for it.
"""

import math
from collections.abc import Callable

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

import strategies

INDICATOR_LABELS = {
    "bb_upper": gettext_lazy("Upper Bollinger band"),
    "bb_middle": gettext_lazy("Middle Bollinger band (mean)"),
    "bb_lower": gettext_lazy("Lower Bollinger band"),
    "percent_b": gettext_lazy("%b (position within the bands)"),
    "rsi": gettext_lazy("RSI"),
    "atr": gettext_lazy("ATR (average true range)"),
    "channel_upper": gettext_lazy("Channel high (previous bars)"),
    "channel_lower": gettext_lazy("Channel low (previous bars)"),
    "volume_average": gettext_lazy("Average volume (previous bars)"),
    "volume_ratio": gettext_lazy("Volume / average volume"),
    "adx": gettext_lazy("ADX"),
    "ema_fast": gettext_lazy("Fast EMA"),
    "ema_slow": gettext_lazy("Slow EMA"),
    "macd": gettext_lazy("MACD line"),
    "macd_signal": gettext_lazy("MACD signal line"),
    "macd_histogram": gettext_lazy("MACD histogram"),
}


def number(value: float, decimals: int = 2) -> str:
    return number_format(round(float(value), decimals), decimals, force_grouping=True)


def price(value: float) -> str:
    """Six significant digits without trailing zeros, like the dashboard's prices."""
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return number_format(value)
    decimals = max(0, 5 - math.floor(math.log10(abs(value))))
    digits = f"{round(value, decimals):.{decimals}f}".rstrip("0").partition(".")[2]
    return number_format(round(value, decimals), len(digits), force_grouping=True)


def mean_reversion(direction: str, close: float, ind: dict, par: dict) -> str:
    deviation = (ind["bb_upper"] - ind["bb_middle"]) / par["bb_deviations"]
    distance = abs(close - ind["bb_middle"]) / deviation
    values = {
        "distance": number(distance, 1),
        "period": par["bb_period"],
        "band": price(ind["bb_lower"] if direction == "long" else ind["bb_upper"]),
        "rsi_period": par["rsi_period"],
        "rsi": number(ind["rsi"], 1),
    }
    if direction == "long":
        values["level"] = number(par["rsi_oversold"], 0)
        return _(
            "Close %(distance)s standard deviations below the %(period)s-bar mean, under the "
            "lower band at %(band)s, with RSI(%(rsi_period)s) at %(rsi)s, below the oversold "
            "level %(level)s: a bet that the price returns towards its mean."
        ) % values
    values["level"] = number(par["rsi_overbought"], 0)
    return _(
        "Close %(distance)s standard deviations above the %(period)s-bar mean, over the upper "
        "band at %(band)s, with RSI(%(rsi_period)s) at %(rsi)s, above the overbought level "
        "%(level)s: a bet that the price returns towards its mean."
    ) % values


def breakout(direction: str, close: float, ind: dict, par: dict) -> str:
    level = ind["channel_upper"] if direction == "long" else ind["channel_lower"]
    values = {
        "close": price(close),
        "period": par["channel_period"],
        "level": price(level),
        "atrs": number(abs(close - level) / ind["atr"], 2),
        "ratio": number(ind["volume_ratio"], 1),
        "volume_period": par["volume_period"],
        "factor": number(par["volume_factor"], 1),
    }
    if direction == "long":
        text = _(
            "Close %(close)s broke above the highest high of the previous %(period)s bars "
            "(%(level)s) by %(atrs)s ATR, on volume %(ratio)s times its %(volume_period)s-bar "
            "average (more than %(factor)s times was needed)."
        ) % values
    else:
        text = _(
            "Close %(close)s broke below the lowest low of the previous %(period)s bars "
            "(%(level)s) by %(atrs)s ATR, on volume %(ratio)s times its %(volume_period)s-bar "
            "average (more than %(factor)s times was needed)."
        ) % values
    if "adx" in ind:
        text += " " + _("ADX %(adx)s was at least the minimum %(minimum)s.") % {
            "adx": number(ind["adx"], 1),
            "minimum": number(par["adx_minimum"], 0),
        }
    return text


def trend_following(direction: str, close: float, ind: dict, par: dict) -> str:
    values = {
        "fast": par["fast_period"],
        "slow": par["slow_period"],
        "fast_value": price(ind["ema_fast"]),
        "slow_value": price(ind["ema_slow"]),
        "adx": number(ind["adx"], 1),
        "minimum": number(par["adx_minimum"], 0),
    }
    if direction == "long":
        text = _(
            "The %(fast)s-bar EMA (%(fast_value)s) crossed above the %(slow)s-bar EMA "
            "(%(slow_value)s) with ADX at %(adx)s (minimum %(minimum)s)."
        ) % values
    else:
        text = _(
            "The %(fast)s-bar EMA (%(fast_value)s) crossed below the %(slow)s-bar EMA "
            "(%(slow_value)s) with ADX at %(adx)s (minimum %(minimum)s)."
        ) % values
    if par.get("use_macd"):
        text += " " + _("The MACD histogram (%(histogram)s, %(atrs)s ATR) agreed.") % {
            "histogram": price(ind["macd_histogram"]),
            "atrs": number(ind["macd_histogram"] / ind["atr"], 2),
        }
    return text


EXPLAINERS: dict[str, Callable[[str, float, dict, dict], str]] = {
    "mean_reversion": mean_reversion,
    "breakout": breakout,
    "trend_following": trend_following,
}


def explain(
    strategy: str, direction: str, close: float, indicators: dict, parameters: dict
) -> str | None:
    """The reason in words; None when the strategy has no formatter or the values are missing."""
    explainer = EXPLAINERS.get(strategy)
    if explainer is None:
        return None
    try:
        defaults = {key: spec.default for key, spec in strategies.get(strategy).parameters.items()}
    except strategies.UnknownStrategy:
        defaults = {}
    try:
        return explainer(direction, close, indicators, {**defaults, **parameters})
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None  # stored by an older version of the strategy: show the values only


def indicator_rows(indicators: dict) -> list[tuple[str, str, str]]:
    """(key, label, formatted value) of each stored indicator."""
    return [
        (key, str(INDICATOR_LABELS.get(key, key)), price(value))
        for key, value in indicators.items()
    ]


def described(description: str) -> str:
    """A parameter's description (English, from the strategy's schema) in the active language."""
    return _(description) if description else ""  # gettext("") is the catalogue's header


def translated_schema(strategy_class: type[strategies.Strategy]) -> dict[str, dict]:
    """The strategy's parameter schema with its descriptions in the active language."""
    return {name: {**spec, "description": described(spec["description"])}
            for name, spec in strategy_class.schema().items()}


# What each strategy does, for traders (the API's description of a strategy). The docstrings are
# the developers' account, with the confidence formula; a strategy without an entry here is
# described by its docstring's first paragraph.
SUMMARIES = {
    "mean_reversion": gettext_lazy(
        "Fades a close outside the Bollinger Bands when RSI agrees: long below the lower band "
        "with RSI oversold, short above the upper band with RSI overbought. Stop and target are "
        "ATR multiples."
    ),
    "breakout": gettext_lazy(
        "Follows a close beyond the highest high or lowest low of the previous bars on "
        "above-average volume, optionally only in a trending market (ADX). Stop and target are "
        "ATR multiples."
    ),
    "trend_following": gettext_lazy(
        "Follows a cross of the fast EMA over or under the slow EMA, optionally confirmed by the "
        "MACD histogram, in a trending market (ADX). Stop and target are ATR multiples."
    ),
}


def summary(strategy_class: type[strategies.Strategy]) -> str:
    """What the strategy does, in the active language."""
    if strategy_class.name in SUMMARIES:
        return str(SUMMARIES[strategy_class.name])
    paragraph = (strategy_class.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(paragraph.split())


def parameter_value(value) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, int | float):
        return number_format(value, force_grouping=True)
    return str(value)


def parameter_rows(strategy: str, parameters: dict) -> list[tuple[str, str, str]]:
    """(name, value, description) of each parameter the signal was made with."""
    try:
        schema = strategies.get(strategy).parameters
    except strategies.UnknownStrategy:
        schema = {}
    return [
        (name, parameter_value(value),
         described(schema[name].description) if name in schema else "")
        for name, value in parameters.items()
    ]
