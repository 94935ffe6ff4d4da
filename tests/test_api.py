"""The REST API on the embedded default: auth, analysis requests, lists, filters, bad input."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from signals.models import AnalysisRequest, Signal
from tests.conftest import make_signal

pytestmark = pytest.mark.django_db(transaction=True)


def test_anonymous_users_cannot_read_signals(anon_client):
    assert anon_client.get("/api/signals/").status_code in (401, 403)
    assert anon_client.post("/api/signals/request-analysis/", {"asset": "BTCUSDT"}).status_code in (
        401,
        403,
    )


def test_token_login_then_token_auth(anon_client, user):
    response = anon_client.post(
        "/api/auth/token/", {"username": "trader", "password": "s3cret-pass"}
    )
    assert response.status_code == 200
    anon_client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert anon_client.get("/api/signals/").status_code == 200


def test_wrong_password_gets_no_token(anon_client, user):
    response = anon_client.post("/api/auth/token/", {"username": "trader", "password": "nope"})
    assert response.status_code == 400


def test_request_analysis_accepts_and_runs_to_completion(api_client, binance):
    response = api_client.post(
        "/api/signals/request-analysis/", {"asset": "BTCUSDT"}, format="json"
    )
    assert response.status_code == 202
    body = response.json()
    correlation_id = body["correlation_id"]
    assert body["status_url"].endswith(f"/api/analyses/{correlation_id}/")

    status = api_client.get(f"/api/analyses/{correlation_id}/").json()
    assert status["status"] == "completed", status
    assert status["timeframe"] == "5m"
    assert status["signals_generated"] >= 1
    signals = api_client.get("/api/signals/", {"asset": "BTCUSDT"}).json()["results"]
    assert {s["correlation_id"] for s in signals} == {correlation_id}
    assert all(s["parameters"] and s["indicators"] for s in signals)


def test_unknown_symbol_is_a_recorded_failure(api_client, binance):
    response = api_client.post(
        "/api/signals/request-analysis/", {"asset": "NOPEUSDT"}, format="json"
    )
    assert response.status_code == 202
    status = api_client.get(response.json()["status_url"]).json()
    assert status["status"] == "failed"
    assert "symbol" in status["error"].lower()
    assert Signal.objects.count() == 0


def test_analysis_on_demo_data_completes(api_client):
    response = api_client.post(
        "/api/signals/request-analysis/", {"asset": "ETHUSDT", "timeframe": "1h"}, format="json"
    )
    analysis = AnalysisRequest.objects.get(correlation_id=response.json()["correlation_id"])
    assert analysis.status == "completed", analysis.error
    assert (
        analysis.signals_generated
        == Signal.objects.filter(correlation_id=analysis.correlation_id).count()
    )


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"asset": "BTCUSDT", "timeframe": "7m"}, "timeframe"),
        ({"asset": "BTC/USDT"}, "asset"),
        ({"asset": ""}, "asset"),
        ({"asset": "X" * 30}, "asset"),
        ({}, "asset"),
    ],
)
def test_bad_analysis_request_is_400_naming_the_field(api_client, payload, field):
    response = api_client.post("/api/signals/request-analysis/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert AnalysisRequest.objects.count() == 0


def test_malformed_json_body_is_400(api_client):
    response = api_client.post(
        "/api/signals/request-analysis/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400


def test_list_filters_and_ordering(api_client):
    make_signal(asset="BTCUSDT", confidence=0.9)
    make_signal(
        asset="ETHUSDT", direction="short", stop_loss=105.0, take_profit=90.0, confidence=0.2
    )
    make_signal(asset="BTCUSDT", status="closed", result="win", pnl=10.0)

    def assets(**params):
        return [s["asset"] for s in api_client.get("/api/signals/", params).json()["results"]]

    assert sorted(assets(asset="BTCUSDT")) == ["BTCUSDT", "BTCUSDT"]
    assert assets(direction="short") == ["ETHUSDT"]
    assert assets(result="win") == ["BTCUSDT"]
    assert assets(ordering="confidence")[0] == "ETHUSDT"
    assert len(assets(created_after=(timezone.now() - timedelta(minutes=1)).isoformat())) == 3
    assert assets(created_before=(timezone.now() - timedelta(days=1)).isoformat()) == []


def test_signals_without_a_value_sort_last_both_ways(api_client):
    make_signal(asset="BTCUSDT")  # active: no pnl yet
    make_signal(asset="ETHUSDT", status="closed", result="win", pnl=3.0)
    make_signal(asset="SOLUSDT", status="closed", result="loss", pnl=-1.0)

    def assets(ordering):
        response = api_client.get("/api/signals/", {"ordering": ordering})
        return [s["asset"] for s in response.json()["results"]]

    assert assets("-pnl") == ["ETHUSDT", "SOLUSDT", "BTCUSDT"]
    assert assets("pnl") == ["SOLUSDT", "ETHUSDT", "BTCUSDT"]


def test_active_lists_only_active_signals(api_client):
    active = make_signal()
    make_signal(status="cancelled")
    results = api_client.get("/api/signals/active/").json()["results"]
    assert [s["id"] for s in results] == [str(active.id)]


def test_signal_detail_and_unknown_id(api_client):
    signal = make_signal()
    assert api_client.get(f"/api/signals/{signal.id}/").json()["entry_price"] == 100.0
    assert api_client.get(f"/api/signals/{uuid.uuid4()}/").status_code == 404
    assert api_client.get("/api/analyses/not-a-uuid/").status_code == 404


@pytest.mark.parametrize(
    "params, field",
    [
        ({"created_after": "yesterday"}, "created_after"),
        ({"status": "sleeping"}, "status"),
    ],
)
def test_bad_filter_values_are_400(api_client, params, field):
    response = api_client.get("/api/signals/", params)
    assert response.status_code == 400
    assert field in response.json()


def test_performance_counts_closed_signals(api_client):
    make_signal(status="closed", result="win", pnl=10.0)
    make_signal(status="closed", result="loss", pnl=-5.0)
    make_signal(status="closed", result="win", pnl=4.0)
    make_signal()
    body = api_client.get("/api/signals/performance/").json()
    assert body["total_signals"] == 4
    assert body["winning_signals"] == 2
    assert body["losing_signals"] == 1
    assert body["win_rate"] == pytest.approx(2 / 3)
    assert body["expectancy_percent"] == pytest.approx(3.0)  # (10 - 5 + 4) / 3
    assert set(body["period"]) == {"from", "to"}


def test_performance_period_excludes_older_signals(api_client):
    make_signal(status="closed", result="win", pnl=10.0)
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    body = api_client.get("/api/signals/performance/", {"to": yesterday}).json()
    assert body["total_signals"] == 0


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
        ({"from": "not a date"}, "from"),
        ({"to": "2026-13-45"}, "to"),
    ],
)
def test_bad_performance_period_is_400(api_client, params, field):
    response = api_client.get("/api/signals/performance/", params)
    assert response.status_code == 400
    assert field in response.json()


def test_health_reports_in_process_parts_as_up(anon_client):
    response = anon_client.get("/api/health/")
    assert response.status_code == 200
    components = response.json()["components"]
    assert components["database"]["status"] == "up"
    assert components["broker"]["mode"] == "in-process"
    assert all("latency_ms" in c for c in components.values())


def test_schema_docs_and_browsable_api(anon_client, client, user):
    schema = anon_client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/signals/request-analysis/" in schema.content
    assert anon_client.get("/api/docs/").status_code == 200
    client.force_login(user)
    page = client.get("/api/signals/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert b"Signal List" in page.content
