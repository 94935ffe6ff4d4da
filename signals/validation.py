"""Every input rule of the Django side, once: assets, timeframes, strategies and parameters.

Each rule and its message live in the plain packages (collectors.assets, collectors.routing,
collectors.timeframes, strategies); this module turns their errors into Django
ValidationErrors. Serializers (DRF reports a Django ValidationError like its own), model
clean() and admin forms, the management commands (`command_error`) and the WebSocket consumer
all call these functions, so one rule gives one message wherever it is broken. The plain
packages word their messages in English, as a template and its values; `worded` gives them in
the active language (the request's, chosen by LocaleMiddleware).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils.translation import gettext

import collectors
import strategies


def worded(error: Exception) -> str:
    """A plain package error's message (a ParameterError's reason) in the active language."""
    template = getattr(error, "template", None)
    if template is None:
        return str(error)
    text = gettext(template)  # the template itself when the catalogue lacks it
    return text % error.values if error.values else text


def asset(value, *, normalise: bool = True) -> str:
    """A well-formed market symbol (upper-cased and stripped unless normalise=False)."""
    if not isinstance(value, str):
        value = ""
    symbol = value.strip().upper() if normalise else value
    try:
        return collectors.validate_asset(symbol)
    except collectors.UnknownSymbol as exc:
        raise ValidationError(worded(exc), code="invalid_asset") from None


def served_asset(value, *, normalise: bool = True) -> str:
    """A symbol the configured market data mode serves: in demo mode, a catalogue asset."""
    symbol = asset(value, normalise=normalise)
    try:
        return collectors.check_served(symbol, settings.MARKET_DATA_MODE)
    except collectors.UnknownSymbol as exc:
        raise ValidationError(worded(exc), code="unknown_asset") from None


def timeframe(value) -> str:
    """One of collectors.TIMEFRAMES."""
    try:
        collectors.timeframe_seconds(value)
    except collectors.UnsupportedTimeframe as exc:
        raise ValidationError(worded(exc), code="invalid_timeframe") from None
    return value


def unknown_strategy(name) -> str:
    """Why name is no strategy (strategies.UnknownStrategy's message, in the active language)."""
    return gettext("unknown strategy %(name)r; available: %(available)s") % {
        "name": str(name), "available": ", ".join(strategies.available())}


def strategy_name(value) -> str:
    """A registered strategy's name."""
    if not isinstance(value, str) or value not in strategies.available():
        raise ValidationError(unknown_strategy(value), code="unknown_strategy")
    return value


def strategy_names(values) -> list[str]:
    """A list of registered strategy names."""
    if not isinstance(values, list):
        raise ValidationError(gettext("must be a list of strategy names"),
                              code="invalid_strategies")
    for value in values:
        strategy_name(value)
    return values


class ParameterValidationError(ValidationError):
    """A strategy parameter broke its rule: {"parameters": "name: reason"} for forms, and the
    parameter and reason apart for the API's {"parameters": {name: [reason]}}."""

    def __init__(self, error: strategies.ParameterError) -> None:
        self.parameter, self.reason = error.parameter, worded(error)
        super().__init__({"parameters": f"{self.parameter}: {self.reason}"})


def strategy_parameters(name: str, parameters) -> strategies.Strategy:
    """The strategy built with these parameters; ParameterValidationError naming the parameter."""
    if not isinstance(parameters, dict):
        raise ValidationError(
            {"parameters": gettext("must be an object of parameter: value")},
            code="invalid_parameters",
        )
    try:
        return strategies.get(name)(**parameters)
    except strategies.ParameterError as exc:
        raise ParameterValidationError(exc) from None


def command_error(option: str, error: ValidationError) -> CommandError:
    """The same message for a management command option."""
    return CommandError(f"{option}: {' '.join(error.messages)}")
