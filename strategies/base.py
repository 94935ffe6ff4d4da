"""Strategy interface, parameter schema, registry and the signal candidate a strategy emits.

Input frames are indexed by a UTC DatetimeIndex (bar open time), sorted and unique, with float
columns open, high, low, close, volume. Callers pass closed candles only.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
SIGNAL_COLUMNS = ("direction", "entry", "stop_loss", "take_profit", "confidence")

# latest() reads this many warm-up lengths of bars. EMA and Wilder averages forget their seed
# geometrically; every period is at most the warm-up, so after 20 warm-ups the seed weighs at
# most (1 - 1/n)^(19n) ~ e^-19 ~ 6e-9: far below a price tick.
LATEST_WINDOW_WARMUPS = 20


class ParameterError(ValueError):
    """A strategy parameter is unknown, of the wrong type or out of bounds.

    reason is an English template whose %(name)s fields the values fill; template and values
    stay apart so the Django side can word the reason in the reader's language.
    """

    def __init__(self, parameter: str, reason: str, **values: Any) -> None:
        self.parameter = parameter
        self.template, self.values = reason, values
        self.reason = reason % values if values else reason
        super().__init__(f"{parameter}: {self.reason}")


class UnknownStrategy(LookupError):  # noqa: N818  (name fixed by the interface)
    """No strategy is registered under the requested name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown strategy {name!r}; available: {', '.join(sorted(_REGISTRY))}")
        self.name = name


@dataclass(frozen=True)
class Param:
    """One typed, bounded strategy parameter; bounds are inclusive, None means unbounded."""

    type: type
    default: int | float | bool
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""

    def validate(self, name: str, value: Any) -> int | float | bool:
        if self.type is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise ParameterError(name, "expected bool, got %(type)s", type=type(value).__name__)
            return bool(value)
        # bool is an int subclass, but True as a period is always a mistake.
        if isinstance(value, (bool, np.bool_)):
            raise ParameterError(name, "expected %(type)s, got bool", type=self.type.__name__)
        if self.type is int:
            if not isinstance(value, numbers.Integral):
                raise ParameterError(name, "expected int, got %(type)s", type=type(value).__name__)
            value = int(value)
        else:
            if not isinstance(value, numbers.Real):
                raise ParameterError(name, "expected float, got %(type)s",
                                     type=type(value).__name__)
            value = float(value)
            if not math.isfinite(value):
                raise ParameterError(name, "must be a finite number")
        if self.minimum is not None and value < self.minimum:
            raise ParameterError(name, "%(value)s is below the minimum %(minimum)s",
                                 value=value, minimum=self.minimum)
        if self.maximum is not None and value > self.maximum:
            raise ParameterError(name, "%(value)s is above the maximum %(maximum)s",
                                 value=value, maximum=self.maximum)
        return value

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type.__name__,
            "default": self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "description": self.description,
        }


# Shared by every strategy: ATR-based exits and signal lifetime.
RISK_PARAMETERS: dict[str, Param] = {
    "atr_period": Param(int, 14, 2, 500, "ATR period (Wilder) used for stop and target"),
    "stop_atr": Param(float, 1.5, 0.1, 50.0, "stop loss distance from entry, in ATRs"),
    "target_atr": Param(float, 3.0, 0.1, 100.0, "take profit distance from entry, in ATRs"),
    "expiry_bars": Param(int, 48, 1, 10_000, "bars after which an open signal expires"),
}


@dataclass(frozen=True)
class SignalCandidate:
    strategy: str
    direction: str  # "long" | "short"
    entry: float
    stop_loss: float
    take_profit: float
    confidence: float  # in [0, 1]
    candle_time: pd.Timestamp  # UTC open time of the bar that fired
    indicators: dict[str, float] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class Evaluation:
    """Per-bar arrays a strategy computes over a whole frame; the base class turns them into rows.

    long/short are boolean masks (NaN comparisons are already False); confidence is in [0, 1]
    for firing bars: an array over every bar, or a function of the firing bars' positions
    giving theirs (a long history fires on few bars: a grid's sets skip millions of values);
    indicators are the values worth storing with a signal.
    """

    long: np.ndarray
    short: np.ndarray
    confidence: np.ndarray | Callable[[np.ndarray], np.ndarray]
    atr: np.ndarray
    indicators: dict[str, np.ndarray]


class Strategy:
    """Base class: subclasses set name, parameters, and implement evaluate() and warmup_bars."""

    name: ClassVar[str]
    parameters: ClassVar[dict[str, Param]]

    def __init__(self, **params: Any) -> None:
        for key in params:
            if key not in self.parameters:
                raise ParameterError(key, "unknown parameter for strategy %(strategy)r",
                                     strategy=self.name)
        self.params: dict[str, Any] = {
            key: spec.validate(key, params.get(key, spec.default))
            for key, spec in self.parameters.items()
        }
        self.check_params()

    def check_params(self) -> None:
        """Cross-parameter rules; raise ParameterError naming the offending parameter."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"

    @classmethod
    def schema(cls) -> dict[str, dict[str, Any]]:
        return {key: spec.to_dict() for key, spec in cls.parameters.items()}

    @property
    def expiry_bars(self) -> int:
        return self.params["expiry_bars"]

    @property
    def warmup_bars(self) -> int:
        """Fewest bars for the first bar whose indicators are all defined."""
        raise NotImplementedError

    @property
    def latest_window(self) -> int:
        """Bars latest() evaluates: a tail long enough for seeded averages to settle."""
        return self.warmup_bars * LATEST_WINDOW_WARMUPS

    def evaluate(self, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                 volume: np.ndarray) -> Evaluation:
        """Per-bar decisions over whole float64 price arrays (possibly empty), vectorised.

        Bar t may only use bars <= t: check_lookahead() proves it.
        """
        raise NotImplementedError

    def signals(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Every bar of frame that fires, with entry, exits, confidence and indicator columns."""
        return self._scan(frame).rows(frame.index)

    def signal_arrays(self, frame: pd.DataFrame) -> SignalArrays:
        """signals(frame) as arrays, without the table: what a backtest of many bars needs."""
        scan = self._scan(frame)
        return SignalArrays(bars=scan.bars, sides=scan.sides, entry=scan.entry,
                            stop_loss=scan.stop_loss, take_profit=scan.take_profit)

    def latest(self, frame: pd.DataFrame) -> SignalCandidate | None:
        """The signal of the last bar of frame, if it fires, evaluated on the latest_window tail.

        Same code as signals(): latest(frame) equals the last row of
        signals(frame.iloc[-latest_window:]) when that row is the last bar.
        """
        if len(frame) < self.warmup_bars:
            return None
        tail = frame.iloc[-self.latest_window:]
        scan = self._scan(tail)
        last = len(tail) - 1
        if not len(scan.bars) or scan.bars[-1] != last:
            return None
        row = scan.rows(tail.index, slice(-1, None)).iloc[0]
        return SignalCandidate(
            strategy=self.name,
            direction=str(row["direction"]),
            entry=float(row["entry"]),
            stop_loss=float(row["stop_loss"]),
            take_profit=float(row["take_profit"]),
            confidence=float(row["confidence"]),
            candle_time=as_utc(tail.index[last]),
            indicators={key: float(row[key]) for key in scan.evaluation.indicators},
            parameters=dict(self.params),
        )

    def _scan(self, frame: pd.DataFrame) -> _Scan:
        missing = [column for column in PRICE_COLUMNS if column not in frame.columns]
        if missing:
            raise ValueError(f"frame lacks columns {missing}")
        high, low, close, volume = (
            frame[column].to_numpy(dtype=np.float64) for column in PRICE_COLUMNS[1:]
        )
        evaluation = self.evaluate(high, low, close, volume)
        # Exits and checks only on the bars that fire one way: a small part of a long history.
        bars = np.flatnonzero(evaluation.long ^ evaluation.short)
        side = np.where(evaluation.long[bars], 1.0, -1.0)
        entry, average_range = close[bars], evaluation.atr[bars]
        with np.errstate(invalid="ignore"):
            stop_loss = entry - side * self.params["stop_atr"] * average_range
            take_profit = entry + side * self.params["target_atr"] * average_range
            # Checking the geometry itself also rejects ATRs too small to move a price.
            valid = (side * (take_profit - entry) > 0) & (side * (entry - stop_loss) > 0)
        confidence = evaluation.confidence
        confidence = confidence(bars) if callable(confidence) else confidence[bars]
        valid &= np.isfinite(confidence) & np.isfinite(entry)
        for values in evaluation.indicators.values():
            valid &= np.isfinite(values[bars])
        return _Scan(evaluation, bars[valid], side[valid], entry[valid], stop_loss[valid],
                     take_profit[valid], confidence[valid])


@dataclass(frozen=True)
class SignalArrays:
    """The bars that fire (positions in the frame, ascending) and their signals' figures."""

    bars: np.ndarray  # int64
    sides: np.ndarray  # +1.0 long, -1.0 short
    entry: np.ndarray
    stop_loss: np.ndarray
    take_profit: np.ndarray


@dataclass
class _Scan:
    evaluation: Evaluation
    bars: np.ndarray  # the bars that fire
    sides: np.ndarray
    entry: np.ndarray
    stop_loss: np.ndarray
    take_profit: np.ndarray
    confidence: np.ndarray

    def rows(self, index: pd.Index, take: slice = slice(None)) -> pd.DataFrame:
        """The table of the firing bars (those in take of them)."""
        bars = self.bars[take]
        data: dict[str, Any] = {
            "direction": np.where(self.sides[take] > 0, "long", "short"),
            "entry": self.entry[take],
            "stop_loss": self.stop_loss[take],
            "take_profit": self.take_profit[take],
            "confidence": np.clip(self.confidence[take], 0.0, 1.0),
        }
        for key, values in self.evaluation.indicators.items():
            data[key] = values[bars]
        return pd.DataFrame(data, index=index[bars])


def previous_bar(values: np.ndarray, fill: Any) -> np.ndarray:
    """values one bar later: each bar sees the value of the bar before it; the first gets fill."""
    shifted = np.empty_like(values)
    shifted[:1] = fill
    shifted[1:] = values[:-1]
    return shifted


def as_utc(moment: Any) -> pd.Timestamp:
    """A pandas Timestamp in UTC; naive times are taken to be UTC already."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


_REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make a strategy available under cls.name."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"strategy name {cls.name!r} is already registered")
    missing = [key for key in RISK_PARAMETERS if key not in cls.parameters]
    if missing:
        raise TypeError(f"strategy {cls.name!r} lacks the shared parameters {missing}")
    _REGISTRY[cls.name] = cls
    return cls


def available() -> dict[str, type[Strategy]]:
    """Registered strategy name -> class, sorted by name."""
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> type[Strategy]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownStrategy(name) from None
