"""The OpenAPI schema documents the errors every endpoint can answer, in one place.

drf-spectacular documents the success responses; which errors an operation can give follows
from what it takes and how it is guarded, so they are added here rather than on each view:
400 (bad input), 413 (body too large), 403 (not authenticated or not allowed), 404 (no such
object or page) and 429 (throttled, with Retry-After). botsinais/api_errors.py makes each one
JSON.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from botsinais.throttling import ScopedRateThrottle


class ErrorSerializer(serializers.Serializer):
    """An error: {"detail": "<reason>"}, or for bad input {"<field>": ["<reason>", ...]}."""

    detail = serializers.CharField(required=False, help_text="Why, when no one field is to blame.")


ERROR_DESCRIPTIONS = {
    "400": "Bad input: each field at fault with its reasons, or a detail.",
    "403": "Not authenticated, or not allowed to do this.",
    "404": "No such object, or no such page of results.",
    "413": "The request body is larger than the server accepts.",
    "429": "Too many requests: wait as many seconds as Retry-After says.",
}


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is not None:
            for code in self.error_codes(operation):
                operation["responses"].setdefault(code, self.error_response(code))
        return operation

    def error_codes(self, operation: dict) -> list[str]:
        parameters = operation.get("parameters", [])
        takes_body = "requestBody" in operation
        codes = []
        if takes_body or any(p["in"] == "query" for p in parameters):
            codes.append("400")
        if takes_body:
            codes.append("413")
        # A token that is not valid is refused wherever authentication runs, public or not.
        public = all(isinstance(p, AllowAny) for p in self.view.get_permissions())
        if self.view.get_authenticators() or not public:
            codes.append("403")
        if any(p["in"] == "path" or p["name"] == "page" for p in parameters):
            codes.append("404")
        if self.throttled():
            codes.append("429")
        return sorted(codes)

    def throttled(self) -> bool:
        # The scoped throttle applies only to views that name a scope.
        scoped = getattr(self.view, "throttle_scope", None)
        return any(
            scoped or not isinstance(throttle, ScopedRateThrottle)
            for throttle in self.view.get_throttles()
        )

    def error_response(self, code: str) -> dict:
        component = self.resolve_serializer(ErrorSerializer(), "response")
        response = {
            "description": ERROR_DESCRIPTIONS[code],
            "content": {"application/json": {"schema": component.ref}},
        }
        if code == "429":
            response["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
            }
        return response
