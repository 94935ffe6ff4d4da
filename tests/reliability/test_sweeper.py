"""The sweeper and the attempt counter, embedded: late messages republished, lost runs taken
back, a request out of attempts failed with the reason, and only one actor ends a request."""

from datetime import timedelta

import pytest
from django.utils import timezone

from signals import services
from signals.models import AnalysisRequest, AnalysisStatus

pytestmark = pytest.mark.django_db(transaction=True)


def analysis_request(
    *, status=AnalysisStatus.PENDING, attempts=0, dispatched_ago=0.0, started_ago=None
) -> AnalysisRequest:
    analysis = AnalysisRequest.objects.create(asset="BTCUSDT", timeframe="5m")
    now = timezone.now()
    AnalysisRequest.objects.filter(pk=analysis.pk).update(
        status=status,
        attempts=attempts,
        last_dispatched_at=now - timedelta(seconds=dispatched_ago),
        started_at=None if started_ago is None else now - timedelta(seconds=started_ago),
    )
    analysis.refresh_from_db()
    return analysis


def lost_for(settings) -> float:
    return settings.TASK_TIME_LIMIT + settings.ANALYSIS_REAP_MARGIN + 1


def test_sweeper_republishes_a_pending_request_whose_message_is_late(binance, settings):
    analysis = analysis_request(dispatched_ago=settings.ANALYSIS_REDISPATCH_AFTER + 1)

    assert services.sweep_analysis_requests() == services.Sweep(republished=1)

    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.COMPLETED
    assert analysis.attempts == 1


def test_sweeper_leaves_a_pending_request_whose_message_is_not_late(settings):
    just_published = analysis_request(dispatched_ago=settings.ANALYSIS_REDISPATCH_AFTER - 5)
    retry_not_due = analysis_request(attempts=1, dispatched_ago=-60)

    assert services.sweep_analysis_requests() == services.Sweep()

    for analysis in (just_published, retry_not_due):
        analysis.refresh_from_db()
        assert analysis.status == AnalysisStatus.PENDING


def test_sweeper_takes_back_a_running_request_whose_worker_is_gone(binance, settings):
    analysis = analysis_request(
        status=AnalysisStatus.RUNNING, attempts=1, started_ago=lost_for(settings)
    )

    assert services.sweep_analysis_requests() == services.Sweep(reaped=1)

    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.COMPLETED
    assert analysis.attempts == 2


def test_sweeper_leaves_a_running_request_within_its_time_limit(settings):
    analysis = analysis_request(
        status=AnalysisStatus.RUNNING, attempts=1, started_ago=settings.TASK_TIME_LIMIT
    )

    assert services.sweep_analysis_requests() == services.Sweep()

    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.RUNNING


def test_sweeper_fails_a_lost_request_that_used_its_attempts(settings):
    settings.ANALYSIS_MAX_ATTEMPTS = 3
    analysis = analysis_request(
        status=AnalysisStatus.RUNNING, attempts=3, started_ago=lost_for(settings)
    )

    assert services.sweep_analysis_requests() == services.Sweep(failed=1)

    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.FAILED
    assert analysis.error == (
        "gave up after 3 attempts; last: attempt 3 did not end: "
        "its worker stopped or ran out of time"
    )
    assert analysis.finished_at is not None


def test_a_second_sweep_finds_nothing_the_first_took(settings):
    settings.ANALYSIS_MAX_ATTEMPTS = 1
    analysis_request(status=AnalysisStatus.RUNNING, attempts=1, started_ago=lost_for(settings))
    now = timezone.now()

    assert services.sweep_analysis_requests(now) == services.Sweep(failed=1)
    assert services.sweep_analysis_requests(now) == services.Sweep()


def test_only_the_latest_attempt_may_finish_a_request():
    correlation_id = str(analysis_request().correlation_id)
    first, started = services.start_attempt(correlation_id)
    assert started
    # The message is delivered again while the first run still holds the request.
    second, started = services.start_attempt(correlation_id)
    assert started
    assert second.attempts == 2
    assert second.error == "attempt 1 did not end: its worker stopped or ran out of time"

    assert not services.finish(first, AnalysisStatus.COMPLETED)
    assert services.finish(second, AnalysisStatus.COMPLETED)
    assert AnalysisRequest.objects.get(pk=second.pk).status == AnalysisStatus.COMPLETED


def test_a_late_worker_cannot_complete_a_request_the_sweeper_failed(settings):
    settings.ANALYSIS_MAX_ATTEMPTS = 1
    correlation_id = str(analysis_request().correlation_id)
    late_worker, _ = services.start_attempt(correlation_id)
    AnalysisRequest.objects.filter(pk=late_worker.pk).update(
        started_at=timezone.now() - timedelta(seconds=lost_for(settings))
    )

    assert services.sweep_analysis_requests() == services.Sweep(failed=1)
    assert not services.finish(late_worker, AnalysisStatus.COMPLETED, signals_generated=3)

    analysis = AnalysisRequest.objects.get(pk=late_worker.pk)
    assert analysis.status == AnalysisStatus.FAILED
    assert analysis.signals_generated == 0


def test_a_request_delivered_again_after_its_last_attempt_fails_with_the_reason(
    binance, settings
):
    settings.ANALYSIS_MAX_ATTEMPTS = 2
    correlation_id = str(analysis_request().correlation_id)
    services.start_attempt(correlation_id)  # each run killed its worker
    services.start_attempt(correlation_id)

    analysis = services.run_analysis(correlation_id)

    assert analysis.status == AnalysisStatus.FAILED
    assert analysis.attempts == 2
    assert analysis.error == (
        "gave up after 2 attempts; last: attempt 2 did not end: "
        "its worker stopped or ran out of time"
    )
