"""Research at scale: parameter grids fanned out over the workers, and walk-forward tests.

The maths is plain (strategies/grid.py, strategies/walkforward.py); this module checks a request
with the backtests' own rules (services.check_spec), stores it, and runs it:

- A grid runs every parameter set on every series: each of its assets in each of its
  timeframes. Each series is split into chunks of BACKTEST_GRID_CHUNK_SETS sets. start_grid
  fetches every series' missing candles once (a series with none in the period fails the grid,
  naming it), then sends a Celery chord: a group of one run_grid_chunk task per chunk on the
  backtests queue (any worker on any machine takes the next one), and assemble_grid as its
  callback, which ranks every row (a series x a set). The embedded default runs the same chord
  eagerly, in-process.
- A chunk reads its series' candles from the store once (once per worker process, grid and
  series: the next chunk of the same series on that worker reuses them), and backtests its sets
  with the indicators shared between them.
- A running chunk adds its sets done to the grid's progress with a guarded update (only a
  running grid takes it) every PROGRESS_SECONDS and after its last set: a cancel stops a
  running chunk at the next of those, and the pending chunks are revoked.
- An accepted grid always ends: a chunk that fails records why and the chord still completes;
  the chord's error callback (a chunk killed past its hard time limit) assembles what finished.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

import collectors
import strategies
from backtests import rows
from backtests.models import (
    UNFINISHED,
    BacktestStatus,
    GridChunk,
    GridRun,
    TradeTable,
    WalkForward,
    json_safe,
)
from backtests.services import BacktestInputError, BacktestSpec, NoCandlesError, check_spec
from collectors.timeframes import bar_index_at, first_bar_index_from, utc_now
from market import store
from market.models import running_data_source
from signals import retries
from signals.validation import worded
from strategies import grid as grids
from strategies import walkforward
from strategies.base import ParameterError

log = logging.getLogger(__name__)


# A running chunk adds its sets done to the grid's progress, and finds out about a cancel, at
# most this often and after its last set: two workers updating the same row after each set of
# tens of milliseconds took database time from the backtests themselves.
PROGRESS_SECONDS = 0.25


class ResearchCancelled(Exception):  # noqa: N818 (a state, like BacktestCancelled)
    """The grid or walk-forward was cancelled while a worker ran part of it."""


@dataclass(frozen=True)
class GridSpec:
    """A checked grid request: every series' backtest fields (each asset x each timeframe,
    asset by asset), the expanded grid and the ranking rule."""

    series: tuple[BacktestSpec, ...]
    grid: grids.Grid
    metric: str
    minimum_trades: int

    @property
    def backtest(self) -> BacktestSpec:
        """The first series: a walk-forward's only one."""
        return self.series[0]

    @property
    def assets(self) -> list[str]:
        return list(dict.fromkeys(spec.asset for spec in self.series))

    @property
    def timeframes(self) -> list[str]:
        return list(dict.fromkeys(spec.timeframe for spec in self.series))


def check_grid(*, grid: Any, metric: str = grids.DEFAULT_METRIC,
               minimum_trades: Any = grids.DEFAULT_MINIMUM_TRADES, asset: Any = None,
               timeframe: Any = None, assets: Any = None, timeframes: Any = None,
               now: Any = None, **backtest_fields: Any) -> GridSpec:
    """Every series (asset x timeframe) by check_spec, as a single backtest of it is checked;
    the grid within the strategy's schema bounds, and at most BACKTEST_GRID_MAX_SETS backtests
    (series x sets); BacktestInputError names the first bad field. asset or assets (a list or
    'A,B'), timeframe or timeframes likewise."""
    asset_field, asset_names = series_names("asset", asset, "assets", assets)
    timeframe_field, timeframe_names = series_names("timeframe", timeframe, "timeframes",
                                                    timeframes)
    fields = {"asset": asset_field, "timeframe": timeframe_field}
    now = now if now is not None else utc_now()  # one period for every series
    pairs = [(name, frame) for name in asset_names for frame in timeframe_names]
    first = _checked_series(fields, pairs[0], now, backtest_fields)
    try:
        expanded = grids.expand_grid(type(first.strategy), grid, first.strategy.params,
                                     max_sets=settings.BACKTEST_GRID_MAX_SETS)
    except ParameterError as exc:
        field = "grid" if exc.parameter == "grid" else f"grid.{exc.parameter}"
        raise BacktestInputError(field, worded(exc)) from None
    backtests = len(pairs) * len(expanded.parameter_sets)
    if backtests > settings.BACKTEST_GRID_MAX_SETS:
        raise BacktestInputError("grid", _(
            "%(series)s series x %(sets)s parameter sets: %(count)s backtests, more than the "
            "limit %(limit)s") % {"series": len(pairs), "sets": len(expanded.parameter_sets),
                                  "count": f"{backtests:,}",
                                  "limit": f"{settings.BACKTEST_GRID_MAX_SETS:,}"})
    series = (first, *(_checked_series(fields, pair, now, backtest_fields)
                       for pair in pairs[1:]))
    try:
        grids.check_metric(metric, minimum_trades)
    except ParameterError as exc:
        raise BacktestInputError(exc.parameter, worded(exc)) from None
    return GridSpec(series=series, grid=expanded, metric=metric, minimum_trades=minimum_trades)


def series_names(one: str, value: Any, several: str, values: Any) -> tuple[str, list[str]]:
    """The field asked with (`asset` or `assets`) and its names, duplicates dropped: one
    value, or a list or 'A,B' of several, never both."""
    given = {name for name, field_value in ((one, value), (several, values))
             if field_value is not None}
    if len(given) == 2:
        raise BacktestInputError(several, _("give %(one)s or %(several)s, not both")
                                 % {"one": one, "several": several})
    if not given:
        raise BacktestInputError(one, _("needed: %(one)s, or %(several)s for several")
                                 % {"one": one, "several": several})
    if value is not None:
        return one, [value]
    if isinstance(values, str):
        values = [part for part in values.split(",") if part.strip()]
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise BacktestInputError(several, _("must be a list of names or 'A,B'"))
    names = [part.strip().upper() if one == "asset" else part.strip() for part in values]
    if not names:
        raise BacktestInputError(several, _("needs at least one"))
    return several, list(dict.fromkeys(names))


def _checked_series(fields: dict[str, str], pair: tuple[Any, Any], now: Any,
                    backtest_fields: dict[str, Any]) -> BacktestSpec:
    """One series checked as a single backtest of it is; an error names the field it came
    from (a value of a list: named in the reason when the reason does not already)."""
    asset, timeframe = pair
    try:
        return check_spec(asset=asset, timeframe=timeframe, now=now, **backtest_fields)
    except BacktestInputError as exc:
        field = fields.get(exc.field)
        if field is None:
            raise
        value = asset if exc.field == "asset" else timeframe
        reason = exc.reason
        if field != exc.field and str(value) not in reason:
            reason = f"{value}: {reason}"
        raise BacktestInputError(field, reason) from None


def grid_from_text(assignments: list[str]) -> dict[str, str]:
    """NAME=VALUES strings (`window=10:50:5`, `threshold=1.5,2,2.5`) for the command line."""
    grid: dict[str, str] = {}
    for assignment in assignments:
        name, separator, values = assignment.partition("=")
        if not separator or not name.strip():
            raise BacktestInputError("grid", _("expected NAME=VALUES, got %(assignment)r")
                                     % {"assignment": assignment})
        grid[name.strip()] = values
    return grid


def request_fields(spec: GridSpec) -> dict[str, Any]:
    """The stored request: a walk-forward's one series, a grid's first (fee_percent too)."""
    backtest = spec.backtest
    return {"strategy": backtest.strategy.name, "parameters": backtest.strategy.params,
            "grid": spec.grid.values, "asset": backtest.asset, "timeframe": backtest.timeframe,
            "start": backtest.start.to_pydatetime(), "end": backtest.end.to_pydatetime(),
            "mode": backtest.mode, "fee_percent": backtest.fee_percent, "metric": spec.metric,
            "minimum_trades": spec.minimum_trades}


def spec_of(row: GridRun | WalkForward) -> GridSpec:
    """The stored request checked again (a strategy's schema may have changed since); each
    series keeps the fee it was stored with."""
    spec = check_grid(grid=row.grid, metric=row.metric, minimum_trades=row.minimum_trades,
                      strategy=row.strategy, assets=getattr(row, "assets", None) or [row.asset],
                      timeframes=getattr(row, "timeframes", None) or [row.timeframe],
                      start=row.start, end=row.end, parameters=row.parameters, mode=row.mode,
                      fee_percent=row.fee_percent, now=row.created_at)
    fees = {(series["asset"], series["timeframe"]): series["fee_percent"]
            for series in getattr(row, "series", ())}
    return replace(spec, series=tuple(
        replace(one, fee_percent=fees.get((one.asset, one.timeframe), one.fee_percent))
        for one in spec.series))


# ---- grids ----

def request_grid(spec: GridSpec, *, user=None) -> GridRun:
    """Store the grid and its chunks (series by series, each its sets in slices); start it
    once committed."""
    sets = spec.grid.parameter_sets
    size = settings.BACKTEST_GRID_CHUNK_SETS
    slices = [(series, first) for series in spec.series for first in range(0, len(sets), size)]
    with transaction.atomic():
        grid = GridRun.objects.create(
            requested_by=user, set_count=len(sets), refused=spec.grid.refused,
            chunk_count=len(slices), assets=spec.assets, timeframes=spec.timeframes,
            series=[{"asset": series.asset, "timeframe": series.timeframe,
                     "fee_percent": series.fee_percent, "candles": 0}
                    for series in spec.series],
            **request_fields(spec))
        GridChunk.objects.bulk_create(
            GridChunk(grid=grid, number=number, asset=series.asset, timeframe=series.timeframe,
                      first_set=first, parameter_sets=sets[first:first + size],
                      task_id=str(uuid.uuid4()))
            for number, (series, first) in enumerate(slices))
        grid_id = grid.pk
        transaction.on_commit(lambda: _dispatch(GridRun, grid_id, "start_grid"))
    return grid


def start_grid(grid_id: int) -> None:
    """Claim the grid, fetch every series' missing candles once, then send its chord of
    chunks; a grid that cannot start (a series without candles in the period) is failed with
    the reason."""
    if not rows.claim_row(GridRun, grid_id):
        return
    try:
        _send_grid(grid_id)
    except SoftTimeLimitExceeded:
        rows.finish_row(GridRun, grid_id, BacktestStatus.FAILED,
                        error="did not start within its time limit (BACKTEST_SOFT_TIME_LIMIT)")
    except (BacktestInputError, NoCandlesError, collectors.MarketDataError) as exc:
        rows.finish_row(GridRun, grid_id, BacktestStatus.FAILED, error=str(exc))
    except Exception as exc:  # a claimed grid always ends, whatever stopped it
        log.exception("grid %s failed to start", grid_id)
        reason = f"failed to start: {type(exc).__name__}: {exc}"
        retries.with_fresh_connection(
            lambda: rows.finish_row(GridRun, grid_id, BacktestStatus.FAILED, error=reason))


def _send_grid(grid_id: int) -> None:
    from celery import chord, group

    from backtests import tasks

    grid = GridRun.objects.get(pk=grid_id)
    series = []
    for spec in spec_of(grid).series:
        source, count, newest = prepare_candles(spec)
        # The workers take the candles from the shared cache: the database is read once.
        store.share_period_candles(source, spec.asset, spec.timeframe, *period_bounds(grid),
                                   version=(count, newest))
        series.append({"asset": spec.asset, "timeframe": spec.timeframe,
                       "fee_percent": spec.fee_percent, "candles": count, "version": newest})
    if not GridRun.objects.filter(pk=grid_id, status=BacktestStatus.RUNNING).update(
            source=source, candles=sum(one["candles"] for one in series), series=series):
        return  # cancelled meanwhile
    chunks = grid.chunks.order_by("number").values_list("pk", "task_id")
    assemble = tasks.assemble_grid.si(grid_id)
    # Called when the chord itself fails (a chunk killed past its hard time limit).
    assemble.link_error(tasks.assemble_grid.si(grid_id))
    header = group(tasks.run_grid_chunk.si(chunk_id).set(task_id=task_id)
                   for chunk_id, task_id in chunks)
    timeout = settings.BROKER_PUBLISH_TIMEOUT
    try:
        chord(header)(assemble, timeout=timeout, confirm_timeout=timeout)
    except retries.BROKER_ERRORS as exc:
        reason = f"the task queue did not take its chunks ({type(exc).__name__}); try again"
        rows.finish_row(GridRun, grid_id, BacktestStatus.FAILED, error=reason)


def run_grid_chunk(chunk_id: int, worker: str = "") -> str:
    """Backtest one chunk's sets; any failure is recorded on the chunk, never raised, so the
    chord completes. Safe to run twice: only a queued chunk is claimed."""
    claimed = GridChunk.objects.filter(pk=chunk_id, status=BacktestStatus.QUEUED).update(
        status=BacktestStatus.RUNNING, started_at=timezone.now(),
        worker=worker or socket.gethostname())
    if not claimed:
        # Its message came back while the chunk says running: the worker that ran it was lost.
        GridChunk.objects.filter(pk=chunk_id, status=BacktestStatus.RUNNING).update(
            status=BacktestStatus.FAILED, finished_at=timezone.now(),
            error="its worker stopped or ran out of time (BACKTEST_TIME_LIMIT)")
        return "not claimed"
    chunk = GridChunk.objects.select_related("grid").get(pk=chunk_id)  # claimed: it exists
    grid = chunk.grid

    total, done, reported = len(chunk.parameter_sets), 0, 0
    reported_at = time.monotonic()

    def count(_: grids.GridResult) -> None:
        nonlocal done, reported, reported_at
        done += 1
        if done < total and time.monotonic() - reported_at < PROGRESS_SECONDS:
            return
        if not GridRun.objects.filter(pk=grid.pk, status=BacktestStatus.RUNNING).update(
                sets_done=F("sets_done") + (done - reported)):
            raise ResearchCancelled
        reported, reported_at = done, time.monotonic()

    status, fields = BacktestStatus.COMPLETED, {}
    try:
        if grid.status != BacktestStatus.RUNNING:
            raise ResearchCancelled
        results = grids.evaluate_grid(
            strategies.get(grid.strategy), chunk.parameter_sets,
            grid_candles(grid, chunk.asset, chunk.timeframe), varied=grid.varied,
            fee_percent=grid.fee_of(chunk.asset, chunk.timeframe), mode=grid.mode,
            timeframe_seconds=collectors.timeframe_seconds(chunk.timeframe), after_each=count)
        fields["results"] = json_safe([result.to_dict() for result in results])
    except ResearchCancelled:
        status = BacktestStatus.CANCELLED
    except SoftTimeLimitExceeded:
        status, fields["error"] = (BacktestStatus.FAILED,
                                   "did not finish within its time limit "
                                   "(BACKTEST_SOFT_TIME_LIMIT)")
    except Exception as exc:
        log.exception("grid %s chunk %s failed", grid.pk, chunk.number)
        status, fields["error"] = BacktestStatus.FAILED, f"{type(exc).__name__}: {exc}"
    retries.with_fresh_connection(lambda: GridChunk.objects.filter(pk=chunk_id).update(
        status=status, finished_at=timezone.now(), **fields))
    return status


def assemble_grid(grid_id: int) -> None:
    """The chord's callback: every chunk's results in grid order (series by series), ranked
    together; a chunk that never finished is failed. Completed if any chunk completed, else
    failed; guarded (a cancel wins)."""
    GridChunk.objects.filter(grid_id=grid_id, status__in=UNFINISHED).update(
        status=BacktestStatus.FAILED, finished_at=timezone.now(),
        error="did not finish: its worker was lost or it was revoked")
    grid = GridRun.objects.filter(pk=grid_id).first()
    if grid is None or grid.is_finished:
        return
    results, failures = [], []
    for chunk in grid.chunks.order_by("number"):
        if chunk.status == BacktestStatus.COMPLETED:
            results.extend({"set": chunk.first_set + place, "asset": chunk.asset,
                            "timeframe": chunk.timeframe, **row}
                           for place, row in enumerate(chunk.results))
        else:
            last = chunk.first_set + len(chunk.parameter_sets) - 1
            failures.append(f"chunk {chunk.number} ({chunk.asset} {chunk.timeframe}, sets "
                            f"{chunk.first_set}-{last}) {chunk.status}: {chunk.error or '-'}")
    ranked = grids.rank(results, grid.metric, grid.minimum_trades)
    place = {id(row): index for index, row in enumerate(results)}
    rows.finish_row(GridRun, grid_id,
                    BacktestStatus.COMPLETED if results else BacktestStatus.FAILED,
                    only_from=BacktestStatus.RUNNING, results=results,
                    ranking=[place[id(row)] for row in ranked], error="; ".join(failures))


def cancel_grid(grid: GridRun, *, by=None) -> bool:
    """Cancel a queued or running grid and revoke its pending chunks; False when it ended."""
    if not rows.finish_row(GridRun, grid.pk, BacktestStatus.CANCELLED, error=_cancelled_by(by)):
        return False
    pending = list(grid.chunks.filter(status=BacktestStatus.QUEUED).values_list("task_id",
                                                                              flat=True))
    grid.chunks.filter(status=BacktestStatus.QUEUED).update(
        status=BacktestStatus.CANCELLED, finished_at=timezone.now())
    if pending and not settings.CELERY_TASK_ALWAYS_EAGER:
        from botsinais.celery import app

        try:
            app.control.revoke(pending)
        except retries.BROKER_ERRORS as exc:  # each chunk still checks the grid's status first
            log.warning("grid %s: revoking its chunks failed (%s)", grid.pk, exc)
    return True


def grid_candles(grid: GridRun, asset: str, timeframe: str) -> pd.DataFrame:
    """The series' candles as the grid's start found them (their version): read once per
    worker process, which keeps them for the grid's next chunks and the next grids over the
    same period (store.shared_period_candles)."""
    found = next((one for one in grid.series
                  if (one["asset"], one["timeframe"]) == (asset, timeframe)), {})
    if "version" not in found:  # started before versions were noted: as it stands now
        return stored_period(grid.source, asset, timeframe, grid.start, grid.end)
    return store.shared_period_candles(grid.source, asset, timeframe, *period_bounds(grid),
                                       version=(found["candles"], found["version"]))


def period_bounds(row: GridRun | WalkForward) -> tuple[datetime, datetime]:
    """The first and last moment a bar of the request's period may open at."""
    return row.start, row.end - timedelta(microseconds=1)


def stored_period(source: str, asset: str, timeframe: str, start, end) -> pd.DataFrame:
    """The stored candles opening in [start, end): a walk-forward's and the command's read."""
    frame = store.stored_period_candles(source, asset, timeframe, start,
                                        end - timedelta(microseconds=1))
    if frame.empty:
        raise NoCandlesError(f"no {source} candles for {asset} {timeframe} from {start} to {end}")
    return frame


def prepare_candles(spec: BacktestSpec) -> tuple[str, int, int]:
    """Fetch what the store lacks in the period, once; its source, stored candle count and
    newest stored id (the period's version, store.period_version). A period already complete
    in the store costs one count, not one per backfill page."""
    source = running_data_source()
    before_end = spec.end - timedelta(microseconds=1)
    expected = (bar_index_at(spec.end, spec.timeframe)
                - first_bar_index_from(spec.start, spec.timeframe))
    count, newest = store.period_version(source, spec.asset, spec.timeframe, spec.start,
                                         before_end)
    if count < expected:
        try:
            source = store.backfill(spec.asset, spec.timeframe, spec.start, now=spec.end).source
        except collectors.UnknownSymbol as exc:
            raise BacktestInputError("asset", worded(exc)) from None
        except collectors.UnsupportedTimeframe as exc:
            raise BacktestInputError("timeframe", worded(exc)) from None
        count, newest = store.period_version(source, spec.asset, spec.timeframe, spec.start,
                                             before_end)
    if not count:
        raise NoCandlesError(f"no {source} candles for {spec.asset} {spec.timeframe} "
                             f"from {spec.start.isoformat()} to {spec.end.isoformat()}")
    return source, count, newest

# ---- walk-forward tests ----

@dataclass(frozen=True)
class WalkForwardSpec:
    research: GridSpec
    windows: walkforward.WindowPlan


def check_walk_forward(*, train_bars: Any, test_bars: Any, embargo_bars: Any = None,
                       anchored: Any = False, **grid_fields: Any) -> WalkForwardSpec:
    """check_grid's rules on one series, then the windows: whole numbers, an embargo of at
    least the longest expiry_bars of the grid's sets (default: that)."""
    for one, several in (("asset", "assets"), ("timeframe", "timeframes")):
        names = series_names(one, grid_fields.get(one), several, grid_fields.get(several))[1]
        if len(names) > 1:
            raise BacktestInputError(several, _("a walk-forward test runs on one asset and one "
                                                "timeframe"))
    spec = check_grid(**grid_fields)
    expiry = max(parameters["expiry_bars"] for parameters in spec.grid.parameter_sets)
    try:
        plan = walkforward.WindowPlan.checked(train_bars=train_bars, test_bars=test_bars,
                                              embargo_bars=embargo_bars, anchored=anchored,
                                              expiry_bars=expiry)
    except ParameterError as exc:
        raise BacktestInputError(exc.parameter, worded(exc)) from None
    backtest = spec.backtest
    bars = (backtest.end - backtest.start).total_seconds() / collectors.timeframe_seconds(
        backtest.timeframe)
    if bars <= plan.train_bars + plan.embargo_bars:
        raise BacktestInputError("train_bars", _(
            "the period holds about %(bars)s %(timeframe)s bars: no test window after "
            "%(train_bars)s training and %(embargo_bars)s embargo bars") % {
                "bars": f"{bars:,.0f}", "timeframe": backtest.timeframe,
                "train_bars": plan.train_bars, "embargo_bars": plan.embargo_bars})
    return WalkForwardSpec(research=spec, windows=plan)


def request_walk_forward(spec: WalkForwardSpec, *, user=None) -> WalkForward:
    with transaction.atomic():
        row = WalkForward.objects.create(
            requested_by=user, train_bars=spec.windows.train_bars,
            test_bars=spec.windows.test_bars, embargo_bars=spec.windows.embargo_bars,
            anchored=spec.windows.anchored, **request_fields(spec.research))
        row_id = row.pk
        transaction.on_commit(lambda: _dispatch(WalkForward, row_id, "run_walk_forward"))
    return row


def run_walk_forward_row(row_id: int) -> None:
    """Run a queued walk-forward in this worker: candles once, every window, results stored."""
    if not rows.claim_row(WalkForward, row_id):
        return
    row = WalkForward.objects.get(pk=row_id)

    def progress(done: int, total: int) -> None:
        if not WalkForward.objects.filter(pk=row_id, status=BacktestStatus.RUNNING).update(
                progress=round(done / total, 4)):
            raise ResearchCancelled

    try:
        research = spec_of(row)
        source, _, _ = prepare_candles(research.backtest)
        candles = stored_period(source, row.asset, row.timeframe, row.start, row.end)
        plan = walkforward.WindowPlan(train_bars=row.train_bars, test_bars=row.test_bars,
                                      embargo_bars=row.embargo_bars, anchored=row.anchored)
        report = walk(research, plan, candles, progress)
        rows.finish_row(WalkForward, row_id, BacktestStatus.COMPLETED,
                        only_from=BacktestStatus.RUNNING, progress=1.0, source=source,
                        candles=len(candles), **report_fields(report))
    except ResearchCancelled:
        pass
    except SoftTimeLimitExceeded:
        rows.finish_row(WalkForward, row_id, BacktestStatus.FAILED,
                        error="did not finish within its time limit (BACKTEST_SOFT_TIME_LIMIT)")
    except (BacktestInputError, NoCandlesError, collectors.MarketDataError, ValueError) as exc:
        rows.finish_row(WalkForward, row_id, BacktestStatus.FAILED, error=str(exc))
    except Exception as exc:
        log.exception("walk-forward %s failed", row_id)
        reason = f"internal error: {type(exc).__name__}: {exc}"
        retries.with_fresh_connection(
            lambda: rows.finish_row(WalkForward, row_id, BacktestStatus.FAILED, error=reason))


def walk(research: GridSpec, plan: walkforward.WindowPlan, candles: pd.DataFrame,
         progress: Callable[[int, int], None] | None = None) -> walkforward.WalkForwardReport:
    backtest = research.backtest
    return walkforward.walk_forward(
        type(backtest.strategy), research.grid, candles, plan, metric=research.metric,
        minimum_trades=research.minimum_trades, fee_percent=backtest.fee_percent,
        mode=backtest.mode, timeframe_seconds=collectors.timeframe_seconds(backtest.timeframe),
        progress=progress)


def report_fields(report: walkforward.WalkForwardReport) -> dict[str, Any]:
    trades = TradeTable.from_frame(report.trades)
    return {"windows": json_safe([window.to_dict() for window in report.windows]),
            "in_sample": json_safe(report.in_sample),
            "out_of_sample": json_safe(report.out_of_sample),
            "trade_count": len(trades), "trades_blob": trades.encode()}


def cancel_walk_forward(row: WalkForward, *, by=None) -> bool:
    return rows.finish_row(WalkForward, row.pk, BacktestStatus.CANCELLED,
                           error=_cancelled_by(by))


# ---- shared by both ----

def _dispatch(model: type[GridRun | WalkForward], row_id: int, task_name: str) -> bool:
    from backtests import tasks  # tasks import research

    return rows.dispatch_row(model, row_id, getattr(tasks, task_name))


def _cancelled_by(user) -> str:
    return f"cancelled by {user.get_username()}" if user is not None else "cancelled"
