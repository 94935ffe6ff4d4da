"""Rate limits (DRF throttles) kept in the default cache: Redis on the full stack, so every web
process counts against the same limit. Rates come from settings (THROTTLE_* variables).

A view opts in with `throttle_scope = "<scope>"`; the scopes are the keys of
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]. An exceeded limit is a 429 with Retry-After.
"""

import hashlib

from rest_framework import throttling
from rest_framework.settings import api_settings


class SettingsRatesMixin:
    # DRF copies the rates once, at import; reading them per request lets a settings change
    # (a test's, for one) take effect.
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


class ScopedRateThrottle(SettingsRatesMixin, throttling.ScopedRateThrottle):
    """The view's throttle_scope, per user (per client address for anonymous requests)."""


class LoginRateThrottle(SettingsRatesMixin, throttling.SimpleRateThrottle):
    """Password guesses at /api/auth/token/, counted per client address and username."""

    scope = "login"

    def get_cache_key(self, request, view):
        username = request.data.get("username") if hasattr(request.data, "get") else None
        # Hashed: a username may be long or hold characters a cache key must not.
        digest = hashlib.sha256(str(username or "").strip().lower().encode()).hexdigest()[:32]
        ident = f"{self.get_ident(request)}:{digest}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
