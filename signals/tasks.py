"""Celery tasks: thin wrappers that take ids (or nothing) and call one service."""

from celery import shared_task

from signals import health, lifecycle, scans, services


@shared_task
def run_analysis(correlation_id: str) -> str:
    return services.run_analysis(correlation_id).status


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
