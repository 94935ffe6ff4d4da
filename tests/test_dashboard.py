"""The dashboard page and the candles endpoint its price chart reads."""

import json

import pytest

import collectors
from market import store

pytestmark = pytest.mark.django_db


def test_dashboard_needs_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_dashboard_page_carries_its_config_and_scripts(client, user):
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    config = response.context["config"]
    assert config["ws_path"] == "/ws/signals/"
    assert config["urls"]["candles"] == "/api/candles/"
    assert config["urls"]["request_analysis"] == "/api/signals/request-analysis/"
    assert json.dumps(config["urls"]["performance"]) in page
    for script in ("signals/common.js", "signals/charts.js", "signals/dashboard.js"):
        assert script in page
    assert 'name="viewport"' in page


def test_candles_are_the_most_recent_ones_oldest_first(api_client):
    response = api_client.get("/api/candles/", {"asset": "BTCUSDT", "timeframe": "1h"})
    assert response.status_code == 200
    rows = response.json()
    frame = store.load_candles("BTCUSDT", "1h").tail(200)
    assert len(rows) == 200
    assert set(rows[0]) == {"time", "open", "high", "low", "close", "volume"}
    assert rows[-1]["time"] == frame.index[-1].isoformat()
    assert rows[-1]["close"] == pytest.approx(frame["close"].iloc[-1])
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)


def test_candles_limit_and_lower_case_asset(api_client):
    response = api_client.get("/api/candles/", {"asset": "ethusdt", "timeframe": "5m", "limit": 5})
    assert response.status_code == 200
    assert len(response.json()) == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"asset": "BTC USDT", "timeframe": "5m"}, "asset"),
        ({"timeframe": "5m"}, "asset"),
        ({"asset": "BTCUSDT", "timeframe": "7m"}, "timeframe"),
        ({"asset": "BTCUSDT"}, "timeframe"),
        ({"asset": "BTCUSDT", "timeframe": "5m", "limit": 0}, "limit"),
        ({"asset": "BTCUSDT", "timeframe": "5m", "limit": "many"}, "limit"),
    ],
)
def test_bad_candles_query_is_a_400_naming_the_field(api_client, params, field):
    response = api_client.get("/api/candles/", params)
    assert response.status_code == 400
    assert field in response.json()


def test_asset_the_source_does_not_list_is_a_400_naming_asset(api_client, binance):
    response = api_client.get("/api/candles/", {"asset": "DOGEUSDT", "timeframe": "5m"})
    assert response.status_code == 400
    assert "symbol" in response.json()["asset"][0].lower()


def test_market_data_outage_is_a_502(api_client, monkeypatch):
    def down(asset, timeframe):
        raise collectors.UpstreamUnavailable("binance timed out")

    monkeypatch.setattr(store, "load_candles", down)
    response = api_client.get("/api/candles/", {"asset": "BTCUSDT", "timeframe": "5m"})
    assert response.status_code == 502
    assert "binance timed out" in response.json()["detail"]


def test_candles_need_authentication(anon_client):
    response = anon_client.get("/api/candles/", {"asset": "BTCUSDT", "timeframe": "5m"})
    assert response.status_code in (401, 403)
