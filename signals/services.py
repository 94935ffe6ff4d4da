"""Write paths for analyses and signals: atomic, status-guarded, follow-up work on commit."""

import logging
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

import collectors
import strategies
from calibration import serving
from market import store
from market.models import running_data_source
from signals import events, retries
from signals.models import (
    AnalysisRequest,
    AnalysisSource,
    AnalysisStatus,
    Signal,
    SignalStatus,
    StrategyConfig,
)
from strategies.drift import candles_digest

log = logging.getLogger(__name__)


def request_analysis(*, asset: str, timeframe: str, user=None, source=AnalysisSource.API):
    """Store the request and publish its run once committed (embedded: run after the
    response, see botsinais.embedded).

    Stored means accepted: if the broker does not take the message, the request stays pending
    and the sweeper publishes it again (see sweep_analysis_requests).
    """
    # One INSERT, committed on its own (autocommit) unless the caller holds a transaction:
    # on_commit then runs the publish after the caller's commit. No BEGIN round trip.
    analysis = AnalysisRequest.objects.create(
        asset=asset, timeframe=timeframe, requested_by=user, source=source
    )
    correlation_id = str(analysis.correlation_id)
    transaction.on_commit(lambda: dispatch_analysis(correlation_id))
    return analysis


def dispatch_analysis(correlation_id: str, *, countdown: float = 0) -> bool:
    """Publish one run of the request, confirmed by the broker; False if it was not taken.

    Never raises for a broker that is down or slow: the caller has already stored the request,
    and the sweeper publishes any pending one whose message is late.
    """
    from botsinais import embedded
    from signals import tasks  # tasks import services; import here to keep the cycle lazy

    if embedded.runs_tasks_after_response():
        embedded.run_later(tasks.run_analysis, correlation_id)
        return True
    timeout = settings.BROKER_PUBLISH_TIMEOUT
    try:
        tasks.run_analysis.apply_async(
            (correlation_id,),
            countdown=countdown or None,
            timeout=timeout,
            confirm_timeout=timeout,
            # The worker's own limits apply (TASK_*_TIME_LIMIT where it runs), not the
            # publisher's: Celery would otherwise stamp the web process's into the message.
            time_limit=None,
            soft_time_limit=None,
        )
    except retries.BROKER_ERRORS as exc:
        log.warning(
            "analysis %s not published (%s: %s); the sweeper will publish it again",
            correlation_id,
            type(exc).__name__,
            exc,
        )
        return False
    return True


def enabled_strategies(
    asset: str, timeframe: str, only: list[str] | None = None
) -> list[strategies.Strategy]:
    """The strategies an analysis runs, built from their most specific config.

    Read from the database on every call, so a config change applies to the next analysis
    without restarting workers. only (a subset of names; empty or None: all) narrows the
    enabled ones, it never enables a disabled one.
    """
    configs = StrategyConfig.most_specific(asset, timeframe)
    enabled = []
    for name, strategy_class in strategies.available().items():
        if only and name not in only:
            continue
        config = configs.get(name)
        if config is None:
            enabled.append(strategy_class())
        elif config.enabled:
            try:
                enabled.append(config.build())
            except strategies.ParameterError as exc:  # stored before the schema changed
                raise strategies.ParameterError(
                    exc.parameter, f"{exc.reason} (strategy config {config})"
                ) from None
    return enabled


class Superseded(Exception):  # noqa: N818 (a state, like the collectors' errors)
    """A later attempt (or the sweeper) took the request over: this run must not finish it."""


def run_analysis(correlation_id: str) -> AnalysisRequest:
    """Collect candles, run the strategies, store new signals. Safe to run twice.

    Transient failures (see signals/retries.py) put the request back to pending and publish
    a delayed run; anything else fails it at once with the reason.
    """
    analysis, started = start_attempt(correlation_id)
    if not started:
        return analysis
    try:
        frame = store.load_candles(analysis.asset, analysis.timeframe)
        enabled = enabled_strategies(analysis.asset, analysis.timeframe, analysis.strategies)
        candidates = find_candidates(frame, enabled)
        with transaction.atomic():
            new_signals = store_signals(candidates, analysis, frame)
            if not finish(
                analysis,
                AnalysisStatus.COMPLETED,
                signals_generated=len(new_signals),
                evaluated=evaluated_fields(frame, enabled),
            ):
                raise Superseded  # rolls back this attempt's signals
            evaluate_after_commit(analysis)
    except Superseded:
        log.info("analysis %s: attempt %s superseded", correlation_id, analysis.attempts)
        return reload(analysis)
    except SoftTimeLimitExceeded:
        return fail(analysis, "did not finish within its soft time limit")
    except retries.TRANSIENT_ERRORS as exc:
        return retry_later(analysis, exc)
    except (collectors.MarketDataError, strategies.ParameterError) as exc:
        return fail(analysis, str(exc))
    except Exception as exc:
        log.exception("analysis %s failed", correlation_id)
        return fail(analysis, f"internal error: {type(exc).__name__}: {exc}")
    return analysis


def start_attempt(correlation_id: str) -> tuple[AnalysisRequest, bool]:
    """Claim the request for one more run: (the request, True), or (it, False) when it has
    ended or has used its attempts (it is then failed with the reason)."""
    # A redelivered message and a sweeper's republished one can arrive together: the row lock
    # gives each its own attempt number, and only the latest attempt may finish the request.
    with transaction.atomic():
        analysis = AnalysisRequest.objects.select_for_update().get(correlation_id=correlation_id)
        if analysis.is_finished:
            return analysis, False
        if analysis.status == AnalysisStatus.RUNNING:
            analysis.error = lost_attempt_reason(analysis.attempts)
        if analysis.attempts >= settings.ANALYSIS_MAX_ATTEMPTS:
            give_up(analysis, analysis.error)
            return analysis, False
        analysis.attempts += 1
        analysis.status = AnalysisStatus.RUNNING
        analysis.started_at = timezone.now()
        analysis.save(update_fields=["attempts", "status", "started_at", "error"])
    return analysis, True


def lost_attempt_reason(attempt: int) -> str:
    return f"attempt {attempt} did not end: its worker stopped or ran out of time"


def retry_later(analysis: AnalysisRequest, error: Exception) -> AnalysisRequest:
    """Back to pending with the error shown, and a run published after a backoff delay."""
    reason = f"{type(error).__name__}: {error}"
    if analysis.attempts >= settings.ANALYSIS_MAX_ATTEMPTS:
        return give_up(analysis, reason)
    delay = retries.retry_delay(
        analysis.attempts,
        base=settings.ANALYSIS_RETRY_BACKOFF,
        maximum=settings.ANALYSIS_RETRY_BACKOFF_MAX,
        retry_after=getattr(error, "retry_after", None),
    )
    log.warning("analysis %s: %s; retrying in %.1f s", analysis.correlation_id, reason, delay)

    def back_to_pending() -> int:
        return AnalysisRequest.objects.filter(
            pk=analysis.pk, status=AnalysisStatus.RUNNING, attempts=analysis.attempts
        ).update(
            status=AnalysisStatus.PENDING,
            error=f"attempt {analysis.attempts} of {settings.ANALYSIS_MAX_ATTEMPTS} failed, "
            f"retrying in {delay:.0f} s: {reason}",
            last_dispatched_at=timezone.now() + timedelta(seconds=delay),
        )

    if retries.with_fresh_connection(back_to_pending):
        dispatch_analysis(str(analysis.correlation_id), countdown=delay)
    return reload(analysis)


def give_up(analysis: AnalysisRequest, last_error: str) -> AnalysisRequest:
    attempts = analysis.attempts
    reason = f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}"
    return fail(analysis, f"{reason}; last: {last_error}" if last_error else reason)


def reload(analysis: AnalysisRequest) -> AnalysisRequest:
    retries.with_fresh_connection(analysis.refresh_from_db)
    return analysis


def evaluate_after_commit(analysis: AnalysisRequest) -> None:
    """Fresh candles may end open signals of this pair: settle them once this commits.

    Not when the pair's only open signals are this run's own: they fired on the newest candle,
    so no later candle can end them yet, and the publish (a broker confirm) and the task would
    be spent on nothing. The scheduled evaluation covers every pair either way.
    """
    from signals import lifecycle, tasks

    others_open = (
        lifecycle.active_signals()
        .filter(asset=analysis.asset, timeframe=analysis.timeframe)
        .exclude(correlation_id=analysis.correlation_id)
        .exists()
    )
    if not others_open:
        return
    asset, timeframe = analysis.asset, analysis.timeframe
    # Robust: the analysis has committed by then, and the scheduled evaluation catches up if
    # the broker does not take this message.
    transaction.on_commit(
        lambda: tasks.evaluate_open_signals.delay(asset, timeframe), robust=True
    )


def find_candidates(frame: pd.DataFrame, enabled: list[strategies.Strategy]):
    candidates = []
    for strategy in enabled:
        candidate = strategy.latest(frame)
        if candidate is not None:
            candidates.append(candidate)
    return candidates


def evaluated_fields(frame: pd.DataFrame, enabled: list[strategies.Strategy]) -> dict:
    """What the analysis evaluated, for the drift report: the last candle, the candles read
    (their count and digest) and the parameters of every strategy run."""
    return {
        "candle_time": frame.index[-1].to_pydatetime() if len(frame) else None,
        "candles_read": len(frame),
        "candles_digest": candles_digest(frame),
        "strategy_parameters": {strategy.name: strategy.params for strategy in enabled},
    }


def store_signals(
    candidates: list[strategies.SignalCandidate],
    analysis: AnalysisRequest,
    candles: pd.DataFrame | None = None,
) -> list[Signal]:
    """Insert a signal per candidate unless its strategy already fired on that candle; the new
    ones, each announced once the transaction commits. While a model version is active each
    also stores its probability (from the candles the candidate was found on).

    One INSERT ... ON CONFLICT DO NOTHING for all of them, then one read of which went in (the
    keys are made here, so a row found by key is this insert's): two round trips instead of a
    read, a savepoint and an insert per candidate. signal_once_per_source_candle decides, as
    before, and a concurrent attempt waits for this one's row lock, then skips it. (SQLite's
    INSERT OR IGNORE also skips a row that breaks a check constraint; PostgreSQL raises.)
    """
    if not candidates:
        return []
    source = running_data_source()
    signals = [
        Signal(
            source=source,
            strategy=candidate.strategy,
            asset=analysis.asset,
            timeframe=analysis.timeframe,
            candle_time=candidate.candle_time.to_pydatetime(),
            direction=candidate.direction,
            confidence=candidate.confidence,
            entry_price=candidate.entry,
            stop_loss=candidate.stop_loss,
            take_profit=candidate.take_profit,
            indicators=candidate.indicators,
            parameters=candidate.parameters,
            correlation_id=analysis.correlation_id,
            **serving.probability_fields(candidate, analysis.timeframe, candles),
        )
        for candidate in candidates
    ]
    Signal.objects.bulk_create(signals, ignore_conflicts=True)
    inserted = set(
        Signal.objects.filter(pk__in=[s.pk for s in signals]).values_list("pk", flat=True)
    )
    new_signals = [signal for signal in signals if signal.pk in inserted]
    for signal in new_signals:
        events.publish(events.signal_generated(signal))
    return new_signals


def finish(
    analysis: AnalysisRequest,
    status: str,
    *,
    signals_generated=0,
    error="",
    evaluated: dict | None = None,
) -> bool:
    """End the request unless it has ended or a later attempt holds it; False if so.
    evaluated: fields saying what a completed analysis evaluated (evaluated_fields)."""
    finished_at = timezone.now()
    evaluated = evaluated or {}
    changed = AnalysisRequest.objects.filter(
        pk=analysis.pk,
        status__in=[AnalysisStatus.PENDING, AnalysisStatus.RUNNING],
        attempts=analysis.attempts,
    ).update(
        status=status,
        signals_generated=signals_generated,
        error=error,
        finished_at=finished_at,
        **evaluated,
    )
    if not changed:
        return False
    for name, value in evaluated.items():
        setattr(analysis, name, value)
    analysis.status = status
    analysis.signals_generated = signals_generated
    analysis.error = error
    analysis.finished_at = finished_at
    events.publish(events.analysis_finished(analysis))
    return True


def fail(analysis: AnalysisRequest, reason: str) -> AnalysisRequest:
    """Record the failure, on a new database connection if the old one died."""

    def record() -> None:
        with transaction.atomic():
            finish(analysis, AnalysisStatus.FAILED, error=reason)

    retries.with_fresh_connection(record)
    if analysis.status != AnalysisStatus.FAILED:
        reload(analysis)  # a later attempt or the sweeper ended it first
    return analysis


@dataclass(frozen=True)
class Sweep:
    republished: int = 0
    reaped: int = 0
    failed: int = 0


def sweep_analysis_requests(now=None) -> Sweep:
    """Make every accepted request end.

    Running requests older than the hard time limit plus a margin lost their worker: each goes
    back to pending and is published again, or fails once it has used its attempts. Pending
    requests whose message is later than ANALYSIS_REDISPATCH_AFTER (the broker lost it or was
    down when it was published) are published again. Every claim is a guarded update, so two
    sweepers, or a sweeper and a late worker, never both act on a request.
    """
    now = now or timezone.now()
    batch = settings.ANALYSIS_SWEEP_BATCH
    stuck_since = now - timedelta(seconds=settings.TASK_TIME_LIMIT + settings.ANALYSIS_REAP_MARGIN)
    late_since = now - timedelta(seconds=settings.ANALYSIS_REDISPATCH_AFTER)
    reaped = failed = republished = 0

    stuck = AnalysisRequest.objects.filter(
        status=AnalysisStatus.RUNNING, started_at__lt=stuck_since
    ).order_by("started_at")[:batch]
    for analysis in stuck:
        reason = lost_attempt_reason(analysis.attempts)
        if analysis.attempts >= settings.ANALYSIS_MAX_ATTEMPTS:
            failed += give_up(analysis, reason).status == AnalysisStatus.FAILED
            continue
        taken_back = AnalysisRequest.objects.filter(
            pk=analysis.pk,
            status=AnalysisStatus.RUNNING,
            attempts=analysis.attempts,
            started_at=analysis.started_at,
        ).update(status=AnalysisStatus.PENDING, error=reason, last_dispatched_at=now)
        if taken_back:
            reaped += 1
            dispatch_analysis(str(analysis.correlation_id))

    late = AnalysisRequest.objects.filter(
        status=AnalysisStatus.PENDING, last_dispatched_at__lt=late_since
    ).order_by("last_dispatched_at")[:batch]
    for analysis in late:
        claimed = AnalysisRequest.objects.filter(
            pk=analysis.pk,
            status=AnalysisStatus.PENDING,
            last_dispatched_at=analysis.last_dispatched_at,
        ).update(last_dispatched_at=now)
        if not claimed:
            continue
        if not dispatch_analysis(str(analysis.correlation_id)):
            break  # the broker is down: the rest wait for the next sweep
        republished += 1
    if reaped or failed or republished:
        log.warning(
            "sweep: %s republished, %s taken back from lost workers, %s failed",
            republished,
            reaped,
            failed,
        )
    return Sweep(republished=republished, reaped=reaped, failed=failed)


def cancel_active_signals(queryset) -> int:
    """Cancel the active signals among queryset and announce each ending after commit; closed
    ones are left as they ended. The number cancelled."""
    with transaction.atomic():
        ids = list(queryset.filter(status=SignalStatus.ACTIVE).values_list("pk", flat=True))
        now = timezone.now()
        # Guarded: a signal an evaluator closed meanwhile keeps its ending and is not announced.
        cancelled = Signal.objects.filter(pk__in=ids, status=SignalStatus.ACTIVE)
        count = cancelled.update(status=SignalStatus.CANCELLED, closed_at=now)
        for signal in Signal.objects.filter(
            pk__in=ids, status=SignalStatus.CANCELLED, closed_at=now
        ):
            events.publish(events.signal_closed(signal))
    return count


def prune_analysis_requests(now=None) -> int:
    """Delete analysis requests older than ANALYSIS_RETENTION_DAYS; signals keep their ids."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ANALYSIS_RETENTION_DAYS)
    deleted, _ = AnalysisRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted
