"""GET /api/models/, POST /api/models/retrain/ (staff, 202, throttled, errors as JSON) and the
live reliability of the performance endpoint against a hand computation."""

from datetime import timedelta

import kombu.exceptions
import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from calibration import tasks
from calibration.models import ModelVersion
from tests.conftest import make_signal

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


def test_versions_are_listed_with_their_decision_and_held_out_metrics(active_version,
                                                                       api_client):
    page = api_client.get("/api/models/").json()
    assert page["count"] == 1
    listed = page["results"][0]
    assert listed["id"] == active_version.pk and listed["status"] == "active"
    assert listed["reason"].startswith("activated")
    assert listed["metrics"]["model"]["ece"] == pytest.approx(active_version.held_out_ece)
    assert len(listed["metrics"]["model"]["reliability"]) == 10
    assert {"base_rate", "heuristic", "bootstrap", "selection"} <= set(listed["metrics"])
    assert "model_blob" not in listed
    detail = api_client.get(f"/api/models/{active_version.pk}/")
    assert detail.status_code == 200 and detail.json() == listed
    assert api_client.get("/api/models/?status=rejected").json()["count"] == 0


def test_a_version_without_a_model_shows_null_metrics(api_client):
    ModelVersion.objects.create(status="rejected", reason="too few labelled signals: 3",
                                data_hash="0" * 64)
    assert api_client.get("/api/models/").json()["results"][0]["metrics"] is None


def test_retrain_is_refused_to_non_staff(api_client, anon_client):
    response = api_client.post("/api/models/retrain/", {}, format="json")
    assert response.status_code == 403 and "detail" in response.json()
    assert anon_client.post("/api/models/retrain/", {}, format="json").status_code == 403
    assert not ModelVersion.objects.exists()


def test_staff_retrain_is_accepted_and_runs_on_its_task(staff_client, staff_user):
    response = staff_client.post("/api/models/retrain/", {"force": True}, format="json")
    assert response.status_code == 202, response.content
    assert response.json() == {"detail": "retrain queued", "versions_url": "/api/models/"}
    # Tests run tasks eagerly: the retrain ran, on no stored history.
    version = ModelVersion.objects.get()
    assert version.requested_by == staff_user and version.status == "rejected"
    assert version.reason.startswith("too few labelled signals")


@pytest.mark.parametrize("body", [{"force": "maybe"}, {"force": [1]}])
def test_bad_retrain_input_is_a_json_400_naming_the_field(staff_client, body):
    response = staff_client.post("/api/models/retrain/", body, format="json")
    assert response.status_code == 400
    assert "force" in response.json()


def test_malformed_json_is_a_400_not_a_500(staff_client):
    response = staff_client.post("/api/models/retrain/", "{force", content_type="application/json")
    assert response.status_code == 400 and "detail" in response.json()


def test_a_retrain_the_broker_does_not_take_is_a_503_with_the_reason(staff_client, monkeypatch):
    def refuse(*args, **kwargs):
        raise kombu.exceptions.OperationalError("connection refused")

    monkeypatch.setattr(tasks.retrain_model, "apply_async", refuse)
    response = staff_client.post("/api/models/retrain/", {}, format="json")
    assert response.status_code == 503
    assert "the task queue did not take it" in response.json()["detail"]


def test_retrain_requests_beyond_the_rate_are_429(staff_client, settings):
    rest = settings.REST_FRAMEWORK
    settings.REST_FRAMEWORK = {**rest, "DEFAULT_THROTTLE_RATES": {
        **rest["DEFAULT_THROTTLE_RATES"], "retrain": "1/hour"}}
    cache.clear()
    assert staff_client.post("/api/models/retrain/", {}, format="json").status_code == 202
    throttled = staff_client.post("/api/models/retrain/", {}, format="json")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert staff_client.get("/api/models/").status_code == 200  # reading is not throttled


def test_live_reliability_matches_a_hand_computation(active_version, api_client):
    now = timezone.now()
    ended = [(0.15, "win"), (0.12, "loss"), (0.18, "loss"), (0.62, "win"), (0.68, "loss"),
             (0.91, "win")]
    for probability, result in ended:
        make_signal(probability=probability, model_version=active_version, status="closed",
                    result=result, pnl=1.0 if result == "win" else -1.0, r_multiple=1.0,
                    closed_at=now - timedelta(minutes=1))
    make_signal(probability=0.5, model_version=active_version)  # still open: not counted
    make_signal(status="closed", result="win", pnl=1.0, closed_at=now)  # no probability
    make_signal(probability=0.3, model_version=active_version, status="expired", result="none",
                pnl=-0.1, closed_at=now)  # an expiry did not reach the target
    live = api_client.get("/api/signals/performance/").json()["calibration"]

    assert live["ended_signals"] == 7
    bins = live["reliability"]
    assert [row["count"] for row in bins] == [0, 3, 0, 1, 0, 0, 2, 0, 0, 1]
    assert bins[1]["mean_probability"] == pytest.approx((0.15 + 0.12 + 0.18) / 3)
    assert bins[1]["observed_rate"] == pytest.approx(1 / 3)
    assert bins[1]["brier"] == pytest.approx((0.85**2 + 0.12**2 + 0.18**2) / 3)
    assert bins[3] == {"lower": 0.3, "upper": 0.4, "count": 1, "mean_probability": 0.3,
                       "observed_rate": 0.0, "brier": pytest.approx(0.09)}
    assert bins[6]["observed_rate"] == 0.5 and bins[9]["observed_rate"] == 1.0
    squared = [0.85**2, 0.12**2, 0.18**2, 0.38**2, 0.68**2, 0.09**2, 0.3**2]
    assert live["brier"] == pytest.approx(sum(squared) / 7)
    # ECE: (3 * |0.15 - 1/3| + 1 * 0.3 + 2 * |0.65 - 0.5| + 1 * 0.09) / 7
    assert live["ece"] == pytest.approx((3 * abs(0.15 - 1 / 3) + 0.3 + 2 * 0.15 + 0.09) / 7)


def test_live_reliability_without_probabilities_is_empty_not_an_error(api_client):
    make_signal(status="closed", result="win", pnl=1.0, closed_at=timezone.now())
    live = api_client.get("/api/signals/performance/").json()["calibration"]
    assert live["ended_signals"] == 0 and live["brier"] is None and live["ece"] is None
    assert all(row["count"] == 0 for row in live["reliability"])
