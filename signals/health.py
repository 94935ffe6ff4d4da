"""Reachability of the parts the platform needs, each with its latency."""

import asyncio
import time
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from kombu import Connection

from signals import events

HEARTBEAT_KEY = "health:worker-heartbeat"

IN_PROCESS = {"mode": "in-process"}
TIMEOUT_SECONDS = 2


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


def run_check(check) -> dict:
    started = time.perf_counter()
    try:
        detail = {"status": "up", **check()}
    except Exception as exc:
        detail = {"status": "down", "error": f"{type(exc).__name__}: {exc}"}
    detail["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return detail


def record_heartbeat(now: datetime | None = None) -> datetime:
    """Run by a worker (beat sends it every 30 s): note the time and publish a HealthCheck."""
    now = now or timezone.now()
    cache.set(HEARTBEAT_KEY, now.isoformat(), timeout=None)
    events.publish(events.health_check("worker", now))
    return now


def worker_status(now: datetime | None = None) -> dict:
    """up: a heartbeat within WORKER_HEARTBEAT_MAX_AGE; down: an older one; unknown: none yet.

    Only "down" fails the health check: a fresh deployment (or a flushed cache) has no
    heartbeat until beat's first run, which is not evidence of a dead worker.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "in-process", "last_heartbeat": None, "age_seconds": None}
    try:
        last = parse_datetime(cache.get(HEARTBEAT_KEY) or "")
    except Exception as exc:  # the cache itself is reported by its own check
        return {"status": "unknown", "last_heartbeat": None, "age_seconds": None,
                "error": f"{type(exc).__name__}: {exc}"}
    if last is None:
        return {"status": "unknown", "last_heartbeat": None, "age_seconds": None}
    age = ((now or timezone.now()) - last).total_seconds()
    fresh = age <= settings.WORKER_HEARTBEAT_MAX_AGE
    return {
        "status": "up" if fresh else "down",
        "last_heartbeat": last.isoformat(),
        "age_seconds": round(age, 1),
    }


def check_all() -> dict:
    components = {name: run_check(check) for name, check in CHECKS.items()}
    down = [name for name, detail in components.items() if detail["status"] != "up"]
    worker = worker_status()
    if worker["status"] == "down":
        down.append("worker")
    return {
        "status": "down" if down else "up",
        "failing": down,
        "components": components,
        "worker": worker,
    }
