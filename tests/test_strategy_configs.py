"""Strategy configs: the API, most-specific resolution, and analyses running what is configured."""

import pytest
from rest_framework.test import APIClient

import strategies
from signals import services
from signals.api import serializers
from signals.models import AnalysisRequest, Signal, StrategyConfig
from tests.conftest import lose_the_race, wait_until
from tests.fake_binance import INTERVAL_MS, oversold_candles

pytestmark = pytest.mark.django_db(transaction=True)

CONFIGS = "/api/strategy-configs/"


@pytest.fixture
def staff_client(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


def defaults(name: str) -> dict:
    return {key: spec.default for key, spec in strategies.get(name).parameters.items()}


def config(strategy="mean_reversion", asset="", timeframe="", enabled=True, **parameters):
    return StrategyConfig.objects.create(
        strategy=strategy, asset=asset, timeframe=timeframe, enabled=enabled, parameters=parameters
    )


def built(asset: str, timeframe: str, only=None) -> dict[str, dict]:
    return {s.name: s.params for s in services.enabled_strategies(asset, timeframe, only)}


# ---- the strategies endpoint ----


def test_strategies_list_every_registered_one_with_defaults_and_bounds(api_client):
    response = api_client.get("/api/strategies/")
    assert response.status_code == 200
    listed = {entry["name"]: entry for entry in response.json()}
    assert list(listed) == list(strategies.available())
    for name, strategy_class in strategies.available().items():
        assert listed[name]["parameters"] == strategy_class.schema()
        assert listed[name]["description"]
    rsi_oversold = listed["mean_reversion"]["parameters"]["rsi_oversold"]
    bounds = [rsi_oversold[key] for key in ("type", "default", "minimum", "maximum")]
    assert bounds == ["float", 30.0, 1.0, 50.0]


def test_strategy_detail_and_unknown_strategy_404(api_client):
    response = api_client.get("/api/strategies/breakout/")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "breakout"
    assert body["parameters"]["channel_period"]["default"] == 20
    assert body["parameters"]["use_adx_filter"]["type"] == "bool"
    assert api_client.get("/api/strategies/no_such_strategy/").status_code == 404


# ---- who may read and write configs ----


def test_staff_creates_a_config_and_is_recorded_as_its_editor(staff_client):
    payload = {"strategy": "mean_reversion", "asset": "BTCUSDT", "parameters": {"stop_atr": 2.0}}
    response = staff_client.post(CONFIGS, payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["updated_by"] == "boss"
    assert body["enabled"] is True
    assert body["timeframe"] is None
    assert body["updated_at"]
    stored = StrategyConfig.objects.get()
    assert (stored.asset, stored.timeframe, stored.parameters) == ("BTCUSDT", "", {"stop_atr": 2.0})
    assert stored.updated_by.username == "boss"


def test_staff_update_keeps_the_scope_and_records_the_editor(staff_client):
    existing = config(asset="BTCUSDT", stop_atr=2.0)
    response = staff_client.patch(f"{CONFIGS}{existing.pk}/", {"enabled": False}, format="json")
    assert response.status_code == 200, response.json()
    existing.refresh_from_db()
    assert existing.enabled is False
    assert (existing.asset, existing.parameters) == ("BTCUSDT", {"stop_atr": 2.0})
    assert existing.updated_by.username == "boss"


def test_non_staff_reads_configs_but_cannot_write_them(api_client):
    existing = config(stop_atr=2.0)
    listed = api_client.get(CONFIGS)
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["results"]] == [existing.pk]
    assert api_client.get(f"{CONFIGS}{existing.pk}/").json()["parameters"] == {"stop_atr": 2.0}
    created = api_client.post(CONFIGS, {"strategy": "breakout", "enabled": False}, format="json")
    assert created.status_code == 403
    detail = f"{CONFIGS}{existing.pk}/"
    assert api_client.patch(detail, {"enabled": False}, format="json").status_code == 403
    assert api_client.delete(detail).status_code == 403
    assert list(StrategyConfig.objects.values_list("strategy", "enabled")) == [
        ("mean_reversion", True)
    ]


def test_anonymous_users_are_refused(anon_client):
    assert anon_client.get(CONFIGS).status_code in (401, 403)
    response = anon_client.post(CONFIGS, {"strategy": "breakout"}, format="json")
    assert response.status_code in (401, 403)
    assert not StrategyConfig.objects.exists()


# ---- bad input is a 400 naming what is wrong, and writes nothing ----


@pytest.mark.parametrize(
    "payload, field, named",
    [
        ({"parameters": {"rsi_lenght": 14}}, "parameters", "rsi_lenght"),
        ({"parameters": {"stop_atr": 500.0}}, "parameters", "stop_atr"),
        ({"parameters": {"bb_period": 1}}, "parameters", "bb_period"),
        ({"parameters": {"bb_period": "20"}}, "parameters", "bb_period"),
        ({"parameters": {"rsi_oversold": 80.0}}, "parameters", "rsi_oversold"),
        ({"strategy": "no_such_strategy"}, "strategy", None),
        ({"asset": "btc/usdt"}, "asset", None),
        ({"timeframe": "7m"}, "timeframe", None),
    ],
)
def test_bad_config_is_a_400_naming_it_and_writes_nothing(staff_client, payload, field, named):
    response = staff_client.post(CONFIGS, {"strategy": "mean_reversion", **payload}, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field]
    if named:
        assert list(errors[field]) == [named]
    assert not StrategyConfig.objects.exists()


def test_out_of_bounds_parameter_is_a_400_naming_it(staff_client):
    payload = {"strategy": "breakout", "parameters": {"volume_factor": 0.01}}
    response = staff_client.post(CONFIGS, payload, format="json")
    assert response.status_code == 400
    reason = response.json()["parameters"]["volume_factor"][0]
    assert "minimum" in reason
    assert not StrategyConfig.objects.exists()


def test_bad_parameter_in_an_update_is_a_400_and_leaves_the_config(staff_client):
    existing = config(stop_atr=2.0)
    response = staff_client.patch(
        f"{CONFIGS}{existing.pk}/", {"parameters": {"stop_atr": -1}}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["parameters"]) == ["stop_atr"]
    existing.refresh_from_db()
    assert existing.parameters == {"stop_atr": 2.0}


@pytest.mark.parametrize(
    "stored, payload",
    [
        ({}, {}),
        ({}, {"asset": None, "timeframe": ""}),
        ({"asset": "BTCUSDT", "timeframe": "5m"}, {"asset": "btcusdt", "timeframe": "5m"}),
    ],
)
def test_duplicate_scope_is_a_400_not_a_500(staff_client, stored, payload):
    first = config(**stored)
    response = staff_client.post(CONFIGS, {"strategy": "mean_reversion", **payload}, format="json")
    assert response.status_code == 400
    assert response.json()["non_field_errors"]
    assert list(StrategyConfig.objects.values_list("pk", flat=True)) == [first.pk]


def test_losing_a_race_to_the_same_scope_is_a_400_not_a_500(staff_client, monkeypatch):
    rival = lose_the_race(monkeypatch, serializers.StrategyConfigSerializer,
                          lambda: config(strategy="breakout", asset="BTCUSDT"))
    response = staff_client.post(CONFIGS, {"strategy": "breakout", "asset": "BTCUSDT"},
                                 format="json")
    assert response.status_code == 400
    assert response.json()["non_field_errors"]
    assert list(StrategyConfig.objects.values_list("pk", flat=True)) == [rival[0].pk]


# ---- which strategies an analysis runs, and with which parameters ----


@pytest.mark.parametrize(
    "asset, timeframe, stop_atr",
    [
        ("BTCUSDT", "5m", 1.0),  # global
        ("BTCUSDT", "1h", 2.0),  # timeframe beats global
        ("ETHUSDT", "1h", 3.0),  # asset beats timeframe
        ("ETHUSDT", "5m", 4.0),  # asset+timeframe beats asset
    ],
)
def test_most_specific_config_wins(asset, timeframe, stop_atr):
    config(stop_atr=1.0)
    config(timeframe="1h", stop_atr=2.0)
    config(asset="ETHUSDT", stop_atr=3.0)
    config(asset="ETHUSDT", timeframe="5m", stop_atr=4.0)
    config(asset="SOLUSDT", timeframe="5m", stop_atr=5.0)  # another asset's: never applies
    params = built(asset, timeframe)
    assert params["mean_reversion"]["stop_atr"] == stop_atr
    assert params["breakout"] == defaults("breakout")  # no config: its defaults


def test_the_winning_config_replaces_the_global_one_as_a_whole():
    config(stop_atr=1.0)
    config(asset="ETHUSDT", target_atr=5.0)
    params = built("ETHUSDT", "5m")["mean_reversion"]
    assert params == defaults("mean_reversion") | {"target_atr": 5.0}


def test_disabled_config_excludes_the_strategy_only_in_its_scope():
    config("breakout", enabled=False)
    config("breakout", asset="ETHUSDT", enabled=True, channel_period=30)
    config("trend_following", asset="BTCUSDT", timeframe="5m", enabled=False)
    assert set(built("BTCUSDT", "5m")) == {"mean_reversion"}
    assert set(built("BTCUSDT", "1h")) == {"mean_reversion", "trend_following"}
    assert built("ETHUSDT", "5m")["breakout"]["channel_period"] == 30


def test_only_narrows_the_enabled_strategies_but_never_enables_a_disabled_one():
    config("breakout", enabled=False)
    assert set(built("BTCUSDT", "5m", ["mean_reversion"])) == {"mean_reversion"}
    assert set(built("BTCUSDT", "5m", ["breakout", "mean_reversion"])) == {"mean_reversion"}
    assert set(built("BTCUSDT", "5m", ["breakout"])) == set()
    assert set(built("BTCUSDT", "5m", [])) == {"mean_reversion", "trend_following"}


# ---- analyses store what the config said (market data from the local Binance stand-in) ----


def analyse(client, asset: str) -> str:
    response = client.post("/api/signals/request-analysis/", {"asset": asset}, format="json")
    assert response.status_code == 202
    return response.json()["correlation_id"]


def signals_of(correlation_id: str) -> dict[str, Signal]:
    return {s.strategy: s for s in Signal.objects.filter(correlation_id=correlation_id)}


def test_signals_record_the_configured_parameters_merged_with_defaults(
    api_client, staff_client, binance
):
    payload = {"strategy": "mean_reversion", "parameters": {"stop_atr": 2.0, "expiry_bars": 10}}
    assert staff_client.post(CONFIGS, payload, format="json").status_code == 201
    fired = signals_of(analyse(api_client, "BTCUSDT"))
    assert set(fired) == {"breakout", "mean_reversion"}
    reverting = fired["mean_reversion"]
    expected = defaults("mean_reversion") | {"stop_atr": 2.0, "expiry_bars": 10}
    assert reverting.parameters == expected
    assert reverting.expiry_bars == 10
    # The parameters were used, not only recorded: the stop is 2 ATRs below the entry.
    atr = reverting.indicators["atr"]
    assert reverting.stop_loss == pytest.approx(reverting.entry_price - 2.0 * atr)
    assert fired["breakout"].parameters == defaults("breakout")


def test_strategy_disabled_through_the_api_gives_no_signal_on_the_next_analysis(
    api_client, staff_client, binance
):
    binance[("ETHUSDT", "5m")] = oversold_candles(INTERVAL_MS["5m"])
    assert set(signals_of(analyse(api_client, "BTCUSDT"))) == {"breakout", "mean_reversion"}
    payload = {"strategy": "breakout", "enabled": False}
    assert staff_client.post(CONFIGS, payload, format="json").status_code == 201
    correlation_id = analyse(api_client, "ETHUSDT")
    assert set(signals_of(correlation_id)) == {"mean_reversion"}
    assert AnalysisRequest.objects.get(correlation_id=correlation_id).signals_generated == 1


def test_config_stored_before_a_schema_change_fails_the_analysis_naming_it(api_client, binance):
    config(stop_atr=-1.0)  # written past validation, as an older schema might have allowed
    correlation_id = analyse(api_client, "BTCUSDT")
    analysis = AnalysisRequest.objects.get(correlation_id=correlation_id)
    assert analysis.status == "failed"
    assert "stop_atr" in analysis.error
    assert "mean_reversion (global)" in analysis.error
    assert not Signal.objects.exists()


# ---- the real worker picks up a config change without a restart ----


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_worker_applies_a_config_change_to_the_next_analysis(
    api_client, staff_client, binance, celery_worker_process
):
    # Same oversold frame for both assets: breakout and mean reversion fire on each by default.
    binance[("ETHUSDT", "5m")] = oversold_candles(INTERVAL_MS["5m"])

    def analysed_by_worker(asset: str) -> dict[str, Signal]:
        correlation_id = analyse(api_client, asset)
        analysis = wait_until(
            lambda: AnalysisRequest.objects.filter(
                correlation_id=correlation_id, status__in=["completed", "failed"]
            ).first()
        )
        assert analysis.status == "completed", analysis.error
        return signals_of(correlation_id)

    fired = analysed_by_worker("BTCUSDT")
    assert set(fired) == {"breakout", "mean_reversion"}
    assert fired["mean_reversion"].parameters == defaults("mean_reversion")

    # Changed while the worker runs, after it has already analysed once.
    for payload in (
        {"strategy": "breakout", "enabled": False},
        {"strategy": "mean_reversion", "parameters": {"stop_atr": 2.5}},
    ):
        assert staff_client.post(CONFIGS, payload, format="json").status_code == 201

    fired = analysed_by_worker("ETHUSDT")
    assert set(fired) == {"mean_reversion"}
    assert fired["mean_reversion"].parameters == defaults("mean_reversion") | {"stop_atr": 2.5}
