"""Indicators, signal strategies and their ending rules: plain Python, no Django.

Adding a strategy means adding one module with a @register-ed Strategy subclass and importing
it below.
"""

from strategies import breakout, mean_reversion, trend_following  # noqa: F401  (registers them)
from strategies.base import (
    Param,
    ParameterError,
    SignalCandidate,
    Strategy,
    UnknownStrategy,
    available,
    get,
)
from strategies.lookahead import check_lookahead

__all__ = [
    "Param",
    "ParameterError",
    "SignalCandidate",
    "Strategy",
    "UnknownStrategy",
    "available",
    "check_lookahead",
    "get",
]
