import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botsinais.settings")
# Django must be set up before the consumers (and their models) are imported.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from botsinais import embedded  # noqa: E402
from botsinais.middleware import InFlightLimit  # noqa: E402
from signals import events  # noqa: E402
from signals.routing import websocket_urlpatterns  # noqa: E402
from signals.ws_auth import OriginPortValidator, TokenAuthMiddlewareStack  # noqa: E402

application = events.RecordServerLoop(
    ProtocolTypeRouter(
        {
            "http": InFlightLimit(django_asgi_app),
            # The Origin's host must be an allowed host and its port the one connected to.
            "websocket": AllowedHostsOriginValidator(
                OriginPortValidator(TokenAuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
            ),
        }
    )
)

if settings.EMBEDDED_WORKER:
    embedded.start()
