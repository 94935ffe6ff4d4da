"""Backtests on stored candles: the checked request, the candles from the store, the engine.

The engine is strategies/backtest.py; this module turns a request into its inputs, and runs the
stored Backtest rows the API creates (queued, running, then completed, failed or cancelled). A
bad request raises BacktestInputError naming the field, for the command line and the API alike
(the reason in the active language: the request's for the API, English on the command line).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

import collectors
import strategies
from backtests import rows
from backtests.models import (
    Backtest,
    BacktestStatus,
    TradeTable,
    json_safe,
    sampled_equity,
)
from collectors.timeframes import utc_now
from market import store
from signals import events, lifecycle, retries, timestamps
from signals.validation import unknown_strategy, worded
from strategies.backtest import EVERY_SIGNAL, MODES, BacktestResult, run_backtest
from strategies.base import Param, ParameterError, Strategy, as_utc
from strategies.grid import typed_value

log = logging.getLogger(__name__)


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

    end defaults to now (and is never later), start to BACKTEST_DEFAULT_DAYS before end; the
    asset must be one the market data mode serves; fee_percent defaults to the fee schedule's.
    """
    try:
        strategy_class = strategies.get(strategy)
    except strategies.UnknownStrategy:
        raise BacktestInputError("strategy", unknown_strategy(strategy)) from None
    if parameters is not None and not isinstance(parameters, dict):
        raise BacktestInputError("parameters", _("must be an object of parameter: value"))
    try:
        instance = strategy_class(**(parameters or {}))
    except ParameterError as exc:
        raise BacktestInputError(f"parameters.{exc.parameter}", worded(exc)) from None
    asset = str(asset).strip().upper()
    try:
        collectors.check_served(asset, settings.MARKET_DATA_MODE)
    except collectors.UnknownSymbol as exc:
        raise BacktestInputError("asset", worded(exc)) from None
    if not isinstance(timeframe, str) or timeframe not in collectors.TIMEFRAMES:
        raise BacktestInputError("timeframe", _("use one of %(choices)s")
                                 % {"choices": ", ".join(collectors.TIMEFRAMES)})
    if not isinstance(mode, str) or mode not in MODES:
        raise BacktestInputError("mode", _("use one of %(choices)s")
                                 % {"choices": ", ".join(MODES)})
    if fee_percent is None:
        fee_percent = lifecycle.fee_percent(asset)  # the fee schedule's, as live signals pay
    if (isinstance(fee_percent, bool) or not isinstance(fee_percent, (int, float))
            or not math.isfinite(fee_percent) or fee_percent < 0):
        raise BacktestInputError("fee_percent", _("must be a number >= 0"))

    now = as_utc(now or utc_now())
    end = min(_moment("end", end), now) if end is not None else now
    start = (_moment("start", start) if start is not None
             else end - pd.Timedelta(days=settings.BACKTEST_DEFAULT_DAYS))
    if end <= start:
        raise BacktestInputError("end", _("%(end)s is not after start %(start)s")
                                 % {"end": end.isoformat(), "start": start.isoformat()})
    bars = (end - start).total_seconds() / collectors.timeframe_seconds(timeframe)
    if bars < 1:
        raise BacktestInputError("end", _("the period is shorter than one %(timeframe)s bar")
                                 % {"timeframe": timeframe})
    if bars > settings.BACKTEST_MAX_BARS:
        raise BacktestInputError("end", _(
            "the period holds about %(bars)s %(timeframe)s bars, more than "
            "BACKTEST_MAX_BARS (%(maximum)s)") % {"bars": f"{bars:,.0f}", "timeframe": timeframe,
                                                  "maximum": f"{settings.BACKTEST_MAX_BARS:,}"})
    return BacktestSpec(strategy=instance, asset=asset, timeframe=timeframe, start=start,
                        end=end, mode=mode, fee_percent=float(fee_percent))


def parameters_from_text(strategy: str, assignments: list[str]) -> dict[str, Any]:
    """NAME=VALUE strings typed by the strategy's parameter schema (for the command line)."""
    try:
        schema = strategies.get(strategy).parameters
    except strategies.UnknownStrategy:
        raise BacktestInputError("strategy", unknown_strategy(strategy)) from None
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
        raise BacktestInputError("asset", worded(exc)) from None
    except collectors.UnsupportedTimeframe as exc:
        raise BacktestInputError("timeframe", worded(exc)) from None
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
        return typed_value(name, spec, text)  # the grid's rule for a typed-in value
    except ParameterError as exc:
        raise BacktestInputError(f"parameters.{name}", worded(exc)) from None


def _moment(name: str, value: Any) -> pd.Timestamp:
    """The platform's timestamp rule (ISO 8601, 1900 to 9000), within pandas' range."""
    try:
        return as_utc(timestamps.parse_timestamp(value))
    except ValueError as exc:  # pandas' OutOfBoundsDatetime is one too
        raise BacktestInputError(name, _("%(reason)s Got %(value)r.")
                                 % {"reason": exc, "value": value}) from None


def _finer_timeframes(timeframe: str) -> list[tuple[str, int]]:
    seconds = collectors.timeframe_seconds(timeframe)
    return sorted(((name, finer) for name, finer in collectors.TIMEFRAMES.items()
                   if finer < seconds and seconds % finer == 0), key=lambda item: item[1])


# ---- the Backtest rows: request, dispatch, run, cancel ----

# The share of progress the candles' fetch takes; the engine run is the rest.
FETCH_SHARE = 0.9
# A progress event at most every this much of the way (each step still checks for a cancel).
PROGRESS_EVENT_STEP = 0.05


class BacktestCancelled(Exception):  # noqa: N818 (a state, like Superseded)
    """The row was cancelled (or taken over) while the worker ran it: stop, store nothing."""


def request_backtest(spec: BacktestSpec, *, user=None) -> Backtest:
    """Store the request and publish its run once committed (embedded: run after the
    response; tests: at once)."""
    with transaction.atomic():
        backtest = Backtest.objects.create(
            requested_by=user, strategy=spec.strategy.name, parameters=spec.strategy.params,
            asset=spec.asset, timeframe=spec.timeframe, start=spec.start.to_pydatetime(),
            end=spec.end.to_pydatetime(), mode=spec.mode, fee_percent=spec.fee_percent,
        )
        backtest_id = backtest.pk
        transaction.on_commit(lambda: dispatch_backtest(backtest_id))
    return backtest


def dispatch_backtest(backtest_id: int) -> bool:
    """Publish the run, confirmed by the broker; False if it was not taken. Never raises: a
    backtest the broker did not take is failed with that reason (asking again is cheap)."""
    from backtests import tasks  # tasks import services

    # The worker applies the task's own time limits (BACKTEST_*TIME_LIMIT), not ours.
    return rows.dispatch_row(Backtest, backtest_id, tasks.run_backtest, finish=finish,
                             time_limit=None, soft_time_limit=None)


def run_backtest_row(backtest_id: int) -> Backtest | None:
    """Run a queued backtest: candles, engine, results stored, events to its user.

    A cancel wins: every progress step is a guarded update that only a running row takes, and
    the worker stops at the first one that finds the row cancelled. Safe to run twice: only a
    queued row is claimed (a message that comes back for a running row fails it).
    """
    claimed = rows.claim_row(Backtest, backtest_id, finish=finish, progress=0.0)
    backtest = Backtest.objects.filter(pk=backtest_id).first()
    if not claimed or backtest is None:
        return backtest
    notify(events.backtest_progress(backtest), backtest)
    reporter = ProgressReporter(backtest)
    try:
        run = run_on_stored_candles(spec_of(backtest), progress=reporter.fetched)
        reporter.report(FETCH_SHARE + (1 - FETCH_SHARE) / 2)
        store_run(backtest, run)
    except BacktestCancelled:
        log.info("backtest %s cancelled while running", backtest_id)
    except SoftTimeLimitExceeded:
        finish(backtest_id, BacktestStatus.FAILED,
               error="did not finish within its time limit (BACKTEST_SOFT_TIME_LIMIT)")
    except (BacktestInputError, NoCandlesError, collectors.MarketDataError) as exc:
        finish(backtest_id, BacktestStatus.FAILED, error=str(exc))
    except Exception as exc:
        log.exception("backtest %s failed", backtest_id)
        reason = f"internal error: {type(exc).__name__}: {exc}"
        retries.with_fresh_connection(
            lambda: finish(backtest_id, BacktestStatus.FAILED, error=reason))
    backtest.refresh_from_db()
    return backtest


def spec_of(backtest: Backtest) -> BacktestSpec:
    """The stored request checked again (a strategy's schema may have changed since)."""
    return check_spec(strategy=backtest.strategy, asset=backtest.asset,
                      timeframe=backtest.timeframe, start=backtest.start, end=backtest.end,
                      parameters=backtest.parameters, mode=backtest.mode,
                      fee_percent=backtest.fee_percent)


class ProgressReporter:
    """Each step: a guarded progress update (raises BacktestCancelled when the row is no
    longer running) and, every PROGRESS_EVENT_STEP, a BacktestProgress event."""

    def __init__(self, backtest: Backtest) -> None:
        self.backtest = backtest
        self.done = 0
        self.published = 0.0

    def fetched(self, bars: int, total: int) -> None:
        self.done += bars
        self.report(FETCH_SHARE * min(1.0, self.done / total) if total else FETCH_SHARE)

    def report(self, progress: float) -> None:
        progress = round(progress, 4)
        updated = Backtest.objects.filter(
            pk=self.backtest.pk, status=BacktestStatus.RUNNING).update(progress=progress)
        if not updated:
            raise BacktestCancelled
        self.backtest.progress = progress
        if progress - self.published >= PROGRESS_EVENT_STEP:
            self.published = progress
            notify(events.backtest_progress(self.backtest), self.backtest)


def store_run(backtest: Backtest, run: BacktestRun) -> None:
    """The results, stored only if the row is still running (a cancel wins)."""
    result = run.result
    trades = TradeTable.from_frame(result.trades)
    stored = finish(
        backtest.pk, BacktestStatus.COMPLETED, progress=1.0, source=run.source,
        candles=run.candles, first_candle=run.first_candle.to_pydatetime(),
        last_candle=run.last_candle.to_pydatetime(),
        gaps=[[first.isoformat(), last.isoformat()] for first, last in run.gaps],
        metrics=json_safe(result.statistics), trade_count=len(trades),
        trades_blob=trades.encode(), equity_curve=sampled_equity(result.equity))
    if not stored:
        raise BacktestCancelled


def finish(backtest_id: int, status: str, *, only_from: str | None = None, **fields) -> bool:
    """End a queued or running backtest (only_from: only one in that status; guarded: an ended
    one stays as it ended) and tell its user; False when it had already ended."""
    with transaction.atomic():
        ended = rows.finish_row(Backtest, backtest_id, status, only_from=only_from, **fields)
        if ended:
            backtest = Backtest.objects.get(pk=backtest_id)
            notify(events.backtest_finished(backtest), backtest)
    return ended


def cancel_backtest(backtest: Backtest, *, by=None) -> bool:
    """Cancel a queued or running backtest; False when it has already ended. A running one's
    worker stops at its next progress step."""
    who = f" by {by.get_username()}" if by is not None else ""
    return finish(backtest.pk, BacktestStatus.CANCELLED, error=f"cancelled{who}")


def notify(event: events.Event, backtest: Backtest) -> None:
    if backtest.requested_by_id is not None:  # asked from the admin or a script: no one to tell
        events.publish(event)
