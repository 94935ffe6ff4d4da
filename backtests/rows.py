"""The lifecycle of a stored research row (Backtest, GridRun, WalkForward), in one place.

queued -> running -> completed, failed or cancelled: the first task is published with the
broker's confirm (a row the broker did not take is failed with that reason), a worker claims a
queued row once (a message that comes back for a running row fails it), and every end is a
guarded update (only a queued or running row ends: a cancel and a finish never both win).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from backtests.models import UNFINISHED, BacktestStatus
from signals import retries

log = logging.getLogger(__name__)

# A row's finish: (row_id, status, *, only_from=None, **fields) -> whether it ended it.
Finish = Callable[..., bool]

LOST_WORKER = "its worker stopped or ran out of time (BACKTEST_TIME_LIMIT)"


def finish_row(model: type[models.Model], row_id: int, status: str, *,
               only_from: str | None = None, **fields: Any) -> bool:
    """End a queued or running row (only_from: only one in that status); False if it had
    already ended: a guarded update, so a cancel and a finish never both win."""
    unfinished = [only_from] if only_from else UNFINISHED
    return bool(model.objects.filter(pk=row_id, status__in=unfinished).update(
        status=status, finished_at=timezone.now(), **fields))


def claim_row(model: type[models.Model], row_id: int, *, finish: Finish | None = None,
              **fields: Any) -> bool:
    """Queued -> running (with fields), once; a message that comes back for a running row
    fails it through finish (default finish_row): the worker that ran it was lost (killed at
    the hard time limit, or it stopped), and running it again could repeat that."""
    finish = finish or partial(finish_row, model)
    claimed = model.objects.filter(pk=row_id, status=BacktestStatus.QUEUED).update(
        status=BacktestStatus.RUNNING, started_at=timezone.now(), **fields)
    if not claimed:
        finish(row_id, BacktestStatus.FAILED, only_from=BacktestStatus.RUNNING,
               error=LOST_WORKER)
    return bool(claimed)


def dispatch_row(model: type[models.Model], row_id: int, task: Any, *,
                 finish: Finish | None = None, **options: Any) -> bool:
    """Publish the row's first task (options: apply_async's), confirmed by the broker
    (embedded: run it after the response); False if it was not taken. Never raises: a row the
    broker did not take is failed with that reason through finish (default finish_row)."""
    from botsinais import embedded

    if embedded.runs_tasks_after_response():
        embedded.run_later(task, row_id)
        return True
    finish = finish or partial(finish_row, model)
    timeout = settings.BROKER_PUBLISH_TIMEOUT
    try:
        task.apply_async((row_id,), timeout=timeout, confirm_timeout=timeout, **options)
    except retries.BROKER_ERRORS as exc:
        log.warning("%s %s not published (%s: %s)", model.__name__, row_id,
                    type(exc).__name__, exc)
        reason = f"the task queue did not take it ({type(exc).__name__}); try again"
        retries.with_fresh_connection(lambda: finish(row_id, BacktestStatus.FAILED, error=reason))
        return False
    return True
