"""Parameter grid speed: vectorbt's parameter broadcasting against our grid on Celery workers.

Run: .venv/bin/python bench/grid.py [--bars 1000000] [--repeat 2]
Needs the integration stack (PostgreSQL on 127.0.0.1:5432, RabbitMQ on 5672, Redis on 6379) and
vectorbt (requirements-bench.txt). It uses its own database (botsinais_benchgrid, created and
migrated here), its own queue prefix and Redis key prefix, and starts and stops its own workers.

The workload: 64 parameter sets of the mean_reversion strategy (bb_period 10..45 step 5 x
bb_deviations 1.5..3.25 step 0.25; RSI 14 below 30 / above 70; stop 1.5 and target 3 ATR(14);
one position at a time) over 1,000,000 one-minute bars of one asset (a random walk).

- vectorbt: one process; BBANDS run with the 64 (window, alpha) pairs broadcast as columns
  (param_product), RSI and ATR once, the same long/short rules, Portfolio.from_signals with
  the ATR stop and target as per-bar fractions, then per column trade count, win rate,
  expectancy and total return. Its own engine, not ours: it enters on the bar's close and
  lets a stop or target end a trade on later bars, as ours does, but has no expiry; the trade
  counts differ a little for that reason. Timed from the prices in memory to the figures.
- ours, one process: strategies.grid.evaluate_grid on the same frame in memory: every figure
  of strategies/stats.py per set (the timing reference for what the workers add).
- CPU check: the same grid split over two plain forked processes (no Celery, no database):
  what a second process can gain on this machine at the time; on a busy or single-core
  machine it gains nothing, and neither can a second worker.
- ours on 1 and on 2 workers: POST-equivalent request (backtests.research.request_grid) to the
  grid's completion, with real celery worker processes (solo pool, one task at a time, one
  numba thread) on RabbitMQ and the chord's results in Redis: the period's completeness check,
  8 chunks of 8 sets, each worker reading the 1,000,000 candles from PostgreSQL once per grid,
  the results stored and ranked. Each worker runs a small grid first so its imports and
  compiled kernels are loaded, as on a worker that has been up for a while.

Goal: one worker at least 2x faster than vectorbt; two workers at least 1.8x faster than one.
Best of --repeat runs each: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "botsinais_benchgrid"
ENVIRONMENT = {
    "DJANGO_READ_ENV_FILE": "false",
    "DJANGO_HTTPS": "false",
    "DJANGO_SECRET_KEY": "bench-grid",
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
    "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
    "REDIS_URL": "redis://127.0.0.1:6379/2",
    "REDIS_KEY_PREFIX": "bench-grid",
    "CELERY_QUEUE_PREFIX": "bench-grid-",
    "MARKET_DATA_MODE": "demo",
    "NUMBA_NUM_THREADS": "1",
    "LOG_LEVEL": "WARNING",
}
for _name, _value in ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botsinais.settings")
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ASSET, TIMEFRAME = "BTCUSDT", "1m"
GRID = {"bb_period": "10:45:5", "bb_deviations": "1.5:3.25:0.25"}
BASE = {"rsi_period": 14, "atr_period": 14, "stop_atr": 1.5, "target_atr": 3.0}
CHUNK_SETS = 8


def create_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                         autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                    [DATABASE]).fetchone()
        if not exists:
            connection.execute(f"CREATE DATABASE {DATABASE}")


def stored_minutes(bars: int) -> pd.DataFrame:
    """The random walk, stored once as the demo record of ASSET 1m."""
    from backtest import random_minutes

    from market import store

    frame = random_minutes(bars)
    series = store.series_rows("demo", ASSET, TIMEFRAME)
    if series.count() != bars or not series.filter(open_time=frame.index[0]).exists():
        series.delete()
        store.insert_candles(frame, source="demo", asset=ASSET, timeframe=TIMEFRAME,
                             provider="bench")
    return frame


def vectorbt_grid(frame: pd.DataFrame) -> int:
    import vectorbt as vbt

    frame = frame.tz_localize(None)  # vectorbt wraps zone-aware indexes slowly (bench/backtest.py)
    close = frame["close"]
    windows = list(range(10, 50, 5))
    alphas = [float(value) for value in np.arange(1.5, 3.26, 0.25)]
    bands = vbt.BBANDS.run(close, window=windows, alpha=alphas, param_product=True)
    strength = vbt.RSI.run(close, window=BASE["rsi_period"]).rsi.to_numpy()
    average_range = vbt.ATR.run(frame["high"], frame["low"], close,
                                window=BASE["atr_period"], ewm=True).atr.to_numpy()
    prices = close.to_numpy()[:, None]
    longs = bands.lower.vbt.wrapper.wrap((prices < bands.lower.to_numpy())
                                         & (strength < 30)[:, None])
    shorts = bands.lower.vbt.wrapper.wrap((prices > bands.upper.to_numpy())
                                          & (strength > 70)[:, None])
    risk = (average_range / close.to_numpy())[:, None]
    portfolio = vbt.Portfolio.from_signals(
        close, entries=longs, short_entries=shorts, open=frame["open"], high=frame["high"],
        low=frame["low"], sl_stop=BASE["stop_atr"] * risk, tp_stop=BASE["target_atr"] * risk,
        upon_opposite_entry="ignore", init_cash=1.0, size=np.inf, freq="1min")
    closed = portfolio.trades.closed
    figures = pd.DataFrame({"trades": closed.count(), "win_rate": closed.win_rate(),
                            "expectancy": closed.expectancy(),
                            "return": portfolio.total_return()})
    assert len(figures) == 64
    return int(figures["trades"].sum())


def grid_spec(frame: pd.DataFrame, bars: int | None = None):
    from backtests import research

    end = frame.index[(bars or len(frame)) - 1] + pd.Timedelta(minutes=1)
    return research.check_grid(
        grid=GRID, strategy="mean_reversion", asset=ASSET, timeframe=TIMEFRAME,
        start=frame.index[0].isoformat(), end=end.isoformat(), parameters=BASE,
        mode="one_position", fee_percent=0.0, minimum_trades=30, now=end)


def in_process_grid(frame: pd.DataFrame) -> tuple[int, list]:
    from strategies import grid as grids

    spec = grid_spec(frame)
    results = grids.evaluate_grid(type(spec.backtest.strategy), spec.grid.parameter_sets, frame,
                                  varied=spec.grid.varied, mode="one_position",
                                  timeframe_seconds=60)
    return sum(result.statistics["trades"] for result in results), results


def _evaluate_half(half: int) -> float:
    """Half of the grid on the frame in memory (a forked child of in_process_halves)."""
    from strategies import grid as grids

    spec, frame = _HALVES
    sets = spec.grid.parameter_sets
    sets = sets[:len(sets) // 2] if half == 0 else sets[len(sets) // 2:]
    started = time.perf_counter()
    grids.evaluate_grid(type(spec.backtest.strategy), sets, frame, varied=spec.grid.varied,
                        mode="one_position", timeframe_seconds=60)
    return time.perf_counter() - started


_HALVES: tuple = ()


def in_process_halves(frame: pd.DataFrame) -> tuple[int, None]:
    """The CPU check: the grid split over two plain forked processes, no Celery, no database.
    What two processes can gain on this machine at all, right now."""
    global _HALVES
    from multiprocessing import get_context

    _HALVES = (grid_spec(frame), frame)
    with get_context("fork").Pool(2) as pool:
        pool.map(_evaluate_half, [0, 1])
    return 0, None


def worker_grid(spec) -> tuple[int, list]:
    """Request the grid and wait for the chord to end; the stored results."""
    from backtests import research
    from backtests.models import BacktestStatus, GridRun

    grid_id = research.request_grid(spec).pk
    while True:
        grid = GridRun.objects.get(pk=grid_id)
        if grid.is_finished:
            break
        time.sleep(0.02)
    if grid.status != BacktestStatus.COMPLETED or grid.error:
        raise RuntimeError(f"grid {grid_id} {grid.status}: {grid.error}")
    return sum(row["statistics"]["trades"] for row in grid.results), grid.results


class Workers:
    """N celery worker processes on the backtests queue, one task at a time each."""

    def __init__(self, count: int, logs: Path) -> None:
        from django.conf import settings

        from botsinais.celery import app

        app.control.purge()
        queue = settings.TASK_QUEUE_NAMES["backtests"]
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "botsinais", "worker", "-Q", queue,
                 "--pool", "solo", "--loglevel", "WARNING", "--without-gossip",
                 "--without-mingle", "--without-heartbeat", "-n", f"bench-{count}-{i}@%h"],
                cwd=ROOT, env=dict(os.environ), stdout=open(logs / f"worker-{count}-{i}.log", "w"),
                stderr=subprocess.STDOUT)
            for i in range(count)]
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=1)) < count:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not answer a ping in time")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(30)


def best_of(runs: int, func):
    best, outcome = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        outcome = func()
        best = min(best, time.perf_counter() - started)
    return best, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    options = parser.parse_args()

    create_database()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    settings.BACKTEST_GRID_CHUNK_SETS = CHUNK_SETS
    frame = stored_minutes(options.bars)
    spec = grid_spec(frame)
    sets = len(spec.grid.parameter_sets)
    print(f"{sets} parameter sets of mean_reversion x {len(frame):,} one-minute bars, one "
          f"asset; chunks of {CHUNK_SETS} sets; best of {options.repeat}\n")

    vectorbt_grid(frame.iloc[:5000])  # compile vectorbt's kernels first
    in_process_grid(frame.iloc[:5000])
    rows = [("vectorbt (broadcast, 1 process)", *best_of(options.repeat,
                                                         lambda: (vectorbt_grid(frame), None)))]
    rows.append(("ours, 1 process (no Celery)", *best_of(options.repeat,
                                                         lambda: in_process_grid(frame))))
    reference = rows[-1][2][1]
    rows.append(("CPU check: 2 plain processes", *best_of(options.repeat,
                                                          lambda: in_process_halves(frame))))
    with tempfile.TemporaryDirectory() as logs:
        for count in (1, 2):
            workers = Workers(count, Path(logs))
            try:
                worker_grid(grid_spec(frame, bars=20_000))  # 8 chunks: every worker warms up
                rows.append((f"ours, {count} worker{'s' if count > 1 else ''} (Celery)",
                             *best_of(options.repeat, lambda: worker_grid(spec))))
            finally:
                workers.stop()
            stored = rows[-1][2][1]
            assert [row["statistics"] for row in stored] == [
                result.statistics for result in reference], "workers disagree with in-process"

    vectorbt_seconds = rows[0][1]
    one_worker = next(seconds for name, seconds, _ in rows if "1 worker" in name)
    one_process = next(seconds for name, seconds, _ in rows if "1 process (no" in name)
    header = (f"{'engine':<32} {'seconds':>8} {'combos/s':>9} {'trades':>11} "
              f"{'vs vectorbt':>12} {'vs 1 of its':>12}")
    print(header)
    print("-" * len(header))
    for name, seconds, (trades, _) in rows:
        against_one = (f"{one_worker / seconds:>11.2f}x" if "worker" in name
                       else f"{one_process / seconds:>11.2f}x" if "plain" in name
                       else f"{'':>12}")
        shown = f"{trades:>11,}" if trades else f"{'-':>11}"
        print(f"{name:<32} {seconds:>8.2f} {sets / seconds:>9.2f} {shown} "
              f"{vectorbt_seconds / seconds:>11.2f}x {against_one}")
    print("\nvs 1 of its kind: workers against 1 worker; the CPU check against ours in 1 process "
          "(about 2x only when two cores are free)")


if __name__ == "__main__":
    main()
