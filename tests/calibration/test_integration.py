"""A retrain asked over the API runs on the real Celery worker, taken from the models queue, on
the real PostgreSQL: the version it stores says why it was activated or rejected."""

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from calibration.models import ModelVersion
from market import store
from signals.models import Watchlist
from tests.calibration.test_retrain import random_walk_candles
from tests.conftest import ARTIFACTS, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_staff_retrain_runs_on_a_real_worker_from_the_models_queue(celery_worker_process,
                                                                     staff_user):
    # The worker runs in live mode: its history is the stored live candles of the watchlist.
    store.insert_candles(random_walk_candles(8_000, seed=12), source="live", asset="BTCUSDT",
                         timeframe="1h", provider="binance")
    Watchlist.objects.create(asset="BTCUSDT", timeframe="1h")
    client = APIClient()
    client.force_authenticate(staff_user)

    response = client.post("/api/models/retrain/", {"force": True}, format="json")
    assert response.status_code == 202, response.content
    version = wait_until(lambda: ModelVersion.objects.first(), timeout=120)

    assert version.requested_by == staff_user
    assert version.counts["signals"] >= 300 and version.metrics["model"]["count"] > 0
    assert version.status in ("active", "rejected")
    assert version.reason.startswith("activated" if version.status == "active" else "rejected")
    log = (ARTIFACTS / "celery-worker.log").read_text()
    assert "calibration.tasks.retrain_model" in log
    assert settings.TASK_QUEUE_NAMES["models"] in log  # the worker consumes the models queue
