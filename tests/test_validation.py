"""One rule, one message: assets, timeframes and strategies are checked by signals.validation
wherever they come in (API, models and admin, management commands, the live feed)."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

import collectors
from signals import validation
from signals.consumers import group_error
from signals.models import AnalysisRequest, StrategyConfig, Watchlist

pytestmark = pytest.mark.django_db

CATALOGUE = list(collectors.CATALOGUE)


@pytest.fixture
def staff_client(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


def assert_lists_the_catalogue(message: str, asset: str) -> None:
    assert asset in message
    assert all(symbol in message for symbol in CATALOGUE)


def test_an_asset_outside_the_demo_catalogue_is_a_400_at_request_analysis(api_client, settings):
    settings.MARKET_DATA_MODE = "demo"
    response = api_client.post(
        "/api/signals/request-analysis/", {"asset": "NOTACOIN", "timeframe": "1h"}, format="json"
    )
    assert response.status_code == 400
    assert_lists_the_catalogue(response.json()["asset"][0], "NOTACOIN")
    assert not AnalysisRequest.objects.exists()
    ok = api_client.post(
        "/api/signals/request-analysis/", {"asset": "aapl", "timeframe": "1h"}, format="json"
    )
    assert ok.status_code == 202


def test_an_asset_outside_the_demo_catalogue_is_a_400_at_the_watchlist(staff_client, settings):
    settings.MARKET_DATA_MODE = "demo"
    response = staff_client.post(
        "/api/watchlist/", {"asset": "NOTACOIN", "timeframe": "1h"}, format="json"
    )
    assert response.status_code == 400
    assert_lists_the_catalogue(response.json()["asset"][0], "NOTACOIN")
    assert not Watchlist.objects.exists()


def test_an_asset_outside_the_demo_catalogue_is_a_400_at_candles(api_client, settings):
    settings.MARKET_DATA_MODE = "demo"
    response = api_client.get("/api/candles/", {"asset": "NOTACOIN", "timeframe": "1h"})
    assert response.status_code == 400
    assert_lists_the_catalogue(response.json()["asset"][0], "NOTACOIN")
    served = api_client.get("/api/candles/", {"asset": "ETHUSDT", "timeframe": "1h"})
    assert served.status_code == 200


def test_live_mode_serves_any_well_formed_symbol(staff_client, settings):
    settings.MARKET_DATA_MODE = "live"
    response = staff_client.post(
        "/api/watchlist/", {"asset": "NOTACOIN", "timeframe": "1h"}, format="json"
    )
    assert response.status_code == 201


def test_a_watchlist_entry_outside_the_catalogue_fails_clean_in_demo_mode(settings):
    settings.MARKET_DATA_MODE = "demo"
    with pytest.raises(ValidationError) as raised:
        Watchlist(asset="NOTACOIN", timeframe="1h").full_clean()
    assert_lists_the_catalogue(raised.value.message_dict["asset"][0], "NOTACOIN")


def test_assets_endpoint_lists_the_demo_catalogue_with_kinds(api_client, settings):
    settings.MARKET_DATA_MODE = "demo"
    body = api_client.get("/api/assets/").json()
    assert body["mode"] == "demo"
    kinds = {asset["symbol"]: asset["kind"] for asset in body["assets"]}
    assert sorted(kinds) == sorted(CATALOGUE)
    assert kinds["BTCUSDT"] == "crypto" and kinds["AAPL"] == "stock"
    assert all(asset["name"] for asset in body["assets"])


def test_assets_endpoint_lists_the_followed_assets_in_live_mode(api_client, settings):
    settings.MARKET_DATA_MODE = "live"
    Watchlist.objects.create(asset="PETR4", timeframe="1d")
    Watchlist.objects.create(asset="ADAUSDT", timeframe="1h")
    body = api_client.get("/api/assets/").json()
    assert body["mode"] == "live" and "Binance" in body["rule"]
    assert body["assets"] == [
        {"symbol": "ADAUSDT", "kind": "crypto", "name": ""},
        {"symbol": "PETR4", "kind": "stock", "name": ""},
    ]


def test_assets_endpoint_is_in_the_schema_and_needs_a_user(anon_client):
    assert b"/api/assets/" in anon_client.get("/api/schema/").content
    assert anon_client.get("/api/assets/").status_code in (401, 403)


# --- one message per rule, wherever the input comes from ---


def message_of(check, value) -> str:
    with pytest.raises(ValidationError) as raised:
        check(value)
    return raised.value.messages[0]


def test_a_malformed_symbol_gets_the_same_message_everywhere(api_client, staff_client):
    expected = message_of(validation.asset, "BTC/USDT")
    assert "malformed asset symbol" in expected
    answers = [
        api_client.post(
            "/api/signals/request-analysis/", {"asset": "BTC/USDT"}, format="json"
        ).json()["asset"][0],
        api_client.get("/api/candles/", {"asset": "BTC/USDT", "timeframe": "1h"}).json()[
            "asset"
        ][0],
        api_client.get("/api/signals/performance/", {"asset": "BTC/USDT"}).json()["asset"][0],
        staff_client.post(
            "/api/watchlist/", {"asset": "BTC/USDT", "timeframe": "1h"}, format="json"
        ).json()["asset"][0],
        staff_client.post(
            "/api/strategy-configs/", {"strategy": "breakout", "asset": "BTC/USDT"}, format="json"
        ).json()["asset"][0],
    ]
    assert answers == [expected] * len(answers)
    with pytest.raises(ValidationError) as raised:
        StrategyConfig(strategy="breakout", asset="BTC/USDT").full_clean()
    assert raised.value.message_dict["asset"] == [expected]
    assert expected in group_error("asset.BTC/USDT")
    with pytest.raises(CommandError) as failed:
        call_command("fetch_candles", "--asset", "BTC/USDT", "--timeframe", "1h", "--days", "1")
    assert str(failed.value) == f"--asset: {expected}"


def test_an_unknown_timeframe_gets_the_same_message_everywhere(api_client, staff_client, tmp_path):
    expected = message_of(validation.timeframe, "2m")
    assert expected == str(collectors.UnsupportedTimeframe(expected))
    answers = [
        api_client.post(
            "/api/signals/request-analysis/", {"asset": "BTCUSDT", "timeframe": "2m"}, format="json"
        ).json()["timeframe"][0],
        api_client.get("/api/candles/", {"asset": "BTCUSDT", "timeframe": "2m"}).json()[
            "timeframe"
        ][0],
        api_client.get("/api/signals/performance/", {"timeframe": "2m"}).json()["timeframe"][0],
        staff_client.post(
            "/api/watchlist/", {"asset": "BTCUSDT", "timeframe": "2m"}, format="json"
        ).json()["timeframe"][0],
        staff_client.post(
            "/api/strategy-configs/", {"strategy": "breakout", "timeframe": "2m"}, format="json"
        ).json()["timeframe"][0],
    ]
    assert answers == [expected] * len(answers)
    with pytest.raises(ValidationError) as raised:
        Watchlist(asset="BTCUSDT", timeframe="2m").full_clean()
    assert raised.value.message_dict["timeframe"] == [expected]
    assert expected in group_error("timeframe.2m")
    csv = tmp_path / "candles.csv"
    csv.write_text("open_time,open,high,low,close,volume\n")
    with pytest.raises(CommandError) as failed:
        call_command(
            "import_candles", str(csv), "--asset", "BTCUSDT", "--timeframe", "2m",
            stdout=io.StringIO(),
        )  # fmt: skip
    assert str(failed.value) == f"--timeframe: {expected}"


def test_an_unknown_strategy_gets_the_same_message_everywhere(api_client, staff_client):
    expected = message_of(validation.strategy_name, "nope")
    assert "available" in expected
    answers = [
        api_client.get("/api/signals/performance/", {"strategy": "nope"}).json()["strategy"][0],
        staff_client.post("/api/strategy-configs/", {"strategy": "nope"}, format="json").json()[
            "strategy"
        ][0],
        staff_client.post(
            "/api/watchlist/",
            {"asset": "BTCUSDT", "timeframe": "1h", "strategies": ["nope"]},
            format="json",
        ).json()["strategies"][0],
    ]
    assert answers == [expected] * len(answers)
    with pytest.raises(ValidationError) as raised:
        StrategyConfig(strategy="nope").full_clean()
    assert raised.value.message_dict["strategy"] == [expected]


def test_a_bad_parameter_gets_the_same_reason_from_the_api_and_the_admin(staff_client):
    response = staff_client.post(
        "/api/strategy-configs/",
        {"strategy": "breakout", "parameters": {"channel_period": 0}},
        format="json",
    )
    reason = response.json()["parameters"]["channel_period"][0]
    with pytest.raises(ValidationError) as raised:
        StrategyConfig(strategy="breakout", parameters={"channel_period": 0}).full_clean()
    assert raised.value.message_dict["parameters"] == [f"channel_period: {reason}"]
