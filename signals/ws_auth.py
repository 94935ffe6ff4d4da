"""WebSocket authentication: the session cookie (browsers) or an API token (other clients).

A token comes as ?token=<key> or, for clients that can set headers (keeping the key out of
proxy logs), as "Authorization: Token <key>". A token given but not valid means anonymous,
even with a session cookie: the consumer then refuses the handshake.
"""

from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.contrib.auth.models import AnonymousUser

DEFAULT_PORTS = {"http": 80, "https": 443}


@database_sync_to_async
def user_for_token(key: str):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return AnonymousUser()
    return token.user


def token_from(scope) -> str | None:
    tokens = parse_qs(scope.get("query_string", b"").decode()).get("token")
    if tokens:
        return tokens[0]
    header = dict(scope.get("headers", ())).get(b"authorization", b"").decode()
    scheme, _, key = header.partition(" ")
    return key.strip() if scheme == "Token" and key.strip() else None


class TokenAuthMiddleware:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        key = token_from(scope)
        if key is not None:
            scope = dict(scope, user=await user_for_token(key))
        return await self.inner(scope, receive, send)


def TokenAuthMiddlewareStack(inner):  # noqa: N802 - named like Channels' AuthMiddlewareStack
    return AuthMiddlewareStack(TokenAuthMiddleware(inner))


def origin_port_matches(scope) -> bool:
    """Whether the Origin names the port the client connected to (the Host header's).

    AllowedHostsOriginValidator compares host names only, so a page served on another port of
    the same host would pass it.
    """
    headers = dict(scope.get("headers", ()))
    origin, host = headers.get(b"origin"), headers.get(b"host")
    if origin is None:
        return False
    if host is None:
        return True  # only browsers honour Origin, and browsers always send Host
    try:
        parsed = urlsplit(origin.decode("latin1"))
        default = DEFAULT_PORTS.get(parsed.scheme)
        origin_port = parsed.port or default
        host_port = urlsplit("//" + host.decode("latin1")).port or default
    except ValueError:  # a port that is not a number or out of range
        return False
    return origin_port is not None and origin_port == host_port


class OriginPortValidator:
    """Refuses the handshake of a WebSocket whose Origin is on another port than it connects to."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if not origin_port_matches(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
