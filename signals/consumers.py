"""The live signal feed: the seed's SignalR hub as a Channels consumer."""

import re
from collections import deque

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils.dateparse import parse_datetime

from signals import events
from signals.models import Signal

GROUP_PATTERN = re.compile(
    r"signals|asset\.[A-Z0-9.\-]{1,20}|strategy\.[a-z0-9_]{1,50}|timeframe\.[0-9]{1,2}[mhdwM]"
)
CATCH_UP_LIMIT = 500


@database_sync_to_async
def missed_events(after) -> list[dict]:
    """Signals created or closed after a moment, as the events a live client would have seen."""
    from signals.api.serializers import SignalSerializer

    created = Signal.objects.filter(created_at__gt=after).order_by("created_at")[:CATCH_UP_LIMIT]
    closed = Signal.objects.filter(closed_at__gt=after).order_by("closed_at")[:CATCH_UP_LIMIT]
    found = [
        events.envelope("SignalGenerated", SignalSerializer(s).data, s.correlation_id)
        for s in created
    ]
    found += [
        events.envelope("SignalClosed", SignalSerializer(s).data, s.correlation_id) for s in closed
    ]
    return found


class SignalConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept(): the handshake is refused
            return
        self.joined: set[str] = set()
        # An event sent to several groups this client joined arrives once per group.
        self.recent_event_ids: deque[str] = deque(maxlen=256)
        await self.join(events.ALL_SIGNALS_GROUP)
        await self.accept()

    async def disconnect(self, code):
        for group in list(getattr(self, "joined", ())):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def join(self, group: str):
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.add(group)

    async def receive_json(self, content, **kwargs):
        action = content.get("action") if isinstance(content, dict) else None
        if action in ("join", "leave"):
            group = content.get("group")
            if not isinstance(group, str) or not GROUP_PATTERN.fullmatch(group):
                return await self.send_error(f"invalid group: {group!r}")
            if action == "join":
                await self.join(group)
            else:
                await self.channel_layer.group_discard(group, self.channel_name)
                self.joined.discard(group)
            return await self.send_json({"event_type": action + "ed", "group": group})
        if action == "since":
            after = parse_datetime(str(content.get("after", "")))
            if after is None:
                return await self.send_error("'after' must be an ISO 8601 timestamp")
            for event in await missed_events(after):
                await self.send_json(event)
            return await self.send_json({"event_type": "caught_up", "after": after.isoformat()})
        await self.send_error(f"unknown action: {action!r} (use join, leave or since)")

    async def send_error(self, message: str):
        await self.send_json({"event_type": "error", "error": message})

    async def broadcast(self, message):
        event = message["event"]
        if event["event_id"] in self.recent_event_ids:
            return
        self.recent_event_ids.append(event["event_id"])
        await self.send_json(event)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            content = await self.decode_json(text_data or "")
        except ValueError:
            return await self.send_error("messages must be JSON objects")
        await self.receive_json(content)
