"""A grid over several assets and timeframes: every parameter set on every series (asset x
timeframe), each series in its own chunks, the rows ranked together and filtered by series
(embedded: the chord runs eagerly in-process)."""

import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from backtests import research
from backtests.api import views
from backtests.models import BacktestStatus, GridChunk, GridRun, WalkForward, json_safe
from market import store
from strategies import grid as grids
from strategies.backtest import run_backtest
from strategies.mean_reversion import MeanReversion
from strategies.warmup import synthetic_candles
from tests.backtests.conftest import END, REQUEST, START
from tests.fake_binance import INTERVAL_MS

pytestmark = pytest.mark.django_db

GRID = {"bb_period": "10:30:10", "bb_deviations": [1.5, 2.0]}  # 6 sets
SERIES = [("BTCUSDT", "1h"), ("BTCUSDT", "4h"), ("ETHUSDT", "1h"), ("ETHUSDT", "4h")]
BODY = {**{k: v for k, v in REQUEST.items() if k not in ("asset", "timeframe")},
        "assets": ["BTCUSDT", "ETHUSDT"], "timeframes": "1h,4h", "grid": GRID,
        "minimum_trades": 3, "fee_percent": 0.1}


@pytest.fixture
def markets(binance):
    """A different random walk for each series on the Binance stand-in, up to END."""
    for seed, (asset, timeframe) in enumerate(SERIES, start=3):
        bars = 24 * 30 if timeframe == "1h" else 6 * 30
        binance[(asset, timeframe)] = synthetic_candles(
            bars, seed, step=0.006, freq=f"{INTERVAL_MS[timeframe]}ms",
            start="2025-12-21T00:00:00+00:00")
    return binance


@pytest.fixture
def small_chunks(settings):
    settings.BACKTEST_GRID_CHUNK_SETS = 4


def run_grid(api_client, capture, body=BODY) -> dict:
    with capture(execute=True):
        response = api_client.post("/api/backtests/grids/", body, format="json")
    assert response.status_code == 202, response.content
    detail = api_client.get(response.json()["status_url"]).json()
    assert detail["status"] == "completed", detail["error"]
    return detail


def single_backtest(asset: str, timeframe: str, parameters: dict) -> dict:
    candles = store.stored_candles("live", asset, timeframe, start=START)
    candles = candles[candles.index < END]
    return json_safe(run_backtest(MeanReversion(**parameters), candles, fee_percent=0.1,
                                  mode="one_position",
                                  timeframe_seconds=INTERVAL_MS[timeframe] // 1000).statistics)


def test_every_set_runs_on_every_series_in_chunks_of_one_series_each(
        api_client, markets, small_chunks, django_capture_on_commit_callbacks):
    detail = run_grid(api_client, django_capture_on_commit_callbacks)
    assert (detail["asset"], detail["timeframe"]) == ("BTCUSDT", "1h")  # the first series
    assert (detail["assets"], detail["timeframes"]) == (["BTCUSDT", "ETHUSDT"], ["1h", "4h"])
    assert [(s["asset"], s["timeframe"]) for s in detail["series"]] == SERIES
    assert [s["candles"] for s in detail["series"]] == [456, 114, 456, 114]
    assert detail["candles"] == 2 * (456 + 114)
    assert (detail["set_count"], detail["backtest_count"], detail["sets_done"],
            detail["chunk_count"], detail["progress"]) == (6, 24, 24, 8, 1.0)
    chunks = GridChunk.objects.filter(grid_id=detail["id"]).order_by("number")
    assert [(c.asset, c.timeframe, c.first_set, len(c.parameter_sets)) for c in chunks] == [
        (asset, timeframe, first, size) for asset, timeframe in SERIES
        for first, size in ((0, 4), (4, 2))]

    results = api_client.get(f"/api/backtests/grids/{detail['id']}/results/?page_size=100")
    rows = results.json()["results"]
    assert [(r["asset"], r["timeframe"], r["set"]) for r in rows] == [
        (asset, timeframe, place) for asset, timeframe in SERIES for place in range(6)]
    expanded = grids.expand_grid(MeanReversion, GRID, max_sets=100)
    for row in rows:
        parameters = expanded.parameter_sets[row["set"]]
        assert row["parameters"] == expanded.varied_of(parameters)
        assert row["statistics"] == pytest.approx(
            single_backtest(row["asset"], row["timeframe"], parameters), nan_ok=True)
    # The series differ: a mix-up of candles would show here.
    assert len({json.dumps(r["statistics"], sort_keys=True) for r in rows}) > 6

    ranked = grids.rank(rows, "expectancy_r", 3)
    assert {r["asset"] for r in ranked} == {"BTCUSDT", "ETHUSDT"}
    assert [(r["asset"], r["timeframe"], r["set"]) for r in detail["ranking"]] == [
        (r["asset"], r["timeframe"], r["set"]) for r in ranked[:20]]


def test_results_and_the_heatmap_narrow_to_a_series_and_refuse_one_not_in_the_grid(
        api_client, markets, monkeypatch, django_capture_on_commit_callbacks):
    detail = run_grid(api_client, django_capture_on_commit_callbacks)
    url = f"/api/backtests/grids/{detail['id']}/"
    rows = api_client.get(f"{url}results/?page_size=100").json()["results"]

    eth = api_client.get(f"{url}results/?asset=ethusdt&timeframe=4h").json()["results"]
    assert eth == [r for r in rows if (r["asset"], r["timeframe"]) == ("ETHUSDT", "4h")]
    assert len(eth) == 6
    ranked = api_client.get(f"{url}results/?order=ranking&timeframe=1h&page_size=100").json()
    assert [(r["asset"], r["set"]) for r in ranked["results"]] == [
        (r["asset"], r["set"]) for r in grids.rank(rows, "expectancy_r", 3)
        if r["timeframe"] == "1h"]

    assert api_client.get(f"{url}results/?asset=SOLUSDT").json() == {
        "asset": ["not one of this grid's: BTCUSDT, ETHUSDT"]}
    assert api_client.get(f"{url}heatmap/?timeframe=1d").json() == {
        "timeframe": ["not one of this grid's: 1h, 4h"]}
    assert api_client.get(f"{url}heatmap/?timeframe=1d", HTTP_ACCEPT_LANGUAGE="pt-BR").json() \
        == {"timeframe": ["não está nesta grade; ela tem: 1h, 4h"]}

    drawn = []
    monkeypatch.setattr(views, "heatmap_png",
                        lambda xs, ys, matrix, *rest: drawn.append((matrix, rest[-1])) or b"png")
    matrices = {}
    for asset, timeframe in SERIES:
        response = api_client.get(f"{url}heatmap/?asset={asset}&timeframe={timeframe}")
        assert response.status_code == 200
        matrices[asset, timeframe] = drawn[-1][0]
        assert drawn[-1][1] == f"grid #{detail['id']} mean_reversion {asset} {timeframe}"
    assert api_client.get(f"{url}heatmap/").status_code == 200
    best, title = drawn[-1]
    # Without a filter each cell is the best of its rows over every series.
    assert np.array_equal(best, np.fmax.reduce(list(matrices.values())), equal_nan=True)
    assert title.endswith("mean_reversion BTCUSDT,ETHUSDT 1h,4h")


@pytest.mark.parametrize(("changes", "errors"), [
    ({"assets": ["BTCUSDT", "NOPE"]},
     {"assets": ["'NOPE' is not in the demo market; demo assets: BTCUSDT, ETHUSDT, SOLUSDT, "
                 "BNBUSDT, XRPUSDT, DOGEUSDT, AAPL, MSFT, NVDA, AMZN, GOOGL, TSLA"]}),
    ({"timeframes": "1h, 7h"}, {"timeframes": None}),
    ({"timeframes": ["1h", 4]}, {"timeframes": ["must be a list of names or 'A,B'"]}),
    ({"assets": {"BTCUSDT": 1}}, {"assets": ["must be a list of names or 'A,B'"]}),
    ({"assets": " , "}, {"assets": ["needs at least one"]}),
    ({"assets": []}, {"assets": ["needs at least one"]}),
    ({"asset": "BTCUSDT"}, {"assets": ["give asset or assets, not both"]}),
    ({"assets": None, "timeframe": "1h"}, {"asset": ["needed: asset, or assets for several"]}),
    ({"grid": {"bb_period": "2:41:1", "bb_deviations": "1,2,3,4"}},  # 160 sets, 4 series
     {"grid": ["4 series x 160 parameter sets: 640 backtests, more than the limit 300"]}),
    ({"grid": {"bb_period": "2:41:1", "rsi_period": "2:11:1"}},
     {"grid": ["400 parameter sets, more than the limit 300"]}),
])
def test_a_bad_series_is_a_400_naming_the_field(api_client, settings, changes, errors):
    settings.BACKTEST_GRID_MAX_SETS = 300
    body = {key: value for key, value in {**BODY, **changes}.items() if value is not None}
    response = api_client.post("/api/backtests/grids/", body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == list(errors)
    for field, expected in errors.items():
        if expected is not None:
            assert response.json()[field] == expected
    assert not GridRun.objects.exists()


def test_a_bad_timeframe_in_a_list_is_named_in_the_reason(api_client):
    response = api_client.post("/api/backtests/grids/", {**BODY, "timeframes": "1h,7h"},
                               format="json")
    assert response.json()["timeframes"][0].startswith("7h: use one of 1m, 3m, 5m")
    translated = api_client.post("/api/backtests/grids/", {**BODY, "assets": "BTCUSDT",
                                                           "asset": "BTCUSDT"},
                                 format="json", HTTP_ACCEPT_LANGUAGE="pt-BR")
    assert translated.json() == {"assets": ["informe asset ou assets, não ambos"]}


def test_the_limit_counts_every_series_and_duplicates_are_dropped(settings):
    settings.BACKTEST_GRID_MAX_SETS = 12
    fields = {**{k: v for k, v in BODY.items() if k not in ("assets", "timeframes")},
              "grid": GRID}
    spec = research.check_grid(assets="btcusdt, ETHUSDT,BTCUSDT", timeframes=["1h", "1h"],
                               **fields)
    assert (spec.assets, spec.timeframes) == (["BTCUSDT", "ETHUSDT"], ["1h"])
    assert len(spec.series) * len(spec.grid.parameter_sets) == 12
    with pytest.raises(research.BacktestInputError) as error:
        research.check_grid(assets="BTCUSDT,ETHUSDT,SOLUSDT", timeframe="1h", **fields)
    assert error.value.field == "grid" and "18 backtests" in error.value.reason


def test_each_asset_pays_its_own_fee_schedule_unless_a_fee_is_given(api_client):
    body = {**BODY, "assets": "BTCUSDT,AAPL", "timeframes": "1h"}
    del body["fee_percent"]
    accepted = api_client.post("/api/backtests/grids/", body, format="json").json()
    grid = GridRun.objects.get(pk=accepted["id"])
    assert [(s["asset"], s["fee_percent"]) for s in grid.series] == [("BTCUSDT", 0.1),
                                                                     ("AAPL", 0.05)]
    assert grid.fee_of("AAPL", "1h") == 0.05 and grid.fee_percent == 0.1
    assert [s.fee_percent for s in research.spec_of(grid).series] == [0.1, 0.05]
    given = api_client.post("/api/backtests/grids/", {**body, "fee_percent": 0.2},
                            format="json").json()
    assert {s["fee_percent"] for s in GridRun.objects.get(pk=given["id"]).series} == {0.2}


def test_a_series_without_candles_fails_the_grid_naming_it(
        api_client, markets, django_capture_on_commit_callbacks):
    markets[("ETHUSDT", "4h")] = markets[("ETHUSDT", "4h")].iloc[:10]  # all before START
    with django_capture_on_commit_callbacks(execute=True):
        accepted = api_client.post("/api/backtests/grids/", BODY, format="json").json()
    grid = GridRun.objects.get(pk=accepted["id"])
    assert grid.status == BacktestStatus.FAILED
    assert grid.error == ("no live candles for ETHUSDT 4h from 2026-01-01T00:00:00+00:00 to "
                          "2026-01-20T00:00:00+00:00")
    assert grid.sets_done == 0 and grid.results == []
    assert not grid.chunks.exclude(status=BacktestStatus.QUEUED).exists()


@pytest.mark.parametrize(("changes", "field"), [
    ({"assets": "BTCUSDT,ETHUSDT", "timeframes": "1h"}, "assets"),
    ({"assets": ["BTCUSDT"], "timeframes": ["1h", "4h"]}, "timeframes"),
])
def test_a_walk_forward_refuses_several_series(api_client, changes, field):
    body = {**BODY, **changes, "train_bars": 200, "test_bars": 100}
    response = api_client.post("/api/backtests/walk-forward/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {field: ["a walk-forward test runs on one asset and one timeframe"]}
    assert not WalkForward.objects.exists()
    one = api_client.post("/api/backtests/walk-forward/",
                          {**body, "assets": ["BTCUSDT"], "timeframes": "1h"}, format="json")
    assert one.status_code == 202, one.content
    assert WalkForward.objects.get().asset == "BTCUSDT"


def command(*args: str) -> str:
    out = io.StringIO()
    call_command("backtest", "--strategy", "mean_reversion", "--from", START, "--to", END,
                 "--no-progress", "--fee-percent", "0.1", "--mode", "one_position", *args,
                 stdout=out)
    return out.getvalue()


def test_the_command_runs_a_grid_on_two_assets(markets, tmp_path):
    grid = ("--grid", "bb_period=10:30:10", "--grid", "bb_deviations=1.5,2", "--min-trades", "3")
    data = json.loads(command("--asset", "BTCUSDT,ETHUSDT", "--timeframe", "1h", *grid,
                              "--json"))
    rows = data["results"]
    assert [(r["asset"], r["timeframe"], r["set"]) for r in rows] == [
        (asset, "1h", place) for asset in ("BTCUSDT", "ETHUSDT") for place in range(6)]
    expanded = grids.expand_grid(MeanReversion, GRID, max_sets=100)
    for row in rows:
        assert row["statistics"] == pytest.approx(single_backtest(
            row["asset"], "1h", expanded.parameter_sets[row["set"]]), nan_ok=True)
    ranked = grids.rank(rows, "expectancy_r", 3)
    assert [rows[place] for place in data["ranking"]] == ranked

    plot = tmp_path / "heat.png"
    text = command("--asset", "BTCUSDT", "--asset", "ETHUSDT", "--timeframe", "1h,4h", *grid,
                   "--plot", str(plot), "--top", "50")
    assert "6 sets x 4 series = 24 backtests" in text
    assert plot.read_bytes().startswith(b"\x89PNG")
    table = text.splitlines()[2:]
    assert table[0].split()[:3] == ["#", "asset", "tf"]
    assert {tuple(line.split()[1:3]) for line in table[1:-1]} == set(SERIES)


@pytest.mark.parametrize(("args", "message"), [
    (("--asset", "BTCUSDT,ETHUSDT", "--timeframe", "1h"),
     "--asset: one for a single backtest; several need --grid"),
    (("--asset", "BTCUSDT", "--timeframe", "1h", "--timeframe", "4h"),
     "--timeframe: one for a single backtest; several need --grid"),
    (("--asset", "BTCUSDT,ETHUSDT", "--timeframe", "1h", "--grid", "bb_period=10,20",
      "--walk-forward", "--train-bars", "200", "--test-bars", "100"),
     "--asset: a walk-forward test runs on one asset and one timeframe"),
    (("--asset", "BTCUSDT,NOPE!", "--timeframe", "1h", "--grid", "bb_period=10,20"),
     "--asset: malformed asset symbol 'NOPE!': expected 1-20 uppercase letters or digits, "
     "optionally with '.' or '-' inside (e.g. BTCUSDT, AAPL, BRK.B)"),
])
def test_the_command_names_the_flag_of_a_bad_series(args, message):
    with pytest.raises(CommandError) as error:
        command(*args)
    assert str(error.value) == message and error.value.returncode == 2
