"""Celery tasks of backtests: thin, take an id, call one service. On the backtests queue
(CELERY_TASK_ROUTES), with their own time limits: a long period takes longer than an analysis."""

from celery import shared_task
from django.conf import settings

from backtests import research, services
from signals import retries

LIMITS = {
    "soft_time_limit": settings.BACKTEST_SOFT_TIME_LIMIT,
    "time_limit": settings.BACKTEST_TIME_LIMIT,
    # Only a lost claim is retried; the service fails the row for any other error.
    "autoretry_for": retries.DATABASE_CONNECTION_ERRORS,
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 3,
}


@shared_task(**LIMITS)
def run_backtest(backtest_id: int) -> str | None:
    backtest = services.run_backtest_row(backtest_id)
    return backtest.status if backtest else None


@shared_task(**LIMITS)
def start_grid(grid_id: int) -> None:
    research.start_grid(grid_id)


# A chord's header keeps its results (the chord counts them); the status is all it returns.
@shared_task(bind=True, ignore_result=False, **LIMITS)
def run_grid_chunk(self, chunk_id: int) -> str:
    return research.run_grid_chunk(chunk_id, worker=self.request.hostname or "")


@shared_task(**LIMITS)
def assemble_grid(grid_id: int) -> None:
    research.assemble_grid(grid_id)


@shared_task(**LIMITS)
def run_walk_forward(walk_forward_id: int) -> None:
    research.run_walk_forward_row(walk_forward_id)
