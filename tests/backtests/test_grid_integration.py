"""A grid on the full stack: its chunks are a Celery chord on RabbitMQ (results in Redis), taken
by two real worker processes at once; a cancel revokes the chunks still pending; a grid over
several assets and timeframes gives each series' rows exactly its single backtests."""

import os
import time

import pandas as pd
import pytest

import collectors
from backtests.models import BacktestStatus, GridChunk, GridRun, json_safe
from market import store
from strategies import grid as grids
from strategies.backtest import run_backtest
from strategies.mean_reversion import MeanReversion
from tests.conftest import celery_worker, wait_until
from tests.test_grid import random_walk

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

START = pd.Timestamp("2025-06-02", tz="UTC")
BARS = 200_000
GRID = {"bb_period": "10:45:5", "bb_deviations": [1.5, 2.0, 2.5, 3.0]}  # 32 sets
BODY = {"strategy": "mean_reversion", "asset": "BTCUSDT", "timeframe": "1m",
        "start": START.isoformat(),
        "end": (START + pd.Timedelta(minutes=BARS)).isoformat(), "grid": GRID,
        "minimum_trades": 10}


@pytest.fixture
def minutes(binance):
    """BARS stored 1m candles of a random walk: the workers' backfill finds nothing to fetch."""
    store.insert_candles(random_walk(BARS, 7, freq="1min", start=START.isoformat()),
                         source="live", asset="BTCUSDT", timeframe="1m", provider="binance")


@pytest.fixture
def second_worker(celery_worker_process, make_httpserver):
    with celery_worker(make_httpserver, f"pytest-second-{os.getpid()}",
                       "celery-worker-2.log") as worker:
        yield worker


def finished(grid_id: int) -> GridRun | None:
    grid = GridRun.objects.get(pk=grid_id)
    return grid if grid.is_finished else None


def test_two_workers_share_a_grid_and_its_chord_ranks_every_set(
        api_client, minutes, second_worker, settings):
    settings.BACKTEST_GRID_CHUNK_SETS = 2
    response = api_client.post("/api/backtests/grids/", BODY, format="json")
    assert response.status_code == 202, response.content
    grid = wait_until(lambda: finished(response.json()["id"]), timeout=180)
    assert grid.status == BacktestStatus.COMPLETED, grid.error
    assert (grid.set_count, grid.sets_done, grid.chunk_count) == (32, 32, 16)
    assert [row["set"] for row in grid.results] == list(range(32))
    assert grid.ranking and grid.error == ""
    chunks = GridChunk.objects.filter(grid=grid)
    assert set(chunks.values_list("status", flat=True)) == {BacktestStatus.COMPLETED}
    # Both worker processes took chunks of the one grid.
    assert len(set(chunks.values_list("worker", flat=True))) == 2
    detail = api_client.get(f"/api/backtests/grids/{grid.pk}/").json()
    assert detail["ranking"][0] == grid.results[grid.ranking[0]]


def test_cancelling_a_grid_revokes_its_pending_chunks(
        api_client, minutes, celery_worker_process, settings):
    from botsinais.celery import app

    settings.BACKTEST_GRID_CHUNK_SETS = 1
    response = api_client.post("/api/backtests/grids/", BODY, format="json")
    grid_id = response.json()["id"]
    wait_until(lambda: GridRun.objects.get(pk=grid_id).sets_done >= 1, timeout=120,
               interval=0.02)
    assert api_client.delete(f"/api/backtests/grids/{grid_id}/").status_code == 202
    pending = set(GridChunk.objects.filter(grid_id=grid_id, started_at=None)
                  .values_list("task_id", flat=True))
    assert pending, "every chunk had started: nothing left to revoke"
    revoked = set().union(*(ids for ids in (app.control.inspect(timeout=2).revoked() or {})
                            .values()))
    assert pending <= revoked
    time.sleep(1)  # a worker would have claimed a chunk that was not revoked by now
    wait_until(lambda: not GridChunk.objects.filter(
        grid_id=grid_id, status=BacktestStatus.RUNNING).exists(), timeout=60)
    assert not GridChunk.objects.filter(task_id__in=pending).exclude(started_at=None).exists()
    grid = GridRun.objects.get(pk=grid_id)
    assert grid.status == BacktestStatus.CANCELLED and grid.sets_done < grid.set_count


def test_a_long_period_reads_the_same_candles_as_the_orm(minutes):
    end = START + pd.Timedelta(minutes=BARS)
    fast = store.stored_period_candles("live", "BTCUSDT", "1m", START, end)
    pd.testing.assert_frame_equal(fast, store.stored_candles("live", "BTCUSDT", "1m",
                                                             start=START, end=end))
    assert fast.attrs["source"] == "live" and len(fast) == BARS
    empty = store.stored_period_candles("live", "ETHUSDT", "1m", START, end)
    assert empty.empty and empty.attrs["source"] == "live"


SERIES = [("BTCUSDT", "1h"), ("BTCUSDT", "4h"), ("ETHUSDT", "1h"), ("ETHUSDT", "4h")]
SERIES_START = pd.Timestamp("2025-01-06", tz="UTC")
SERIES_END = SERIES_START + pd.Timedelta(days=200)


@pytest.fixture
def four_series(binance):
    """200 days of a different random walk per series, stored: nothing left to fetch."""
    for seed, (asset, timeframe) in enumerate(SERIES, start=11):
        hours = 1 if timeframe == "1h" else 4
        store.insert_candles(random_walk(200 * 24 // hours, seed, freq=f"{hours}h",
                                         start=SERIES_START.isoformat()),
                             source="live", asset=asset, timeframe=timeframe, provider="binance")


def test_a_grid_over_two_assets_and_two_timeframes_equals_single_backtests_of_each_series(
        api_client, four_series, celery_worker_process, settings):
    settings.BACKTEST_GRID_CHUNK_SETS = 3
    body = {"strategy": "mean_reversion", "assets": "BTCUSDT,ETHUSDT", "timeframes": ["1h", "4h"],
            "start": SERIES_START.isoformat(), "end": SERIES_END.isoformat(),
            "grid": {"bb_period": [15, 30], "bb_deviations": [1.5, 2.0]}, "minimum_trades": 5,
            "mode": "one_position"}
    response = api_client.post("/api/backtests/grids/", body, format="json")
    assert response.status_code == 202, response.content
    grid = wait_until(lambda: finished(response.json()["id"]), timeout=180)
    assert grid.status == BacktestStatus.COMPLETED, grid.error
    assert (grid.set_count, grid.backtest_count, grid.sets_done, grid.chunk_count) == \
        (4, 16, 16, 8)
    assert [(s["asset"], s["timeframe"], s["candles"]) for s in grid.series] == [
        (asset, timeframe, 200 * 24 // (1 if timeframe == "1h" else 4))
        for asset, timeframe in SERIES]
    assert [(row["asset"], row["timeframe"], row["set"]) for row in grid.results] == [
        (asset, timeframe, place) for asset, timeframe in SERIES for place in range(4)]
    sets = grids.expand_grid(MeanReversion, body["grid"], max_sets=10).parameter_sets
    for row in grid.results:
        fee = grid.fee_of(row["asset"], row["timeframe"])
        assert fee == 0.1  # the fee schedule's for crypto, as a single backtest pays
        candles = store.stored_candles("live", row["asset"], row["timeframe"],
                                       start=SERIES_START, end=SERIES_END - pd.Timedelta(1))
        single = run_backtest(MeanReversion(**sets[row["set"]]), candles, fee_percent=fee,
                              mode="one_position",
                              timeframe_seconds=collectors.timeframe_seconds(row["timeframe"]))
        assert row["statistics"] == pytest.approx(json_safe(single.statistics), nan_ok=True)
    ranked = grids.rank(grid.results, grid.metric, grid.minimum_trades)
    assert [grid.results[place] for place in grid.ranking] == ranked
    filtered = api_client.get(f"/api/backtests/grids/{grid.pk}/results/?asset=ETHUSDT"
                              "&timeframe=4h").json()["results"]
    assert filtered == grid.results[12:]
