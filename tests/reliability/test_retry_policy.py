"""Retries only for what is transient, with backoff, jitter and a maximum (embedded)."""

import json

import kombu.exceptions
import pytest
from django import db
from django.core.cache import cache
from werkzeug import Response

import collectors
import strategies
from signals import retries, services
from signals.models import AnalysisRequest, AnalysisStatus

KLINES = "/api/v3/klines"


@pytest.fixture(autouse=True)
def no_cached_candles():
    cache.clear()  # a frame an earlier test cached would spare the upstream call


def pending(asset="BTCUSDT") -> str:
    return str(AnalysisRequest.objects.create(asset=asset, timeframe="5m").correlation_id)


def rate_limited() -> Response:
    body = {"code": -1003, "msg": "Too many requests; current limit is 6000 request weight."}
    return Response(
        json.dumps(body), status=429, content_type="application/json", headers={"Retry-After": "0"}
    )


def unavailable() -> Response:
    # Retry-After 0: the HTTP session's own retries do not sleep in a unit test.
    return Response("Service Unavailable.", status=503, headers={"Retry-After": "0"})


@pytest.mark.parametrize(
    "error",
    [
        collectors.RateLimited("slow down", 3),
        collectors.UpstreamUnavailable("GET answered HTTP 502"),
        db.OperationalError("terminating connection due to administrator command"),
        db.InterfaceError("connection already closed"),
        kombu.exceptions.OperationalError("[Errno 111] Connection refused"),
    ],
)
def test_connection_errors_rate_limits_and_outages_are_transient(error):
    assert retries.is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        collectors.UnknownSymbol("Binance does not list NOPEUSDT"),
        collectors.UnsupportedTimeframe("3m"),
        collectors.MalformedResponse("not JSON"),
        collectors.MissingApiKey("no key"),
        strategies.ParameterError("rsi_period", "must be at least 2"),
        db.IntegrityError("duplicate key"),
        ValueError("a bug"),
    ],
)
def test_refusals_and_bugs_are_not_transient(error):
    assert not retries.is_transient(error)


def test_retry_delay_doubles_up_to_the_maximum():
    def delay(attempt):
        return retries.retry_delay(attempt, base=2, maximum=60, jitter=lambda: 1.0)

    assert [delay(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [2, 4, 8, 16, 32, 60, 60]


def test_retry_delay_jitter_keeps_the_upper_half():
    assert retries.retry_delay(3, base=2, maximum=60, jitter=lambda: 0.0) == 4
    assert retries.retry_delay(3, base=2, maximum=60, jitter=lambda: 0.5) == 6


def test_retry_delay_is_never_shorter_than_the_sources_retry_after():
    assert retries.retry_delay(1, base=2, maximum=60, retry_after=30, jitter=lambda: 1.0) == 30


@pytest.mark.django_db(transaction=True)
def test_rate_limited_analysis_is_retried_then_completes(binance, httpserver):
    # Binance's collector waits out one short Retry-After itself; the second 429 is ours.
    for _ in range(2):
        httpserver.expect_oneshot_request(KLINES).respond_with_response(rate_limited())

    analysis = services.run_analysis(pending())

    assert analysis.status == AnalysisStatus.COMPLETED, analysis.error
    assert analysis.attempts == 2


@pytest.mark.django_db(transaction=True)
def test_upstream_outage_is_retried_then_completes(binance, httpserver):
    for _ in range(4):  # the first answer and the session's three retries
        httpserver.expect_oneshot_request(KLINES).respond_with_response(unavailable())

    analysis = services.run_analysis(pending())

    assert analysis.status == AnalysisStatus.COMPLETED, analysis.error
    assert analysis.attempts == 2


@pytest.mark.django_db(transaction=True)
def test_transient_errors_fail_the_analysis_once_attempts_run_out(binance, httpserver, settings):
    settings.ANALYSIS_MAX_ATTEMPTS = 2
    for _ in range(8):
        httpserver.expect_oneshot_request(KLINES).respond_with_response(unavailable())

    analysis = services.run_analysis(pending())

    assert analysis.status == AnalysisStatus.FAILED
    assert analysis.attempts == 2
    assert analysis.error.startswith("gave up after 2 attempts; last: UpstreamUnavailable: ")
    assert "HTTP 503" in analysis.error


@pytest.mark.django_db(transaction=True)
def test_unknown_symbol_fails_at_once(binance, httpserver):
    analysis = services.run_analysis(pending("DOGEUSDT"))

    assert analysis.status == AnalysisStatus.FAILED
    assert analysis.attempts == 1
    assert "does not list DOGEUSDT" in analysis.error
    assert len(httpserver.log) == 1
