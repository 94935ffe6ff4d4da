"""Load beyond what the database can serve is answered 503 with Retry-After, never 500."""

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
        retry_after = settings.DATABASE_BUSY_RETRY_AFTER
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
