"""Realtime events: typed builders, one envelope, pushed to Channels groups after commit.

Every server event is {"event_id", "event_type", "timestamp", "correlation_id", "data"}.
The event types are the constants below and each has one builder here, used both when the
event happens and when the consumer replays what a client missed ("since"):
SignalGenerated and SignalClosed (data: the REST signal serializer), AnalysisCompleted
(asset, timeframe, signals_generated), AnalysisFailed (asset, timeframe, reason), HealthCheck
(component, last_heartbeat); and to the user who asked (group user.<id>): BacktestProgress
(id, progress), BacktestCompleted (id, metrics), BacktestFailed (id, error, status: failed or
cancelled). The database row is the record; the push is best effort. A channel
layer that is down is logged, never raised, and a client that missed events asks the consumer
for them ("since").
"""

import asyncio
import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from signals.models import AnalysisStatus

log = logging.getLogger(__name__)

ALL_SIGNALS_GROUP = "signals"

SIGNAL_GENERATED = "SignalGenerated"
SIGNAL_CLOSED = "SignalClosed"
ANALYSIS_COMPLETED = "AnalysisCompleted"
ANALYSIS_FAILED = "AnalysisFailed"
HEALTH_CHECK = "HealthCheck"
# A user's backtests (backtests/), to that user's group only.
BACKTEST_PROGRESS = "BacktestProgress"
BACKTEST_COMPLETED = "BacktestCompleted"
BACKTEST_FAILED = "BacktestFailed"
EVENT_TYPES = (
    SIGNAL_GENERATED,
    SIGNAL_CLOSED,
    ANALYSIS_COMPLETED,
    ANALYSIS_FAILED,
    HEALTH_CHECK,
    BACKTEST_PROGRESS,
    BACKTEST_COMPLETED,
    BACKTEST_FAILED,
)
# A channel layer that hangs (not just refuses) must not hold a worker's task for long.
SEND_TIMEOUT_SECONDS = 2.0


def envelope(
    event_type: str,
    data: dict,
    correlation_id=None,
    *,
    timestamp: datetime | None = None,
    event_id: str | None = None,
) -> dict:
    """The event as clients receive it; data made JSON-safe (UUIDs, datetimes) here, once."""
    return {
        "event_id": event_id or uuid.uuid4().hex,
        "event_type": event_type,
        "timestamp": (timestamp or timezone.now()).isoformat(),
        "correlation_id": str(correlation_id) if correlation_id else None,
        "data": json.loads(json.dumps(data, cls=DjangoJSONEncoder)),
    }


def groups_for(
    asset: str | None = None, strategy: str | None = None, timeframe: str | None = None
) -> list[str]:
    """The groups an event about this asset, strategy and timeframe goes to."""
    groups = [ALL_SIGNALS_GROUP]
    if asset:
        groups.append(f"asset.{asset}")
    if strategy:
        groups.append(f"strategy.{strategy}")
    if timeframe:
        groups.append(f"timeframe.{timeframe}")
    return groups


async def send_to_groups(event: dict, groups: list[str]) -> None:
    layer = get_channel_layer()
    # Encoded once here, not once per connection in the consumer.
    message = {"type": "broadcast", "event_id": event["event_id"], "text": json.dumps(event)}
    await asyncio.wait_for(
        asyncio.gather(*(layer.group_send(group, message) for group in groups)),
        SEND_TIMEOUT_SECONDS,
    )


_publisher: tuple[int, asyncio.AbstractEventLoop] | None = None
_publisher_lock = threading.Lock()


def publisher_loop() -> asyncio.AbstractEventLoop:
    """This process' event loop for pushing from sync code (workers, views). It keeps its
    Redis connections between events; async_to_sync would open and close them every time."""
    global _publisher
    with _publisher_lock:
        # A forked child (Celery prefork) inherits the loop but not the thread running it.
        if _publisher is None or _publisher[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="events-publisher", daemon=True).start()
            _publisher = (os.getpid(), loop)
        return _publisher[1]


_server_loop: asyncio.AbstractEventLoop | None = None


class RecordServerLoop:
    """ASGI wrapper noting the event loop serving the consumers (see send_now)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        global _server_loop
        _server_loop = asyncio.get_running_loop()
        return await self.application(scope, receive, send)


def in_memory_send(event: dict, groups: list[str]) -> None:
    """Send on the in-memory layer from sync code. Its queues belong to the consumers' event
    loop (embedded: one process), so the send runs there: async_to_sync reaches it from a
    view's thread, and a background thread (embedded scheduler or task pool) hands it over."""
    loop = _server_loop
    in_loop_thread = False
    try:
        in_loop_thread = asyncio.get_running_loop() is loop
    except RuntimeError:
        pass
    if loop is None or not loop.is_running() or in_loop_thread:
        async_to_sync(send_to_groups)(event, groups)
        return
    asyncio.run_coroutine_threadsafe(send_to_groups(event, groups), loop).result(
        SEND_TIMEOUT_SECONDS + 1
    )


def send_now(event: dict, groups: list[str]) -> bool:
    """Push to each group now; False (and a log line) when the channel layer is unavailable."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        if isinstance(layer, InMemoryChannelLayer):
            in_memory_send(event, groups)
        else:
            pushed = asyncio.run_coroutine_threadsafe(
                send_to_groups(event, groups), publisher_loop()
            )
            # Waiting keeps the events of one transaction in order (signals, then completion).
            pushed.result(SEND_TIMEOUT_SECONDS + 1)
    except Exception:
        log.warning(
            "channel layer unavailable; %s %s not pushed (stored, clients catch up with 'since')",
            event["event_type"],
            event["event_id"],
            exc_info=True,
        )
        return False
    return True


@dataclass(frozen=True)
class Event:
    """An event before it is sent: what happened, to whom, and when (None: now)."""

    event_type: str
    data: dict
    correlation_id: object = None
    groups: list[str] = field(default_factory=lambda: [ALL_SIGNALS_GROUP])
    timestamp: datetime | None = None

    def envelope(self) -> dict:
        return envelope(self.event_type, self.data, self.correlation_id, timestamp=self.timestamp)


def publish(event: Event) -> dict:
    """Push an event once the current transaction commits (now, outside a transaction)."""
    message = event.envelope()
    transaction.on_commit(lambda: send_now(message, event.groups))
    return message


# ---- the builders: one per event type ----


def signal_event(event_type: str, signal, *, at: datetime | None = None) -> Event:
    from signals.api.serializers import SignalSerializer  # the serializers import the models

    return Event(
        event_type,
        SignalSerializer(signal).data,
        correlation_id=signal.correlation_id,
        groups=groups_for(signal.asset, signal.strategy, signal.timeframe),
        timestamp=at,
    )


def signal_generated(signal, *, at: datetime | None = None) -> Event:
    """A new signal: its REST representation, to its asset, strategy and timeframe groups."""
    return signal_event(SIGNAL_GENERATED, signal, at=at)


def signal_closed(signal, *, at: datetime | None = None) -> Event:
    """A signal ended (target, stop, expiry or cancel): its REST representation as it ended."""
    return signal_event(SIGNAL_CLOSED, signal, at=at)


def analysis_finished(analysis, *, at: datetime | None = None) -> Event:
    """AnalysisCompleted or AnalysisFailed, from the analysis request's stored outcome."""
    data = {"asset": analysis.asset, "timeframe": analysis.timeframe}
    if analysis.status == AnalysisStatus.COMPLETED:
        event_type, data["signals_generated"] = ANALYSIS_COMPLETED, analysis.signals_generated
    else:
        event_type, data["reason"] = ANALYSIS_FAILED, analysis.error
    return Event(
        event_type,
        data,
        correlation_id=analysis.correlation_id,
        groups=groups_for(analysis.asset),
        timestamp=at,
    )


def health_check(component: str, last_heartbeat: datetime) -> Event:
    """A component's heartbeat, to everyone."""
    data = {"component": component, "last_heartbeat": last_heartbeat.isoformat()}
    return Event(HEALTH_CHECK, data)


def user_group(user_id: int) -> str:
    """The group of one user's connections: events only they should see (their backtests)."""
    return f"user.{user_id}"


def backtest_progress(backtest) -> Event:
    """How far a backtest has got (0 to 1), to the user who asked for it."""
    data = {"id": backtest.pk, "progress": backtest.progress}
    return Event(BACKTEST_PROGRESS, data, groups=[user_group(backtest.requested_by_id)])


def backtest_finished(backtest) -> Event:
    """BacktestCompleted with its metrics, or BacktestFailed with the reason (a cancelled one
    too, with its status), to the user who asked for it."""
    if backtest.status == "completed":
        event_type, data = BACKTEST_COMPLETED, {"id": backtest.pk, "metrics": backtest.metrics}
    else:
        data = {"id": backtest.pk, "error": backtest.error, "status": backtest.status}
        event_type = BACKTEST_FAILED
    return Event(event_type, data, groups=[user_group(backtest.requested_by_id)],
                 timestamp=backtest.finished_at)
