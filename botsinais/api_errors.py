"""The API answers every error as JSON, in every mode (DEBUG on or off), for every input.

DRF answers what reaches its views: {"<field>": ["<reason>"]} for bad input and
{"detail": "<reason>"} otherwise. What it never sees is answered here, once for every endpoint:
- ApiErrorsMiddleware: a body over DATA_UPLOAD_MAX_MEMORY_SIZE gets 413 before anything reads
  it; an error page Django renders for an /api/ path (no such URL, an unhandled exception)
  becomes {"detail": "<reason>"} with the same status.
- JSONParser: JSON nested deeper than MAX_JSON_DEPTH is a 400 (Python's own parser gives up
  with a RecursionError, a 500, near 1,000 levels).
Every reason is in the request's language (Accept-Language or the language cookie), as DRF's are.
"""

from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.response import Response

API_PREFIX = "/api/"
MAX_JSON_DEPTH = 32
ERROR_DETAILS = {
    400: gettext_lazy("Bad request."),
    404: gettext_lazy("Not found."),
    405: gettext_lazy("Method not allowed."),
    500: gettext_lazy("Internal server error; it has been logged."),
}


def error_response(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": str(detail)}, status=status)


def body_too_large(request: HttpRequest) -> JsonResponse | None:
    """A 413 (or a 400 for a Content-Length that is not a number) before the body is read."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    declared = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(declared)
    except ValueError:
        return error_response(400, _("Content-Length %(declared)r is not a number.")
                              % {"declared": declared})
    if limit is not None and length > limit:
        return error_response(413, _("Request body too large: at most %(limit)s bytes.")
                              % {"limit": limit})
    return None


class ApiErrorsMiddleware:
    """First in MIDDLEWARE, so it sees every response of an /api/ path."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        # Active before LocaleMiddleware runs, so answers given here are in the client's language.
        with translation.override(translation.get_language_from_request(request)):
            return self.answer(request)

    def answer(self, request: HttpRequest) -> HttpResponse:
        refused = body_too_large(request)
        if refused is not None:
            return refused
        response = self.get_response(request)
        if response.status_code < 400 or isinstance(response, Response):
            return response  # DRF already answered in the format the client negotiated
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        detail = ERROR_DETAILS.get(response.status_code) or HTTPStatus(response.status_code).phrase
        replaced = error_response(response.status_code, detail)
        for header in ("Allow", "Retry-After"):
            if header in response:
                replaced[header] = response[header]
        return replaced


def nesting_exceeds(data, limit: int) -> bool:
    """Whether lists and objects in data nest deeper than limit (no recursion, any depth)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing deep nesting with a 400 instead of a RecursionError."""

    def parse(self, stream, media_type=None, parser_context=None):
        too_deep = ParseError(_("JSON parse error - nested deeper than %(depth)s levels.")
                              % {"depth": MAX_JSON_DEPTH})
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if nesting_exceeds(data, MAX_JSON_DEPTH):
            raise too_deep
        return data
