"""The full stack: PostgreSQL, RabbitMQ and Redis with a real Celery worker process."""

import pytest

from signals import health
from signals.models import AnalysisRequest, Signal
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack_binance(binance, celery_worker_process):
    """The worker reads klines from the same local Binance stand-in as this process."""
    return binance


@pytest.fixture
def worker_alive():
    # As beat has a worker do every 30 s: without one, a worker is down once this process has
    # run longer than WORKER_HEARTBEAT_MAX_AGE.
    health.record_heartbeat()


def test_health_reports_every_real_part_up(anon_client, worker_alive):
    response = anon_client.get("/api/health/")
    assert response.status_code == 200, response.json()
    components = response.json()["components"]
    assert components["database"]["vendor"] == "postgresql"
    for name in ("broker", "cache", "channel_layer"):
        assert components[name]["status"] == "up"
        assert "mode" not in components[name]


def test_health_names_a_broker_that_is_down(anon_client, settings, worker_alive):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    response = anon_client.get("/api/health/")
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]


def test_request_analysis_is_processed_by_the_worker(api_client, stack_binance):
    response = api_client.post(
        "/api/signals/request-analysis/", {"asset": "BTCUSDT"}, format="json"
    )
    assert response.status_code == 202
    correlation_id = response.json()["correlation_id"]

    def finished():
        analysis = AnalysisRequest.objects.get(correlation_id=correlation_id)
        return analysis if analysis.is_finished else None

    analysis = wait_until(finished, timeout=60)
    assert analysis.status == "completed", analysis.error
    assert analysis.signals_generated >= 1
    assert (
        Signal.objects.filter(correlation_id=correlation_id).count() == analysis.signals_generated
    )
    body = api_client.get(response.json()["status_url"]).json()
    assert body["status"] == "completed"

    # Close one signal as the lifecycle would, and the performance figures follow.
    signal = Signal.objects.filter(correlation_id=correlation_id).first()
    Signal.objects.filter(pk=signal.pk).update(status="closed", result="win", pnl=2.5)
    performance = api_client.get("/api/signals/performance/").json()
    assert performance["winning_signals"] == 1
    assert performance["expectancy_percent"] == pytest.approx(2.5)


def test_failed_analysis_on_the_worker_is_recorded(api_client, stack_binance):
    response = api_client.post(
        "/api/signals/request-analysis/", {"asset": "DOGEUSDT"}, format="json"
    )
    correlation_id = response.json()["correlation_id"]
    analysis = wait_until(
        lambda: AnalysisRequest.objects.filter(
            correlation_id=correlation_id, status="failed"
        ).first()
    )
    assert "symbol" in analysis.error.lower()
