"""Backtests on stored candles: the checked request, the candles from the store, the engine.

The engine is strategies/backtest.py; this module only turns a request into its inputs. A bad
request raises BacktestInputError naming the field, for the command line and (next) the API alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.conf import settings

import collectors
import strategies
from collectors.timeframes import utc_now
from market import store
from strategies.backtest import EVERY_SIGNAL, MODES, BacktestResult, run_backtest
from strategies.base import Param, ParameterError, Strategy, as_utc


class BacktestInputError(ValueError):
    """A backtest request field is missing, malformed or out of bounds."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NoCandlesError(LookupError):
    """The source has no candles in the requested period: the backtest cannot run."""


@dataclass(frozen=True)
class BacktestSpec:
    """A checked request: a strategy instance with its parameters, and the period's bounds
    (UTC; bars opening in [start, end))."""

    strategy: Strategy
    asset: str
    timeframe: str
    start: pd.Timestamp
    end: pd.Timestamp
    mode: str
    fee_percent: float


@dataclass
class BacktestRun:
    spec: BacktestSpec
    result: BacktestResult
    source: str
    candles: int
    first_candle: pd.Timestamp
    last_candle: pd.Timestamp
    gaps: list[tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=list)
    finer_timeframe: str | None = None  # settled the bars that reached both levels, if any


def check_spec(*, strategy: str, asset: str, timeframe: str, start: Any = None, end: Any = None,
               parameters: dict[str, Any] | None = None, mode: str = EVERY_SIGNAL,
               fee_percent: float | None = None, now: datetime | None = None) -> BacktestSpec:
    """The request checked field by field; BacktestInputError names the first bad one.

    end defaults to now (and is never later), start to BACKTEST_DEFAULT_DAYS before end.
    """
    try:
        strategy_class = strategies.get(strategy)
    except strategies.UnknownStrategy as exc:
        raise BacktestInputError("strategy", str(exc)) from None
    try:
        instance = strategy_class(**(parameters or {}))
    except ParameterError as exc:
        raise BacktestInputError(f"parameters.{exc.parameter}", exc.reason) from None
    asset = str(asset).strip().upper()
    try:
        collectors.validate_asset(asset)
    except collectors.UnknownSymbol as exc:
        raise BacktestInputError("asset", str(exc)) from None
    if timeframe not in collectors.TIMEFRAMES:
        raise BacktestInputError("timeframe", f"use one of {', '.join(collectors.TIMEFRAMES)}")
    if mode not in MODES:
        raise BacktestInputError("mode", f"use one of {', '.join(MODES)}")
    if fee_percent is None:
        fee_percent = settings.SIGNAL_FEE_PERCENT
    if (isinstance(fee_percent, bool) or not isinstance(fee_percent, (int, float))
            or not math.isfinite(fee_percent) or fee_percent < 0):
        raise BacktestInputError("fee_percent", "must be a number >= 0")

    now = as_utc(now or utc_now())
    end = min(_moment("end", end), now) if end is not None else now
    start = (_moment("start", start) if start is not None
             else end - pd.Timedelta(days=settings.BACKTEST_DEFAULT_DAYS))
    if end <= start:
        raise BacktestInputError("end", f"{end.isoformat()} is not after start {start.isoformat()}")
    bars = (end - start).total_seconds() / collectors.timeframe_seconds(timeframe)
    if bars > settings.BACKTEST_MAX_BARS:
        raise BacktestInputError(
            "end", f"the period holds about {bars:,.0f} {timeframe} bars, more than "
                   f"BACKTEST_MAX_BARS ({settings.BACKTEST_MAX_BARS:,})")
    return BacktestSpec(strategy=instance, asset=asset, timeframe=timeframe, start=start,
                        end=end, mode=mode, fee_percent=float(fee_percent))


def parameters_from_text(strategy: str, assignments: list[str]) -> dict[str, Any]:
    """NAME=VALUE strings typed by the strategy's parameter schema (for the command line)."""
    try:
        schema = strategies.get(strategy).parameters
    except strategies.UnknownStrategy as exc:
        raise BacktestInputError("strategy", str(exc)) from None
    parameters: dict[str, Any] = {}
    for assignment in assignments:
        name, separator, text = assignment.partition("=")
        name = name.strip()
        if not separator or not name:
            raise BacktestInputError("parameters", f"expected NAME=VALUE, got {assignment!r}")
        if name not in schema:
            raise BacktestInputError(f"parameters.{name}",
                                  f"unknown parameter for strategy {strategy!r}; "
                                  f"known: {', '.join(schema)}")
        parameters[name] = _typed(name, schema[name], text.strip())
    return parameters


def run_on_stored_candles(spec: BacktestSpec,
                          progress: Callable[[int, int], None] | None = None) -> BacktestRun:
    """Fetch what the store lacks in the period through the configured source, then backtest.

    Bars that reached both levels are settled on the finest finer timeframe with stored
    candles in the period, as the live evaluator reads them (not fetched for it).
    """
    seconds = collectors.timeframe_seconds(spec.timeframe)
    try:
        fetched = store.backfill(spec.asset, spec.timeframe, spec.start, now=spec.end,
                                 progress=progress)
    except collectors.UnknownSymbol as exc:
        raise BacktestInputError("asset", str(exc)) from None
    except collectors.UnsupportedTimeframe as exc:
        raise BacktestInputError("timeframe", str(exc)) from None
    before_end = spec.end - timedelta(microseconds=1)
    candles = store.stored_candles(fetched.source, spec.asset, spec.timeframe, start=spec.start,
                                   end=before_end)
    if candles.empty:
        raise NoCandlesError(f"no {fetched.source} candles for {spec.asset} {spec.timeframe} from "
                        f"{spec.start.isoformat()} to {spec.end.isoformat()}")
    options = {"fee_percent": spec.fee_percent, "mode": spec.mode, "timeframe_seconds": seconds}
    result = run_backtest(spec.strategy, candles, **options)
    finer_timeframe = None
    if (result.trades["exit_reason"] == "ambiguous").any():
        for name, finer_seconds in _finer_timeframes(spec.timeframe):
            # Every finer bar inside the backtest's bars, the last one included.
            last_close = as_utc(candles.index[-1]) + timedelta(seconds=seconds)
            finer = store.stored_candles(fetched.source, spec.asset, name, start=spec.start,
                                         end=last_close - timedelta(microseconds=1))
            if len(finer):
                result = run_backtest(spec.strategy, candles, finer=finer,
                                      finer_seconds=finer_seconds, **options)
                finer_timeframe = name
                break
    return BacktestRun(spec=spec, result=result, source=fetched.source, candles=len(candles),
                       first_candle=as_utc(candles.index[0]), last_candle=as_utc(candles.index[-1]),
                       gaps=list(fetched.gaps), finer_timeframe=finer_timeframe)


def run_to_dict(run: BacktestRun) -> dict[str, Any]:
    """The run as JSON-ready data: request, candles used, statistics and every trade."""
    spec, result = run.spec, run.result
    trades = result.trades.assign(
        signal_time=result.trades["signal_time"].map(pd.Timestamp.isoformat),
        exit_time=result.trades["exit_time"].map(pd.Timestamp.isoformat),
    ).astype({"direction": str, "status": str, "result": str, "exit_reason": str})
    return {
        "strategy": spec.strategy.name,
        "parameters": spec.strategy.params,
        "asset": spec.asset,
        "timeframe": spec.timeframe,
        "start": spec.start.isoformat(),
        "end": spec.end.isoformat(),
        "mode": spec.mode,
        "fee_percent": spec.fee_percent,
        "source": run.source,
        "candles": run.candles,
        "first_candle": run.first_candle.isoformat(),
        "last_candle": run.last_candle.isoformat(),
        "gaps": [[first.isoformat(), last.isoformat()] for first, last in run.gaps],
        "finer_timeframe": run.finer_timeframe,
        "signals": result.signals,
        "statistics": result.statistics,
        "trades": trades.to_dict(orient="records"),
        "open_trades": len(result.open_trades),
    }


def _typed(name: str, spec: Param, text: str) -> Any:
    try:
        if spec.type is bool:
            words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
            return words[text.lower()]
        return spec.type(text)
    except (KeyError, ValueError):
        raise BacktestInputError(f"parameters.{name}",
                              f"expected {spec.type.__name__}, got {text!r}") from None


def _moment(name: str, value: Any) -> pd.Timestamp:
    try:
        return as_utc(value)
    except (ValueError, TypeError):
        raise BacktestInputError(name, f"not an ISO 8601 date or time: {value!r}") from None


def _finer_timeframes(timeframe: str) -> list[tuple[str, int]]:
    seconds = collectors.timeframe_seconds(timeframe)
    return sorted(((name, finer) for name, finer in collectors.TIMEFRAMES.items()
                   if finer < seconds and seconds % finer == 0), key=lambda item: item[1])
