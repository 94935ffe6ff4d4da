"""Celery tasks: thin wrappers that take ids (or nothing) and call one service.

Every task has the soft and hard time limits of the settings (CELERY_TASK_*_TIME_LIMIT). A
database or broker connection error that escapes a service (the claim itself failed) is
retried with backoff and jitter; the sweeper is the backstop once those retries run out.
"""

from celery import shared_task
from django.conf import settings

from signals import health, lifecycle, retries, scans, services

RETRY_ON_CONNECTION_ERRORS = {
    "autoretry_for": (*retries.DATABASE_CONNECTION_ERRORS, *retries.BROKER_ERRORS),
    "retry_backoff": settings.ANALYSIS_RETRY_BACKOFF or True,
    "retry_backoff_max": int(settings.ANALYSIS_RETRY_BACKOFF_MAX),
    "retry_jitter": True,
    "max_retries": settings.ANALYSIS_MAX_ATTEMPTS,
}


@shared_task(**RETRY_ON_CONNECTION_ERRORS)
def run_analysis(correlation_id: str) -> str:
    return services.run_analysis(correlation_id).status


@shared_task(**RETRY_ON_CONNECTION_ERRORS)
def sweep_analysis_requests() -> dict:
    sweep = services.sweep_analysis_requests()
    return {"republished": sweep.republished, "reaped": sweep.reaped, "failed": sweep.failed}


@shared_task
def evaluate_open_signals(asset: str | None = None, timeframe: str | None = None) -> int:
    return lifecycle.evaluate_open_signals(asset, timeframe)


@shared_task
def scan_watchlist() -> int:
    return len(scans.scan_watchlist())


@shared_task
def prune_analysis_requests() -> int:
    return services.prune_analysis_requests()


@shared_task
def publish_heartbeat() -> str:
    return health.record_heartbeat().isoformat()
