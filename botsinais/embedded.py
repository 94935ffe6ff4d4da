"""The embedded default's worker and beat, inside the web process.

With EMBEDDED_WORKER on (make run sets it; the full stack has a worker and beat instead):
- the schedules stored in the database (django-celery-beat: the same periodic tasks beat runs
  on the full stack, editable in the admin) run in a thread, driven by celery beat's own
  DatabaseScheduler; tasks are eager, so each due task runs in that thread;
- a task a request queues (an analysis) runs in a small thread pool after the response, so
  the request answers at once and the analysis shows as pending;
- the compiled indicator kernels are warmed in a background thread at start-up.
Without it (tests, management commands) tasks run eagerly where they are queued.
"""

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from celery import beat
from django.conf import settings
from django.db import close_old_connections

from botsinais.celery import app

log = logging.getLogger(__name__)

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_beat: beat.Service | None = None  # celery's threaded embedded service (a Thread)


def start() -> None:
    """Start the scheduler thread and the kernel warm-up, once per process."""
    global _beat
    with _lock:
        if _beat is not None:
            return
        threading.Thread(target=warm_kernels, name="warm-kernels", daemon=True).start()
        _beat = beat.EmbeddedService(app, thread=True, scheduler_cls=settings.CELERY_BEAT_SCHEDULER)
        _beat.start()
    log.info("embedded worker: running the stored schedules in-process")
    # The first scan now, not one interval after start: a new user sees signals sooner.
    from signals import tasks

    run_later(tasks.scan_watchlist)


def stop() -> None:
    """Stop the scheduler thread and wait for queued tasks (tests, shutdown)."""
    global _beat, _pool
    with _lock:
        service, _beat = _beat, None
        pool, _pool = _pool, None
    if service is not None:
        service.stop()
        service.join(10)
    if pool is not None:
        pool.shutdown(wait=True)


def runs_tasks_after_response() -> bool:
    """Embedded with EMBEDDED_WORKER: a task runs in a thread after the response (otherwise
    eager tasks run at once, as the tests want, or go to the broker on the full stack)."""
    return settings.CELERY_TASK_ALWAYS_EAGER and settings.EMBEDDED_WORKER


def run_later(task, *args) -> Future:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="embedded-task")
        return _pool.submit(run_eagerly, task, *args)


def run_eagerly(task, *args) -> None:
    # A pool thread keeps its database connection between tasks: drop one that went stale.
    close_old_connections()
    try:
        task.delay(*args)
    except Exception:
        log.exception("embedded task %s failed", task.name)
    finally:
        close_old_connections()


def warm_kernels() -> None:
    from strategies.warmup import warm_up

    try:
        log.info("compiled kernels warmed for %s", ", ".join(warm_up()))
    except Exception:  # a failed warm-up only costs the first analysis its compile time
        log.exception("kernel warm-up failed")
