"""Parameter grids: many parameter sets of one strategy backtested on one candle frame.

Plain Python, no Django. A grid names values per parameter, as a list or as a range
`start:stop:step` (stop included when it falls on a step); every value is checked against the
strategy's schema bounds (Param.validate), and the grid is every combination of them over the
base parameters. A combination the strategy's own cross-parameter rules refuse (say a fast
period not below the slow one) is left out and counted, not an error.

evaluate_grid() runs run_backtest() itself for each set, so a set's figures are exactly those of
a backtest of that set alone (tests/test_grid.py proves it on random grids). What makes it fast
is that the indicators are shared: while the grid runs, every public function of
strategies.indicators asks a SharedIndicators cache first, keyed by the function, which price
column(s) it reads and its other arguments. Sets are evaluated in the grid's order (the schema's
order, last parameter fastest), so sets that share their leading parameters run one after
another and each distinct indicator parameter set is computed once while the results in use fit
the cache's budget (a Bollinger result of 1,000,000 bars is 32 MB).
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from strategies import indicators, stats
from strategies.backtest import EVERY_SIGNAL, run_backtest
from strategies.base import PRICE_COLUMNS, Param, ParameterError, Strategy

# Ranking: by this statistic (strategies/stats.py), highest first, of sets with enough trades.
DEFAULT_METRIC = "expectancy_r"
DEFAULT_MINIMUM_TRADES = 30
# Statistics where lower is better; every other metric ranks highest first.
LOWER_IS_BETTER = frozenset({"max_consecutive_losses", "average_holding_seconds",
                             "max_drawdown_percent"})
# Indicator results kept for reuse within one grid run, in bytes (least recently used dropped
# first). Of those only one set asked for so far, at most the larger of UNPROVEN_BYTES and
# UNPROVEN_ARRAYS arrays of the frame's length, besides the current set's own: a grid of an
# indicator's own parameters (the Bollinger period and width) makes a result per set that no
# other set asks for; kept up to the whole budget, every set's new arrays landed in memory no
# cache held, and two workers on one machine waited on its memory bus (docs/grids.md).
SHARED_INDICATOR_BYTES = 1 << 30
UNPROVEN_BYTES = 64 << 20
UNPROVEN_ARRAYS = 8
RANGE_SEPARATOR = ":"


@dataclass(frozen=True)
class GridResult:
    """One parameter set's backtest: the varied parameters, its figures and signal count."""

    parameters: dict[str, Any]
    statistics: dict[str, Any]
    signals: int

    def to_dict(self) -> dict[str, Any]:
        return {"parameters": self.parameters, "signals": self.signals,
                "statistics": self.statistics}


@dataclass(frozen=True)
class Grid:
    """An expanded grid: the full parameter sets (base included), in evaluation order."""

    values: dict[str, list[Any]]  # the varied parameters' values, schema order
    parameter_sets: list[dict[str, Any]]
    refused: int  # combinations the strategy's cross-parameter rules refused

    @property
    def varied(self) -> list[str]:
        return list(self.values)

    def varied_of(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        return {name: parameters[name] for name in self.values}


def typed_value(name: str, spec: Param, text: str) -> int | float | bool:
    """A parameter value typed in as text (command line, grid strings), checked by the schema."""
    text = text.strip()
    try:
        if spec.type is bool:
            words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
            return words[text.lower()]
        value: Any = spec.type(text)
    except (KeyError, ValueError):
        raise ParameterError(name, "expected %(type)s, got %(text)r", type=spec.type.__name__,
                             text=text) from None
    return spec.validate(name, value)


def grid_values(name: str, spec: Param, values: Any, limit: int) -> list[Any]:
    """One parameter's values: a list, `a,b,c`, or `start:stop:step` (stop included); each
    within the schema's bounds, duplicates dropped, at most `limit` of them."""
    if isinstance(values, str):
        text = values.strip()
        if RANGE_SEPARATOR in text:
            return _range_values(name, spec, text, limit)
        values = [typed_value(name, spec, part) for part in text.split(",") if part.strip()]
    elif isinstance(values, (int, float, bool)):
        values = [values]
    elif not isinstance(values, (list, tuple)):
        raise ParameterError(name, "expected a list of values, 'a,b,c' or 'start:stop:step'")
    if not values:
        raise ParameterError(name, "needs at least one value")
    if len(values) > limit:
        raise ParameterError(name, "%(count)s values, more than the grid's limit %(limit)s",
                             count=len(values), limit=limit)
    return list(dict.fromkeys(spec.validate(name, value) for value in values))


def _range_values(name: str, spec: Param, text: str, limit: int) -> list[Any]:
    parts = text.split(RANGE_SEPARATOR)
    if len(parts) != 3 or spec.type is bool:
        raise ParameterError(name, "a range is start:stop:step of numbers, got %(text)r", text=text)
    number = spec.type if spec.type is int else float
    try:
        start, stop, step = (number(part.strip()) for part in parts)
    except ValueError:
        raise ParameterError(name, "a range of %(type)s is start:stop:step, got %(text)r",
                             type=spec.type.__name__, text=text) from None
    if not (math.isfinite(start) and math.isfinite(stop) and math.isfinite(step)) or step <= 0:
        raise ParameterError(name, "a range needs finite bounds and a step > 0")
    if stop < start:
        raise ParameterError(name, "range stop %(stop)s is below its start %(start)s",
                             stop=stop, start=start)
    # The tolerance keeps a float stop that is a whole number of steps (1.5:2.5:0.1).
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > limit:
        raise ParameterError(name, "the range holds %(count)s values, more than the grid's "
                                   "limit %(limit)s", count=f"{count:,}", limit=f"{limit:,}")
    values = [start + i * step if number is int else round(start + i * step, 12)
              for i in range(count)]
    return [spec.validate(name, value) for value in values]


def expand_grid(strategy_class: type[Strategy], grid: Mapping[str, Any],
                base: Mapping[str, Any] | None = None, *, max_sets: int) -> Grid:
    """Every combination of the grid's values over `base`; ParameterError names the parameter
    (`grid` for the grid as a whole) that is unknown, out of bounds or too many."""
    if not isinstance(grid, Mapping) or not grid:
        raise ParameterError("grid", "needs at least one parameter: {name: values}")
    schema = strategy_class.parameters
    unknown = [name for name in grid if name not in schema]
    if unknown:
        raise ParameterError(unknown[0], "unknown parameter for strategy %(strategy)r; "
                                         "known: %(known)s", strategy=strategy_class.name,
                             known=", ".join(schema))
    values = {name: grid_values(name, schema[name], grid[name], max_sets)
              for name in schema if name in grid}
    size = math.prod(len(choices) for choices in values.values())
    if size > max_sets:
        raise ParameterError("grid", "%(count)s parameter sets, more than the limit %(limit)s",
                             count=f"{size:,}", limit=f"{max_sets:,}")
    base = dict(base or {})
    parameter_sets, refused, reason = [], 0, ""
    for combination in itertools.product(*values.values()):
        candidate = {**base, **dict(zip(values, combination, strict=True))}
        try:
            parameter_sets.append(strategy_class(**candidate).params)
        except ParameterError as exc:
            refused, reason = refused + 1, reason or str(exc)
    if not parameter_sets:
        raise ParameterError("grid", "the strategy refuses every combination (%(refusal)s)",
                             refusal=reason)
    return Grid(values=values, parameter_sets=parameter_sets, refused=refused)


class SharedIndicators:
    """Indicator results of one frame's price columns, reused across parameter sets.

    A call is shared only when each of its array arguments is one of the frame's price columns
    (the same memory) and every other argument is a plain number: anything else is computed as
    usual. Shared results are read-only, so a strategy that wrote into one would fail loudly
    instead of changing another set's figures.
    """

    def __init__(self, frame: pd.DataFrame, budget_bytes: int = SHARED_INDICATOR_BYTES,
                 unproven_bytes: int | None = None) -> None:
        self.columns = {name: frame[name].to_numpy(dtype=np.float64)
                        for name in PRICE_COLUMNS if name in frame}
        self.budget = budget_bytes
        self.unproven_budget = (unproven_bytes if unproven_bytes is not None
                                else max(UNPROVEN_BYTES, UNPROVEN_ARRAYS * 8 * len(frame)))
        # Asked for by a second set, least recently used first.
        self.results: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        # Asked for by one set so far, oldest first: (result, bytes, that set's number).
        self.unproven: OrderedDict[tuple, tuple[Any, int, int]] = OrderedDict()
        self.set_number = 0
        self.size = self.unproven_size = 0
        self.computed = 0
        self.reused = 0

    def get(self, function: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        key = self._key(function, args, kwargs)
        if key is None:
            return function(*args, **kwargs)
        if key in self.unproven:
            result, size, _ = self.unproven.pop(key)
            self.unproven_size -= size
            self.results[key] = (result, size)
        if key in self.results:
            self.results.move_to_end(key)
            self.reused += 1
            return self.results[key][0]
        result = function(*args, **kwargs)
        self.computed += 1
        parts = result if isinstance(result, tuple) else (result,)
        for part in parts:
            if isinstance(part, np.ndarray):
                part.flags.writeable = False
        size = sum(part.nbytes for part in parts if isinstance(part, np.ndarray))
        self.unproven[key] = (result, size, self.set_number)
        self.size += size
        self.unproven_size += size
        # Older sets' unproven results beyond their budget, then proven ones beyond the whole.
        while self.unproven_size > self.unproven_budget:
            oldest = next(iter(self.unproven))
            if self.unproven[oldest][2] == self.set_number:
                break  # the current set's own: the next set may ask for them
            dropped = self.unproven.pop(oldest)[1]
            self.unproven_size -= dropped
            self.size -= dropped
        while self.size > self.budget and self.results:
            _, (_, dropped) = self.results.popitem(last=False)
            self.size -= dropped
        return result

    def next_set(self) -> None:
        """Called between parameter sets."""
        self.set_number += 1

    def _key(self, function: Callable[..., Any], args: tuple, kwargs: dict) -> tuple | None:
        """(function, its arguments with price columns named), or None when not shareable."""
        parts: list[Any] = [function.__qualname__]
        for name, value in (*enumerate(args), *sorted(kwargs.items())):
            if isinstance(value, np.ndarray):
                column = self._column_of(value)
                if column is None:
                    return None
                parts.append((name, column))
            elif isinstance(value, (bool, int, float, np.integer, np.floating)):
                parts.append((name, type(value).__name__, value))
            else:
                return None
        return tuple(parts)

    def _column_of(self, array: np.ndarray) -> str | None:
        for name, column in self.columns.items():
            if (array.shape == column.shape and array.strides == column.strides
                    and array.dtype == column.dtype
                    and array.__array_interface__["data"][0]
                    == column.__array_interface__["data"][0]):
                return name
        return None


def evaluate_grid(strategy_class: type[Strategy], parameter_sets: Iterable[Mapping[str, Any]],
                  candles: pd.DataFrame, *, varied: Sequence[str], fee_percent: float = 0.0,
                  mode: str = EVERY_SIGNAL, timeframe_seconds: int | None = None,
                  stake: float = 1.0, after_each: Callable[[GridResult], None] | None = None
                  ) -> list[GridResult]:
    """run_backtest() of each set on candles, indicators shared; after_each(result) after each
    set (progress, cancel checks: it may raise to stop)."""
    shared = SharedIndicators(candles)
    results = []
    with indicators.sharing_results(shared):
        for parameters in parameter_sets:
            backtest = run_backtest(strategy_class(**parameters), candles,
                                    fee_percent=fee_percent, mode=mode,
                                    timeframe_seconds=timeframe_seconds, stake=stake,
                                    curve=False)
            result = GridResult(parameters={name: parameters[name] for name in varied},
                                statistics=backtest.statistics, signals=backtest.signals)
            results.append(result)
            shared.next_set()
            if after_each is not None:
                after_each(result)
    return results


def check_metric(metric: str, minimum_trades: Any) -> None:
    """ParameterError unless metric is a statistic and minimum_trades a whole number >= 0."""
    if metric not in ranked_metrics():
        raise ParameterError("metric", "use one of %(metrics)s",
                             metrics=", ".join(ranked_metrics()))
    if isinstance(minimum_trades, bool) or not isinstance(minimum_trades, int) \
            or minimum_trades < 0:
        raise ParameterError("minimum_trades", "must be a whole number >= 0")


def ranked_metrics() -> list[str]:
    """The statistics a grid can be ranked by: every numeric figure of a backtest."""
    figures = [*stats.SignalFigures.__dataclass_fields__,
               *stats.PortfolioFigures.__dataclass_fields__]
    return ["trades", *dict.fromkeys(figures)]


def rank(results: Iterable[Mapping[str, Any]], metric: str = DEFAULT_METRIC,
         minimum_trades: int = DEFAULT_MINIMUM_TRADES) -> list[Mapping[str, Any]]:
    """Result rows ({parameters, statistics, ...}) with at least minimum_trades trades and a
    defined metric, best first (ties keep the grid's order)."""
    check_metric(metric, minimum_trades)
    eligible = [row for row in results
                if (row["statistics"].get("trades") or 0) >= minimum_trades
                and _number(row["statistics"].get(metric)) is not None]
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    return sorted(eligible, key=lambda row: sign * row["statistics"][metric])


def heatmap(results: Iterable[Mapping[str, Any]], x: str, y: str, metric: str = DEFAULT_METRIC,
            minimum_trades: int = 0) -> tuple[list[Any], list[Any], np.ndarray]:
    """The metric over two varied parameters: x values, y values and a (len(y), len(x)) matrix.
    Where other parameters vary too, a cell holds the best of its sets; NaN where no set has
    minimum_trades trades and a defined metric."""
    rows = list(results)
    if not rows:
        return [], [], np.empty((0, 0))
    for name in (x, y):
        if name not in rows[0]["parameters"]:
            raise ParameterError(name, "not a varied parameter of the grid; varied: %(varied)s",
                                 varied=", ".join(rows[0]["parameters"]))
    xs = sorted({row["parameters"][x] for row in rows})
    ys = sorted({row["parameters"][y] for row in rows})
    matrix = np.full((len(ys), len(xs)), np.nan)
    for row in reversed(rank(rows, metric, minimum_trades)):  # the best written last
        matrix[ys.index(row["parameters"][y]), xs.index(row["parameters"][x])] = \
            row["statistics"][metric]
    return xs, ys, matrix


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
