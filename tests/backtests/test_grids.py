"""Grid runs and walk-forward tests through /api/backtests/grids/, /walk-forward/ and the
command (embedded: the chord runs eagerly in-process)."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backtests import research
from backtests.models import BacktestStatus, GridChunk, GridRun, WalkForward
from market import store
from strategies import grid as grids
from strategies.mean_reversion import MeanReversion
from tests.backtests.conftest import END, REQUEST, START

pytestmark = pytest.mark.django_db

GRID = {"bb_period": "10:30:10", "bb_deviations": [1.5, 2.0]}
GRID_REQUEST = {**REQUEST, "grid": GRID, "minimum_trades": 3, "fee_percent": 0.1}


def run_grid(api_client, capture, body=GRID_REQUEST):
    with capture(execute=True):
        response = api_client.post("/api/backtests/grids/", body, format="json")
    assert response.status_code == 202, response.content
    return response.json()


@pytest.fixture
def small_chunks(settings):
    settings.BACKTEST_GRID_CHUNK_SETS = 2


def test_a_grid_runs_in_chunks_and_every_set_equals_its_own_backtest(
        api_client, history, small_chunks, django_capture_on_commit_callbacks):
    accepted = run_grid(api_client, django_capture_on_commit_callbacks)
    assert accepted["status_url"] == f"/api/backtests/grids/{accepted['id']}/"
    detail = api_client.get(accepted["status_url"]).json()
    assert detail["status"] == "completed", detail["error"]
    assert (detail["set_count"], detail["sets_done"], detail["chunk_count"]) == (6, 6, 3)
    assert detail["progress"] == 1.0

    candles = store.stored_candles("live", "BTCUSDT", "1h", start=START)
    candles = candles[candles.index < END]
    expanded = grids.expand_grid(MeanReversion, GRID, max_sets=100)
    expected = grids.evaluate_grid(MeanReversion, expanded.parameter_sets, candles,
                                   varied=expanded.varied, fee_percent=0.1, mode="one_position",
                                   timeframe_seconds=3600)
    results = api_client.get(f"{accepted['status_url']}results/").json()["results"]
    assert [row["set"] for row in results] == list(range(6))
    for row, result in zip(results, expected, strict=True):
        assert row["parameters"] == result.parameters
        assert row["statistics"] == pytest.approx(result.statistics)

    ranked = grids.rank([r.to_dict() for r in expected], "expectancy_r", 3)
    assert [row["parameters"] for row in detail["ranking"]] == [r["parameters"] for r in ranked]
    by_rank = api_client.get(f"{accepted['status_url']}results/?order=ranking").json()
    assert [row["parameters"] for row in by_rank["results"]] == [r["parameters"] for r in ranked]
    assert set(GridChunk.objects.values_list("status", flat=True)) == {"completed"}


def test_the_heatmap_is_a_png_of_any_two_varied_parameters(
        api_client, history, django_capture_on_commit_callbacks):
    accepted = run_grid(api_client, django_capture_on_commit_callbacks)
    url = f"{accepted['status_url']}heatmap/"
    for query in ("", "?x=bb_deviations&y=bb_period&metric=win_rate"):
        response = api_client.get(url + query)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert response.content.startswith(b"\x89PNG")
    assert api_client.get(url + "?x=rsi_period").json() == {
        "x": ["not a varied parameter of the grid; varied: bb_period, bb_deviations"]}
    assert api_client.get(url + "?x=rsi_period", HTTP_ACCEPT_LANGUAGE="pt-BR").json() == {
        "x": ["não é um parâmetro variado da grade; variados: bb_period, bb_deviations"]}
    assert "metric" in api_client.get(url + "?metric=luck").json()


@pytest.mark.parametrize(("changes", "errors"), [
    ({"grid": {"bb_period": "1:20:5"}}, {"grid": {"bb_period": ["1 is below the minimum 2"]}}),
    ({"grid": {"bb_period": [10, 900]}},
     {"grid": {"bb_period": ["900 is above the maximum 500"]}}),
    ({"grid": {"window": [1]}}, {"grid": {"window": None}}),
    ({"grid": {}}, {"grid": None}),
    ({"grid": {"bb_period": "2:41:1", "rsi_period": "2:11:1"}},
     {"grid": ["400 parameter sets, more than the limit 300"]}),
    ({"metric": "luck"}, {"metric": None}),
    ({"strategy": "astrology"}, {"strategy": None}),
])
def test_a_bad_grid_is_a_400_naming_the_field(api_client, settings, changes, errors):
    settings.BACKTEST_GRID_MAX_SETS = 300
    response = api_client.post("/api/backtests/grids/", {**GRID_REQUEST, **changes},
                               format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body) == list(errors)
    for field, expected in errors.items():
        if isinstance(expected, dict):
            assert list(body[field]) == list(expected)
            if next(iter(expected.values())) is not None:
                assert body[field] == expected
        elif expected is not None:
            assert body[field] == expected
    assert not GridRun.objects.exists()


def test_cancelling_a_grid_cancels_its_pending_chunks_and_a_late_chunk_does_nothing(
        api_client, history, small_chunks):
    accepted = api_client.post("/api/backtests/grids/", GRID_REQUEST, format="json").json()
    grid = GridRun.objects.get(pk=accepted["id"])  # queued: its start was never committed
    response = api_client.delete(accepted["status_url"])
    assert response.status_code == 202 and response.json() == {"status": "cancelled"}
    assert api_client.delete(accepted["status_url"]).status_code == 409
    chunks = list(grid.chunks.all())
    assert {chunk.status for chunk in chunks} == {BacktestStatus.CANCELLED}
    assert research.run_grid_chunk(chunks[0].pk) == "not claimed"
    grid.refresh_from_db()
    assert grid.status == BacktestStatus.CANCELLED and grid.sets_done == 0


def test_a_failing_chunk_is_recorded_with_its_reason_and_the_grid_still_ends(
        api_client, history, small_chunks, monkeypatch, django_capture_on_commit_callbacks):
    evaluate = grids.evaluate_grid

    def second_chunk_breaks(strategy_class, parameter_sets, *args, **kwargs):
        if parameter_sets[0]["bb_period"] == 20:
            raise MemoryError("no room for the bands")
        return evaluate(strategy_class, parameter_sets, *args, **kwargs)

    monkeypatch.setattr(grids, "evaluate_grid", second_chunk_breaks)
    accepted = run_grid(api_client, django_capture_on_commit_callbacks)
    detail = api_client.get(accepted["status_url"]).json()
    assert detail["status"] == "completed"
    assert detail["error"] == ("chunk 1 (BTCUSDT 1h, sets 2-3) failed: MemoryError: no room "
                               "for the bands")
    results = api_client.get(f"{accepted['status_url']}results/").json()["results"]
    assert [row["set"] for row in results] == [0, 1, 4, 5]

    monkeypatch.setattr(grids, "evaluate_grid", lambda *a, **k: 1 / 0)
    detail = api_client.get(run_grid(api_client, django_capture_on_commit_callbacks)
                            ["status_url"]).json()
    assert detail["status"] == "failed" and detail["error"].count("ZeroDivisionError") == 3


def test_a_grid_that_cannot_start_fails_with_the_reason(
        api_client, history, monkeypatch, django_capture_on_commit_callbacks):
    # Say the chord cannot be sent (no result backend): the claimed grid must still end.
    def unsendable(grid_id):
        raise NotImplementedError("Starting chords requires a result backend to be configured")

    monkeypatch.setattr(research, "_send_grid", unsendable)
    detail = api_client.get(run_grid(api_client, django_capture_on_commit_callbacks)
                            ["status_url"]).json()
    assert detail["status"] == "failed"
    assert detail["error"] == ("failed to start: NotImplementedError: Starting chords requires "
                               "a result backend to be configured")


def test_a_chunk_whose_message_comes_back_while_running_is_failed(api_client, history):
    accepted = api_client.post("/api/backtests/grids/", GRID_REQUEST, format="json").json()
    chunk = GridChunk.objects.filter(grid_id=accepted["id"]).first()
    GridChunk.objects.filter(pk=chunk.pk).update(status=BacktestStatus.RUNNING)
    assert research.run_grid_chunk(chunk.pk) == "not claimed"
    chunk.refresh_from_db()
    assert chunk.status == BacktestStatus.FAILED and "worker stopped" in chunk.error


def test_a_walk_forward_reports_windows_and_out_of_sample_trades(
        api_client, history, django_capture_on_commit_callbacks):
    body = {**GRID_REQUEST, "parameters": {"expiry_bars": 12}, "train_bars": 200,
            "test_bars": 100}
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/backtests/walk-forward/", body, format="json")
    assert response.status_code == 202, response.content
    detail = api_client.get(response.json()["status_url"]).json()
    assert detail["status"] == "completed", detail["error"]
    assert detail["embargo_bars"] == 12 and detail["progress"] == 1.0
    windows = detail["windows"]
    assert len(windows) == 3  # 456 bars: tests start at 212, 312, 412
    assert [w["test_start"] - w["train_end"] for w in windows] == [12, 12, 12]
    assert detail["out_of_sample"]["trades"] == detail["trade_count"]
    trades = api_client.get(detail["trades_url"]).json()["results"]
    assert len(trades) == detail["trade_count"]
    assert all(windows[0]["test_from"] <= trade["signal_time"] for trade in trades)
    assert set(detail["in_sample"]) >= {"trades", "expectancy_r", "win_rate"}


def test_an_embargo_shorter_than_the_expiry_is_a_400(api_client):
    body = {**GRID_REQUEST, "train_bars": 200, "test_bars": 100, "embargo_bars": 5,
            "grid": {**GRID, "expiry_bars": [6, 24]}}
    response = api_client.post("/api/backtests/walk-forward/", body, format="json")
    assert response.status_code == 400
    assert "expiry_bars (24)" in response.json()["embargo_bars"][0]
    too_long = api_client.post("/api/backtests/walk-forward/",
                               {**GRID_REQUEST, "train_bars": 450, "test_bars": 10},
                               format="json")
    assert too_long.status_code == 400
    assert "no test window after 450 training and 48 embargo bars" in \
        too_long.json()["train_bars"][0]
    assert not WalkForward.objects.exists()


def command(*args: str) -> str:
    out = io.StringIO()
    call_command("backtest", "--strategy", "mean_reversion", "--asset", "BTCUSDT",
                 "--timeframe", "1h", "--from", START, "--to", END, "--no-progress", *args,
                 stdout=out)
    return out.getvalue()


def test_the_command_ranks_a_grid_and_plots_its_heatmap(history, tmp_path):
    data = json.loads(command("--grid", "bb_period=10:30:10", "--grid", "bb_deviations=1.5,2",
                              "--min-trades", "3", "--json"))
    assert [row["parameters"] for row in data["results"]][:2] == [
        {"bb_period": 10, "bb_deviations": 1.5}, {"bb_period": 10, "bb_deviations": 2.0}]
    ranked = grids.rank(data["results"], "expectancy_r", 3)
    assert data["ranking"] == [row["set"] for row in ranked]
    plot = tmp_path / "heat.png"
    text = command("--grid", "bb_period=10:30:10", "--grid", "bb_deviations=1.5,2",
                   "--min-trades", "3", "--plot", str(plot))
    assert "6 sets" in text and plot.read_bytes().startswith(b"\x89PNG")
    walk = command("--grid", "bb_period=10,20", "--walk-forward", "--train-bars", "200",
                   "--test-bars", "100", "--param", "expiry_bars=12", "--min-trades", "3")
    assert "out-of-sample (stitched)" in walk and "embargo 12" in walk


@pytest.mark.parametrize(("args", "message"), [
    (("--grid", "bb_period=1:20:5"), "--grid bb_period: 1 is below the minimum 2"),
    (("--grid", "bb_period"), "--grid: expected NAME=VALUES, got 'bb_period'"),
    (("--walk-forward",), "--walk-forward: needs a --grid to choose from"),
    (("--grid", "bb_period=10,20", "--walk-forward", "--test-bars", "5"),
     "--train-bars: needed with --walk-forward"),
])
def test_bad_grid_input_names_the_flag(args, message):
    with pytest.raises(CommandError) as error:
        command(*args)
    assert str(error.value) == message and error.value.returncode == 2


def test_the_research_page_renders_with_the_urls_its_script_reads(client, user):
    assert client.get("/backtests/research/").status_code == 302  # a login first
    client.force_login(user)
    response = client.get("/backtests/research/")
    assert response.status_code == 200
    assert response.context["config"]["research_urls"] == {
        "grids": "/api/backtests/grids/", "walk_forward": "/api/backtests/walk-forward/"}
    page = response.content.decode()
    assert "signals/research.js" in page and 'name="grid"' in page
    assert 'name="assets"' in page and '<select name="timeframes" multiple' in page
    assert 'id="heatmap-series"' in page
    assert '<option selected>expectancy_r</option>' in page
    assert '<a href="/backtests/research/" aria-current="page">Research</a>' in page


def test_the_admin_lists_grids_and_cancels_them(admin_client, api_client, history):
    accepted = api_client.post("/api/backtests/grids/", GRID_REQUEST, format="json").json()
    assert admin_client.get("/admin/backtests/gridrun/").status_code == 200
    assert admin_client.get(f"/admin/backtests/gridrun/{accepted['id']}/change/").status_code \
        == 200
    assert admin_client.get("/admin/backtests/walkforward/").status_code == 200
    admin_client.post("/admin/backtests/gridrun/", {"action": "cancel_unfinished",
                                                    "_selected_action": [accepted["id"]]})
    assert GridRun.objects.get(pk=accepted["id"]).status == BacktestStatus.CANCELLED


@pytest.mark.parametrize(("seconds_per_set", "reports"), [(0.01, 1), (0.3, 6)])
def test_a_chunk_reports_progress_at_most_every_quarter_second_and_after_its_last_set(
        api_client, history, settings, monkeypatch, django_capture_on_commit_callbacks,
        seconds_per_set, reports):
    settings.BACKTEST_GRID_CHUNK_SETS = 6  # the whole grid in one chunk
    clock = iter(range(1000))
    monkeypatch.setattr(research.time, "monotonic", lambda: next(clock) * seconds_per_set)
    with CaptureQueriesContext(connection) as queries:
        detail = api_client.get(run_grid(api_client, django_capture_on_commit_callbacks)
                                ["status_url"]).json()
    assert (detail["status"], detail["sets_done"]) == ("completed", 6)
    progress = [query["sql"] for query in queries.captured_queries
                if query["sql"].startswith('UPDATE "backtests_gridrun" SET "sets_done"')]
    assert len(progress) == reports


def test_a_cancel_stops_a_running_chunk_at_its_next_report(
        api_client, history, settings, monkeypatch, django_capture_on_commit_callbacks):
    settings.BACKTEST_GRID_CHUNK_SETS = 6
    evaluate = grids.evaluate_grid

    def cancelled_after_the_first_set(strategy_class, parameter_sets, candles, **kwargs):
        report = kwargs.pop("after_each")

        def cancel_then_report(result):
            GridRun.objects.update(status=BacktestStatus.CANCELLED)
            report(result)

        return evaluate(strategy_class, parameter_sets, candles, after_each=cancel_then_report,
                        **kwargs)

    monkeypatch.setattr(grids, "evaluate_grid", cancelled_after_the_first_set)
    monkeypatch.setattr(research, "PROGRESS_SECONDS", 0.0)
    grid_id = run_grid(api_client, django_capture_on_commit_callbacks)["id"]
    chunk = GridChunk.objects.get(grid_id=grid_id)
    assert chunk.status == BacktestStatus.CANCELLED and chunk.results == []
    assert GridRun.objects.get(pk=grid_id).sets_done == 0
