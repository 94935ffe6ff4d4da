"""Reachability of the parts the platform needs, each with its latency.

Every check runs in its own thread against one deadline (HEALTH_CHECK_TIMEOUT): a part that
hangs (Redis stopped mid-reply, a database that accepts but never answers) is reported down
by name when the deadline passes, and the answer never waits for it.
"""

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections
from django.utils import timezone
from kombu import Connection

from signals import events
from signals.models import Heartbeat

WORKER = "worker"
IN_PROCESS = {"mode": "in-process"}
TIMEOUT_SECONDS = 2
# A missing heartbeat means a dead worker once this process has run longer than the maximum
# age (a fresh deployment has had no chance to beat yet).
PROCESS_STARTED = timezone.now()


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"vendor": connection.vendor}


def check_broker() -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return IN_PROCESS
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1, timeout=TIMEOUT_SECONDS)
        return {"transport": conn.transport_cls}


def check_cache() -> dict:
    if "locmem" in settings.CACHES["default"]["BACKEND"]:
        return IN_PROCESS
    cache.set("health:ping", "pong", 10)
    if cache.get("health:ping") != "pong":
        raise RuntimeError("cache did not return what was stored")
    return {}


def check_channel_layer() -> dict:
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        return IN_PROCESS

    async def round_trip():
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "health.ping"})
        await asyncio.wait_for(layer.receive(channel), TIMEOUT_SECONDS)

    async_to_sync(round_trip)()
    return {}


CHECKS = {
    "database": check_database,
    "broker": check_broker,
    "cache": check_cache,
    "channel_layer": check_channel_layer,
}


def run_check(check: Callable[[], dict]) -> dict:
    started = time.perf_counter()
    try:
        detail = {"status": "up", **check()}
    except Exception as exc:
        detail = {"status": "down", "error": f"{type(exc).__name__}: {exc}"}
    detail["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return detail


def run_within(checks: dict[str, Callable[[], dict]], deadline: float) -> dict[str, dict]:
    """Run every check at once; one still running after deadline seconds is reported down."""
    results: dict[str, dict] = {}

    def run(name: str, check: Callable[[], dict]) -> None:
        try:
            results[name] = run_check(check)
        finally:
            connections.close_all()  # this thread's own connections (back to the pool)

    # Daemon threads: a check that hangs past the deadline is abandoned, never waited for.
    threads = {
        name: threading.Thread(target=run, args=(name, check), daemon=True, name=f"health-{name}")
        for name, check in checks.items()
    }
    ends_at = time.monotonic() + deadline
    for thread in threads.values():
        thread.start()
    for thread in threads.values():
        thread.join(max(0.0, ends_at - time.monotonic()))
    return {
        name: results.get(name)
        or {"status": "down", "error": f"no answer within {deadline:g} s", "latency_ms": None}
        for name in checks
    }


def record_heartbeat(now: datetime | None = None) -> datetime:
    """Run by a worker (beat sends it every 30 s): note the time and publish a HealthCheck."""
    now = now or timezone.now()
    Heartbeat.objects.update_or_create(component=WORKER, defaults={"beat_at": now})
    events.publish(events.health_check("worker", now))
    return now


def worker_status(now: datetime | None = None, up_since: datetime | None = None) -> dict:
    """up: a heartbeat within WORKER_HEARTBEAT_MAX_AGE; down: an older one, or none though
    this process has run longer than that; unknown: none yet, just after start-up."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "in-process", "last_heartbeat": None, "age_seconds": None}
    now = now or timezone.now()
    max_age = settings.WORKER_HEARTBEAT_MAX_AGE
    last = Heartbeat.objects.filter(component=WORKER).values_list("beat_at", flat=True).first()
    if last is None:
        waited = (now - (up_since or PROCESS_STARTED)).total_seconds()
        return {
            "status": "down" if waited > max_age else "unknown",
            "last_heartbeat": None,
            "age_seconds": None,
        }
    age = (now - last).total_seconds()
    return {
        "status": "up" if age <= max_age else "down",
        "last_heartbeat": last.isoformat(),
        "age_seconds": round(age, 1),
    }


def check_all() -> dict:
    deadline = settings.HEALTH_CHECK_TIMEOUT
    heartbeat: dict = {}

    def check_worker() -> dict:
        heartbeat.update(worker_status())
        return {}

    components = run_within({**CHECKS, WORKER: check_worker}, deadline)
    reached = components.pop(WORKER)
    if reached["status"] == "up":
        worker = heartbeat
    else:  # the database holding the heartbeat did not answer; it is reported on its own
        worker = {"status": "unknown", "last_heartbeat": None, "age_seconds": None,
                  "error": reached["error"]}  # fmt: skip
    down = [name for name, detail in components.items() if detail["status"] != "up"]
    if worker["status"] == "down":
        down.append(WORKER)
    return {
        "status": "down" if down else "up",
        "failing": down,
        "components": components,
        "worker": worker,
    }
