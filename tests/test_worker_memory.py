"""A Celery worker keeps the memory a backtest frees for its next parameter set
(botsinais/celery.py keep_freed_memory, docs/grids.md)."""

import subprocess
import sys
from types import SimpleNamespace

import pytest
from celery import signals

from botsinais import celery as celery_app
from tests.conftest import ROOT

# A child process: page faults of 10 rounds of what a parameter set does, making some arrays
# of 1,000,000 bars and dropping them, after keep_freed_memory ran (or not).
FAULTS = """
import resource, django, numpy as np
django.setup()
from botsinais.celery import keep_freed_memory
if {keep}:
    keep_freed_memory()
def one_set():
    arrays = [np.ones(1_000_000) for _ in range(5)]
one_set()  # the first one is faulted in either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    one_set()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(keep: bool) -> int:
    # No MALLOC_* or GLIBC_TUNABLES of the caller's: glibc's defaults against the kept memory.
    env = {"DJANGO_SETTINGS_MODULE": "botsinais.settings", "DJANGO_READ_ENV_FILE": "false",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", FAULTS.format(keep=keep)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_started_worker_reuses_freed_arrays_instead_of_faulting_them_in_again():
    # By default glibc unmaps or trims some of them each round (over 2,000 faults a round
    # with 4 KiB pages; fewer where huge pages back them), kept: none after the first round.
    default, kept = page_faults(keep=False), page_faults(keep=True)
    assert kept < 1_000 and default > 10 * (kept + 10)


def test_it_runs_when_a_worker_starts():
    assert celery_app.keep_freed_memory in signals.worker_init._live_receivers(sender=None)


def test_the_setting_turns_it_off(monkeypatch, settings):
    calls = []

    def mallopt(parameter, value):
        calls.append((parameter, value))
        return 1

    monkeypatch.setattr(celery_app.ctypes, "CDLL", lambda name: SimpleNamespace(mallopt=mallopt))
    settings.WORKER_KEEP_FREED_MEMORY_MB = 256
    celery_app.keep_freed_memory()
    assert calls == [(celery_app.M_MMAP_THRESHOLD, 32 << 20),
                     (celery_app.M_TRIM_THRESHOLD, 256 << 20)]
    calls.clear()
    settings.WORKER_KEEP_FREED_MEMORY_MB = 0
    celery_app.keep_freed_memory()
    assert calls == []
