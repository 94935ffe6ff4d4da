"""Realtime events: one envelope, sent to Channels groups after the transaction commits."""

import logging
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

log = logging.getLogger(__name__)

ALL_SIGNALS_GROUP = "signals"


def envelope(event_type: str, data: dict, correlation_id=None) -> dict:
    return {
        "event_id": uuid.uuid4().hex,
        "event_type": event_type,
        "timestamp": timezone.now().isoformat(),
        "correlation_id": str(correlation_id) if correlation_id else None,
        "data": data,
    }


def groups_for(asset: str | None = None, strategy: str | None = None, timeframe: str | None = None):
    groups = [ALL_SIGNALS_GROUP]
    if asset:
        groups.append(f"asset.{asset}")
    if strategy:
        groups.append(f"strategy.{strategy}")
    if timeframe:
        groups.append(f"timeframe.{timeframe}")
    return groups


def send_now(event: dict, groups: list[str]) -> bool:
    """Send to each group. A channel layer that is down is logged, not raised: the row is stored."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        for group in groups:
            async_to_sync(layer.group_send)(group, {"type": "broadcast", "event": event})
    except Exception:
        log.warning("channel layer unavailable; %s not pushed", event["event_type"], exc_info=True)
        return False
    return True


def publish(event_type: str, data: dict, *, correlation_id=None, groups: list[str] | None = None):
    event = envelope(event_type, data, correlation_id)
    transaction.on_commit(lambda: send_now(event, groups or [ALL_SIGNALS_GROUP]))
    return event
