"""Load beyond what the web process or the database can serve is answered 503 with
Retry-After, never 500 and never after a long wait."""

import json
import logging

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)


class DatabaseBusyMiddleware:
    """A view that could not use the database (no pooled connection free within
    DATABASE_POOL_TIMEOUT, the server refusing connections or gone) answers 503.

    The client may retry: nothing was accepted. A request is only answered 202 after its row
    is committed, so a 503 here never hides an accepted request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError):
            return None
        # The cause names why: psycopg_pool.PoolTimeout / TooManyRequests, or the server's words.
        cause = exception.__cause__ or exception
        logger.warning("database busy: %s %s: %s", request.method, request.path, cause)
        retry_after = settings.BUSY_RETRY_AFTER
        detail = "The database is busy; retry later."
        if request.path.startswith("/api/"):
            response = JsonResponse(
                {"detail": detail, "code": "database_busy", "retry_after": retry_after},
                status=503,
            )
        else:
            response = HttpResponse(detail, status=503, content_type="text/plain")
        response["Retry-After"] = str(retry_after)
        return response


class InFlightLimit:
    """ASGI wrapper: at most WEB_MAX_IN_FLIGHT HTTP requests in this process at once; the next
    is answered 503 with Retry-After at once, on the event loop.

    Without it every request beyond capacity got a thread of its own and queued, inside the
    process, for a database connection and the GIL: latency grew to tens of seconds before any
    refusal. The health check is exempt so that probes see the truth under load.
    """

    exempt_paths = ("/api/health/",)

    def __init__(self, app, limit: int | None = None):
        self.app = app
        self.limit = limit
        self.in_flight = 0  # one event loop per process: no lock needed

    async def __call__(self, scope, receive, send) -> None:
        limit = self.limit if self.limit is not None else settings.WEB_MAX_IN_FLIGHT
        if scope["type"] != "http" or not limit or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= limit:
            await self.refuse(scope["path"], send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    @staticmethod
    async def refuse(path: str, send) -> None:
        retry_after = settings.BUSY_RETRY_AFTER
        detail = "The server is busy; retry later."
        if path.startswith("/api/"):
            body = json.dumps({"detail": detail, "code": "server_busy", "retry_after": retry_after})
            content_type = b"application/json"
        else:
            body, content_type = detail, b"text/plain; charset=utf-8"
        body = body.encode()
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry_after).encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
