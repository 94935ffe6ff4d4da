"""The live signal feed at /ws/signals/.

Each connection is in group user.<id> too, for its user's own events (backtests).
Client messages: {"action": "join" | "leave", "group": "asset.BTCUSDT"} and
{"action": "since", "after": "<ISO 8601>"}. Every server message is an envelope
{"event_id", "event_type", "timestamp", "correlation_id", "data"}: the events of
signals.events, plus replies with lower-case types: joined, left, caught_up, error. An error's
words are in the connection's language (the language cookie, else Accept-Language), as the
REST API's are.
"""

import asyncio
import re
from collections import deque
from datetime import datetime
from types import SimpleNamespace

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from signals import events, validation
from signals.models import AnalysisRequest, AnalysisStatus, Signal
from signals.timestamps import parse_timestamp

# Strategy group names are syntax-checked (a strategy registered later may be joined early);
# assets and timeframes follow signals.validation's rules.
STRATEGY_GROUP_NAME = re.compile(r"[a-z0-9_]{1,50}")
GROUP_USAGE = gettext_lazy(
    "use 'signals', 'asset.<SYMBOL>' (asset.BTCUSDT), 'strategy.<name>' "
    "(strategy.mean_reversion) or 'timeframe.<tf>' (timeframe.5m)"
)
MAX_GROUPS = 50
CATCH_UP_LIMIT = 500


def group_error(group) -> str | None:
    """Why a group name is not one a client may join; None when it is."""
    if group == events.ALL_SIGNALS_GROUP:
        return None
    kind, _sep, name = group.partition(".") if isinstance(group, str) else ("", "", "")
    try:
        if kind == "asset":
            validation.asset(name, normalise=False)  # group names are canonical symbols
        elif kind == "timeframe":
            validation.timeframe(name)
        elif not (kind == "strategy" and STRATEGY_GROUP_NAME.fullmatch(name)):
            raise ValidationError(GROUP_USAGE)
    except ValidationError as exc:
        reason = " ".join(exc.messages)
        return _("invalid group %(group)r: %(reason)s") % {"group": group, "reason": reason}
    return None


def connection_language(scope) -> str:
    """The language LocaleMiddleware would pick for a request with this handshake's headers."""
    headers = dict(scope.get("headers", ()))
    handshake = SimpleNamespace(
        COOKIES=scope.get("cookies", {}),
        META={"HTTP_ACCEPT_LANGUAGE": headers.get(b"accept-language", b"").decode("latin-1")},
    )
    return translation.get_language_from_request(handshake)


def subscription_filters(groups: set[str]) -> tuple[Q, Q] | None:
    """(signal filter, analysis filter) matching the events these groups receive; None: all."""
    if events.ALL_SIGNALS_GROUP in groups:
        return None
    by_kind: dict[str, set[str]] = {"asset": set(), "strategy": set(), "timeframe": set()}
    for group in groups:
        kind, _, name = group.partition(".")
        by_kind[kind].add(name)
    nothing = Q(pk__in=[])
    signals = (
        Q(asset__in=by_kind["asset"])
        | Q(strategy__in=by_kind["strategy"])
        | Q(timeframe__in=by_kind["timeframe"])
        | nothing
    )
    # Analysis events go to the signals and asset groups only (events.groups_for(asset)).
    analyses = Q(asset__in=by_kind["asset"]) | nothing
    return signals, analyses


@database_sync_to_async
def missed_events(after: datetime, groups: set[str]) -> tuple[list[dict], bool]:
    """The events a client in these groups would have received after a moment, oldest first,
    rebuilt from the stored rows (data as it is now); and whether the list was cut short."""
    signals = Signal.objects.all()
    analyses = AnalysisRequest.objects.filter(
        status__in=[AnalysisStatus.COMPLETED, AnalysisStatus.FAILED]
    )
    filters = subscription_filters(groups)
    if filters is not None:
        signals, analyses = signals.filter(filters[0]), analyses.filter(filters[1])
    # One more than the limit of each kind: more than the limit in all means cut short.
    most = CATCH_UP_LIMIT + 1
    created = signals.filter(created_at__gt=after).order_by("created_at")[:most]
    closed = signals.filter(closed_at__gt=after).order_by("closed_at")[:most]
    finished = analyses.filter(finished_at__gt=after).order_by("finished_at")[:most]

    found = [events.signal_generated(signal, at=signal.created_at) for signal in created]
    found += [events.signal_closed(signal, at=signal.closed_at) for signal in closed]
    found += [events.analysis_finished(analysis, at=analysis.finished_at) for analysis in finished]
    found = [event.envelope() for event in found]
    found.sort(key=lambda event: event["timestamp"])
    return found[:CATCH_UP_LIMIT], len(found) > CATCH_UP_LIMIT


class SignalConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept(): the handshake is refused
            return
        self.joined: set[str] = set()
        self.language = connection_language(self.scope)
        # An event sent to several groups this client joined arrives once per group.
        self.recent_event_ids: deque[str] = deque(maxlen=256)
        await self.channel_layer.group_add(events.ALL_SIGNALS_GROUP, self.channel_name)
        self.joined.add(events.ALL_SIGNALS_GROUP)
        # The user's own events (their backtests); not a group a client joins or leaves.
        self.personal_group = events.user_group(user.pk)
        await self.channel_layer.group_add(self.personal_group, self.channel_name)
        if hasattr(self.channel_layer, "group_expiry"):  # core layer; pub/sub forgets none
            self.refresher = asyncio.create_task(self.keep_groups_alive())
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "refresher"):
            self.refresher.cancel()
        for group in [*getattr(self, "joined", ()), getattr(self, "personal_group", None)]:
            if group:
                await self.channel_layer.group_discard(group, self.channel_name)

    async def keep_groups_alive(self):
        # The layer forgets a member after its group_expiry: a dashboard left open longer would
        # silently stop receiving, so it joins its groups again well before that.
        while True:
            await asyncio.sleep(self.channel_layer.group_expiry / 3)
            for group in [*self.joined, self.personal_group]:
                await self.channel_layer.group_add(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        with translation.override(self.language):
            try:
                content = await self.decode_json(text_data or "")
            except ValueError:
                return await self.reply("error", {"error": _("messages must be JSON objects")})
            await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        action = content.get("action") if isinstance(content, dict) else None
        if action == "join":
            await self.join(content.get("group"))
        elif action == "leave":
            await self.leave(content.get("group"))
        elif action == "since":
            await self.catch_up(content.get("after"))
        else:
            error = _("unknown action %(action)r: use join, leave or since") % {"action": action}
            await self.reply("error", {"error": error})

    async def join(self, group):
        error = group_error(group)
        if error is None and group not in self.joined and len(self.joined) >= MAX_GROUPS:
            error = _("too many groups: at most %(count)s per connection") % {"count": MAX_GROUPS}
        if error:
            return await self.reply("error", {"error": error, "group": group})
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.add(group)
        await self.reply("joined", {"group": group, "groups": sorted(self.joined)})

    async def leave(self, group):
        error = group_error(group)
        if error:
            return await self.reply("error", {"error": error, "group": group})
        await self.channel_layer.group_discard(group, self.channel_name)
        self.joined.discard(group)
        await self.reply("left", {"group": group, "groups": sorted(self.joined)})

    async def catch_up(self, after):
        try:
            moment = parse_timestamp(after)
        except ValueError as exc:
            return await self.reply("error", {"error": f"'after': {exc}", "field": "after"})
        missed, truncated = await missed_events(moment, set(self.joined))
        for event in missed:
            await self.send_json(event)
        # Cut short: the client reloads from the REST list (created_after) instead.
        await self.reply(
            "caught_up", {"after": moment.isoformat(), "count": len(missed), "truncated": truncated}
        )

    async def reply(self, event_type: str, data: dict):
        await self.send_json(events.envelope(event_type, data))

    async def dispatch(self, message):
        # An event from the layer touches no database: Channels' dispatch would first close old
        # connections in the one sync thread, a hop that every client's every event queued
        # behind (the fan-out's cost per client, docs/capacity.md). Client messages keep it.
        if message["type"] == "broadcast":
            return await self.broadcast(message)
        return await super().dispatch(message)

    async def broadcast(self, message):
        """A signals.events event from the channel layer, forwarded once per connection."""
        if message["event_id"] in self.recent_event_ids:
            return
        self.recent_event_ids.append(message["event_id"])
        await self.send(text_data=message["text"])
