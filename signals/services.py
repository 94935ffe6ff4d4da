"""Write paths for analyses and signals: atomic, status-guarded, follow-up work on commit."""

import logging
from datetime import timedelta

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

import collectors
import strategies
from market import store
from market.models import running_data_source
from signals import events
from signals.models import (
    AnalysisRequest,
    AnalysisSource,
    AnalysisStatus,
    Signal,
    SignalStatus,
    StrategyConfig,
)

log = logging.getLogger(__name__)


def request_analysis(*, asset: str, timeframe: str, user=None, source=AnalysisSource.API):
    """A pending analysis request, its task queued once it commits (embedded: after the
    response, see botsinais.embedded)."""
    from botsinais import embedded
    from signals import tasks  # tasks import services; import here to keep the cycle lazy

    with transaction.atomic():
        analysis = AnalysisRequest.objects.create(
            asset=asset, timeframe=timeframe, requested_by=user, source=source
        )
        correlation_id = str(analysis.correlation_id)
        transaction.on_commit(lambda: embedded.queue_task(tasks.run_analysis, correlation_id))
    return analysis


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


def run_analysis(correlation_id: str) -> AnalysisRequest:
    """Collect candles, run the strategies, store new signals. Safe to run twice."""
    # Claim with a guarded update: a finished request is never run again.
    claimed = AnalysisRequest.objects.filter(
        correlation_id=correlation_id,
        status__in=[AnalysisStatus.PENDING, AnalysisStatus.RUNNING],
    ).update(status=AnalysisStatus.RUNNING, started_at=timezone.now())
    analysis = AnalysisRequest.objects.get(correlation_id=correlation_id)
    if not claimed:
        return analysis
    try:
        frame = store.load_candles(analysis.asset, analysis.timeframe)
        candidates = find_candidates(frame, analysis)
        with transaction.atomic():
            new_signals = [s for s in (store_signal(c, analysis) for c in candidates) if s]
            finish(analysis, AnalysisStatus.COMPLETED, signals_generated=len(new_signals))
            evaluate_after_commit(analysis.asset, analysis.timeframe)
    except (collectors.MarketDataError, strategies.ParameterError) as exc:
        return fail(analysis, str(exc))
    except Exception as exc:
        log.exception("analysis %s failed", correlation_id)
        return fail(analysis, f"internal error: {type(exc).__name__}: {exc}")
    return analysis


def evaluate_after_commit(asset: str, timeframe: str) -> None:
    """Fresh candles may end open signals of this pair: settle them once this commits."""
    from signals import tasks

    transaction.on_commit(lambda: tasks.evaluate_open_signals.delay(asset, timeframe))


def find_candidates(frame: pd.DataFrame, analysis: AnalysisRequest):
    candidates = []
    for strategy in enabled_strategies(analysis.asset, analysis.timeframe, analysis.strategies):
        candidate = strategy.latest(frame)
        if candidate is not None:
            candidates.append(candidate)
    return candidates


def store_signal(candidate: strategies.SignalCandidate, analysis: AnalysisRequest) -> Signal | None:
    """Insert the signal unless this strategy already fired on this candle; None if it did."""
    signal, created = Signal.objects.get_or_create(
        source=running_data_source(),
        strategy=candidate.strategy,
        asset=analysis.asset,
        timeframe=analysis.timeframe,
        candle_time=candidate.candle_time.to_pydatetime(),
        defaults={
            "direction": candidate.direction,
            "confidence": candidate.confidence,
            "entry_price": candidate.entry,
            "stop_loss": candidate.stop_loss,
            "take_profit": candidate.take_profit,
            "indicators": candidate.indicators,
            "parameters": candidate.parameters,
            "correlation_id": analysis.correlation_id,
        },
    )
    if not created:
        return None
    events.publish(events.signal_generated(signal))
    return signal


def finish(analysis: AnalysisRequest, status: str, *, signals_generated=0, error="") -> None:
    analysis.status = status
    analysis.signals_generated = signals_generated
    analysis.error = error
    analysis.finished_at = timezone.now()
    analysis.save(update_fields=["status", "signals_generated", "error", "finished_at"])
    events.publish(events.analysis_finished(analysis))


def fail(analysis: AnalysisRequest, reason: str) -> AnalysisRequest:
    with transaction.atomic():
        finish(analysis, AnalysisStatus.FAILED, error=reason)
    return analysis


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
