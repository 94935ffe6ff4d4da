"""Production security: `manage.py check --deploy` is clean with production settings from the
environment (HTTPS on by default when DEBUG is off, each part overridable), and a WebSocket
from a page on another port of the same host is refused."""

import secrets

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from botsinais.asgi import application
from tests.conftest import settings_from_environment
from tests.test_settings import start_django

PRODUCTION = {
    "CELERY_BROKER_URL": "amqp://guest:guest@rabbitmq:5672//",
    "DATABASE_URL": "postgres://botsinais@postgres:5432/botsinais",
    "REDIS_URL": "redis://redis:6379/0",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "signals.example.com",
}


def test_check_deploy_is_clean_with_production_settings():
    result = start_django("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_https_can_be_turned_off_for_plain_http_and_a_proxy_header_named():
    # The defaults are the secure values: check --deploy above is clean with them.
    plain = settings_from_environment(
        DJANGO_HTTPS="false", DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto=https", **PRODUCTION
    )
    assert (
        plain.SECURE_SSL_REDIRECT,
        plain.SECURE_HSTS_SECONDS,
        plain.SESSION_COOKIE_SECURE,
        plain.CSRF_COOKIE_SECURE,
        plain.SECURE_PROXY_SSL_HEADER,
    ) == (False, 0, False, False, ("HTTP_X_FORWARDED_PROTO", "https"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "host, origin, accepted",
    [
        (b"127.0.0.1:8000", b"http://127.0.0.1:8000", True),
        (b"127.0.0.1:8000", b"http://127.0.0.1:9000", False),
        (b"127.0.0.1:8000", b"http://127.0.0.1", False),
        (b"127.0.0.1", b"http://127.0.0.1:9000", False),
        (b"localhost", b"https://localhost:443", True),
        (b"localhost", b"https://localhost", True),
        (b"localhost:443", b"http://localhost", False),
    ],
)
def test_websocket_origin_must_name_the_port_connected_to(user, host, origin, accepted):
    token = Token.objects.create(user=user).key

    async def handshake() -> bool:
        headers = [(b"host", host), (b"origin", origin)]
        client = WebsocketCommunicator(application, f"/ws/signals/?token={token}", headers=headers)
        connected, _ = await client.connect()
        if connected:
            await client.disconnect()
        return connected

    assert async_to_sync(handshake)() is accepted
