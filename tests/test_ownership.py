"""Analysis requests belong to who made them: a user lists and reads only their own, staff see
all, another user's is a 404 (no hint that it exists). Signals stay shared."""

import pytest
from rest_framework.test import APIClient

from signals.models import AnalysisRequest, AnalysisSource
from tests.conftest import make_signal

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("rival", password="s3cret-pass")


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def analysis_of(user, asset: str) -> AnalysisRequest:
    return AnalysisRequest.objects.create(asset=asset, timeframe="5m", requested_by=user)


def listed_assets(client) -> list[str]:
    response = client.get("/api/analyses/")
    assert response.status_code == 200
    return sorted(a["asset"] for a in response.json()["results"])


def test_a_user_lists_only_their_own_analyses(user, other_user):
    analysis_of(user, "BTCUSDT")
    analysis_of(other_user, "ETHUSDT")
    AnalysisRequest.objects.create(asset="SOLUSDT", timeframe="1h", source=AnalysisSource.SCHEDULE)
    assert listed_assets(client_for(user)) == ["BTCUSDT"]
    assert listed_assets(client_for(other_user)) == ["ETHUSDT"]


def test_another_users_analysis_is_404(user, other_user):
    theirs = analysis_of(other_user, "ETHUSDT")
    response = client_for(user).get(f"/api/analyses/{theirs.correlation_id}/")
    assert response.status_code == 404
    assert "detail" in response.json()
    assert "rival" not in response.content.decode()


def test_staff_see_every_analysis(user, other_user, staff_user):
    mine = analysis_of(user, "BTCUSDT")
    analysis_of(other_user, "ETHUSDT")
    AnalysisRequest.objects.create(asset="SOLUSDT", timeframe="1h", source=AnalysisSource.SCHEDULE)
    staff = client_for(staff_user)
    assert listed_assets(staff) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    body = staff.get(f"/api/analyses/{mine.correlation_id}/").json()
    assert body["requested_by"] == "trader"


def test_the_requester_follows_their_status_url(user):
    client = client_for(user)
    response = client.post("/api/signals/request-analysis/", {"asset": "ETHUSDT"}, format="json")
    assert client.get(response.json()["status_url"]).status_code == 200


def test_signals_stay_shared(user, other_user):
    requested = analysis_of(user, "BTCUSDT")
    signal = make_signal(correlation_id=requested.correlation_id)
    theirs = client_for(other_user)
    assert [s["id"] for s in theirs.get("/api/signals/").json()["results"]] == [str(signal.id)]
    assert theirs.get(f"/api/signals/{signal.id}/").status_code == 200
