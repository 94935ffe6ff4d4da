from django.urls import path

from signals.consumers import SignalConsumer

SIGNALS_WS_PATH = "ws/signals/"

websocket_urlpatterns = [path(SIGNALS_WS_PATH, SignalConsumer.as_asgi())]
