import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botsinais.settings")
# Django must be set up before the consumers (and their models) are imported.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from signals.routing import websocket_urlpatterns  # noqa: E402
from signals.ws_auth import OriginPortValidator, TokenAuthMiddlewareStack  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The Origin's host must be an allowed host and its port the one connected to.
        "websocket": AllowedHostsOriginValidator(
            OriginPortValidator(TokenAuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
