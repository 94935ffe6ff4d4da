import ctypes
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botsinais.settings")

app = Celery("botsinais")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# mallopt(3) parameters of glibc's malloc.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
LARGEST_MMAP_THRESHOLD = 32 << 20  # glibc refuses more on 64-bit systems


@signals.worker_init.connect
def keep_freed_memory(**_) -> None:
    """Keep the arrays a backtest frees for the next parameter set.

    By default glibc maps each array of more than a few MiB on its own and unmaps it on free,
    or trims the heap's free top, so every set of a grid faults its tens of megabytes in again:
    a third of a 1,000,000-bar grid's time, and two workers faulting at once on a virtual
    machine slowed each other to no gain (docs/grids.md). Sent once in the worker's main
    process; pool processes forked from it inherit the setting.
    """
    from django.conf import settings

    keep = settings.WORKER_KEEP_FREED_MEMORY_MB << 20  # below 2 GiB: mallopt takes a C int
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # glibc only (not musl or macOS)
    if keep and mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, LARGEST_MMAP_THRESHOLD)
        mallopt(M_TRIM_THRESHOLD, keep)
