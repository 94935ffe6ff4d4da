"""HTTP through the deployed ASGI application: Django's synchronous handler runs whole in a
thread of the web process's pool (botsinais/asgi.py), with the request body, the headers and
the answer passing through intact, and the event loop never running a view."""

import json
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from rest_framework.authtoken.models import Token

from botsinais.asgi import application
from signals.models import AnalysisRequest, AnalysisStatus

pytestmark = pytest.mark.django_db(transaction=True)


def asgi_request(method: str, path: str, body: bytes = b"", headers=()) -> dict:
    # As an HTTP server passes them on; a WSGI app reads the body by its Content-Length.
    headers = [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode()), *headers]
    communicator = HttpCommunicator(application, method, path, body=body, headers=headers)
    return async_to_sync(communicator.get_response)(10)


def test_request_analysis_over_asgi_is_accepted_and_stored(user, monkeypatch):
    threads = []
    monkeypatch.setattr(
        "signals.services.dispatch_analysis", lambda cid: threads.append(threading.current_thread())
    )
    token = Token.objects.create(user=user).key
    response = asgi_request(
        "POST", "/api/signals/request-analysis/",
        body=json.dumps({"asset": "btcusdt", "timeframe": "5m"}).encode(),
        headers=[(b"content-type", b"application/json"),
                 (b"authorization", f"Token {token}".encode())],
    )  # fmt: skip
    assert response["status"] == 202, response["body"]
    answer = json.loads(response["body"])
    stored = AnalysisRequest.objects.get(correlation_id=answer["correlation_id"])
    assert (stored.asset, stored.status, stored.requested_by) == (
        "BTCUSDT", AnalysisStatus.PENDING, user,
    )  # fmt: skip
    assert answer["status_url"].startswith("http://127.0.0.1/api/")
    # Published once the row was stored, from the request's pool thread.
    assert [thread.name.startswith("WSGI") for thread in threads] == [True]


def test_a_bad_body_over_asgi_is_a_json_400_naming_the_field(user):
    token = Token.objects.create(user=user).key
    response = asgi_request(
        "POST", "/api/signals/request-analysis/",
        body=json.dumps({"asset": "btcusdt", "timeframe": "7m"}).encode(),
        headers=[(b"content-type", b"application/json"),
                 (b"authorization", f"Token {token}".encode())],
    )  # fmt: skip
    assert response["status"] == 400
    assert "timeframe" in json.loads(response["body"])
    assert not AnalysisRequest.objects.exists()


def test_an_oversized_body_over_asgi_is_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = asgi_request(
        "POST", "/api/auth/token/", body=b"{" + b" " * 4096 + b"}",
        headers=[(b"content-type", b"application/json")],
    )  # fmt: skip
    assert response["status"] == 413
    assert json.loads(response["body"])["detail"]
