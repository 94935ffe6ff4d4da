from django.urls import path

from signals.consumers import SignalConsumer

websocket_urlpatterns = [path("ws/signals/", SignalConsumer.as_asgi())]
