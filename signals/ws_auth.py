"""WebSocket authentication: the session cookie (browsers) or an API token (other clients).

A token comes as ?token=<key> or, for clients that can set headers (keeping the key out of
proxy logs), as "Authorization: Token <key>". A token given but not valid means anonymous,
even with a session cookie: the consumer then refuses the handshake.
"""

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser


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
