import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botsinais.settings")
# Django must be set up before the consumers (and their models) are imported.
django_wsgi_app = get_wsgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from botsinais import embedded  # noqa: E402
from botsinais.middleware import InFlightLimit  # noqa: E402
from signals import events  # noqa: E402
from signals.routing import websocket_urlpatterns  # noqa: E402
from signals.ws_auth import OriginPortValidator, TokenAuthMiddlewareStack  # noqa: E402

# HTTP runs Django's synchronous handler whole, in one thread of a fixed pool per request.
# Django's ASGI handler ran the same sync views and middleware with a hop between the event
# loop and a new thread at every sync/async boundary (about twenty per request): under load
# the hops, not the work, set the latency (docs/capacity.md, "Where the time went").
application = events.RecordServerLoop(
    ProtocolTypeRouter(
        {
            "http": InFlightLimit(WSGIMiddleware(django_wsgi_app, workers=settings.WEB_THREADS)),
            # The Origin's host must be an allowed host and its port the one connected to.
            "websocket": AllowedHostsOriginValidator(
                OriginPortValidator(TokenAuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
            ),
        }
    )
)

if settings.EMBEDDED_WORKER:
    embedded.start()
