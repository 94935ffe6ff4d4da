"""Celery tasks of backtests: thin, take an id, call one service. On the backtests queue
(CELERY_TASK_ROUTES), with their own time limits: a long period takes longer than an analysis."""

from celery import shared_task
from django.conf import settings

from backtests import services
from signals import retries


@shared_task(
    soft_time_limit=settings.BACKTEST_SOFT_TIME_LIMIT,
    time_limit=settings.BACKTEST_TIME_LIMIT,
    # Only a lost claim is retried; the service fails the row for any other error.
    autoretry_for=retries.DATABASE_CONNECTION_ERRORS,
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
)
def run_backtest(backtest_id: int) -> str | None:
    backtest = services.run_backtest_row(backtest_id)
    return backtest.status if backtest else None
