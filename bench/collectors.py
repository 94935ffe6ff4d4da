"""Collector hot paths, side by side with the naive alternative.

Run: .venv/bin/python bench/collectors.py
"""

import itertools
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.alphavantage import parse_time_series  # noqa: E402
from collectors.binance import parse_klines  # noqa: E402
from collectors.demo import DemoSource  # noqa: E402

HOUR_MS = 3_600_000
NOW = datetime(2024, 3, 14, 15, 9, tzinfo=UTC)


def sample_klines(count: int = 1000) -> list[list]:
    rows = []
    for k in range(count):
        close = 100 + (k % 17) * 0.25
        rows.append([
            k * HOUR_MS, f"{close - 0.1:.8f}", f"{close + 0.5:.8f}", f"{close - 0.5:.8f}",
            f"{close:.8f}", "12.34500000", (k + 1) * HOUR_MS - 1, "1234.5", 42, "6.1", "617.2", "0",
        ])  # fmt: skip
    return rows


def naive_parse_klines(payload: list[list]) -> pd.DataFrame:
    """What a first version usually looks like: one dict per row, then a DataFrame."""
    records = []
    for row in payload:
        records.append(
            {
                "open_time": pd.Timestamp(row[0], unit="ms", tz="UTC"),
                "open": float(row[1]),
                "high": float(row[2]),
                "low": float(row[3]),
                "close": float(row[4]),
                "volume": float(row[5]),
            }
        )
    return pd.DataFrame.from_records(records).set_index("open_time").sort_index()


def sample_time_series(count: int = 1000) -> dict:
    stamps = pd.date_range("2024-03-01 04:00", periods=count, freq="5min")
    return {
        "Meta Data": {"6. Time Zone": "US/Eastern"},
        "Time Series (5min)": {
            stamp.strftime("%Y-%m-%d %H:%M:%S"): {
                "1. open": "195.1000",
                "2. high": "195.7500",
                "3. low": "194.9800",
                "4. close": "195.5000",
                "5. volume": "96004",
            }
            for stamp in stamps
        },
    }


def microseconds(action: Callable[[], object], repeat: int = 30) -> tuple[float, float]:
    """(median, best) wall time of one call, in microseconds."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1e6)
    return statistics.median(timings), min(timings)


def main() -> None:
    klines = sample_klines()
    series = sample_time_series()
    fresh_seeds = itertools.count(10_000)  # a new seed per call: the block cache stays cold
    warm = DemoSource(seed=1, now=lambda: NOW)
    warm.fetch_candles("BTCUSDT", "1h", limit=1000)

    rows = [
        ("parse 1000 Binance klines (ours, numpy columns)", lambda: parse_klines(klines)),
        ("parse 1000 Binance klines (naive per-row pandas)", lambda: naive_parse_klines(klines)),
        ("parse 1000 Alpha Vantage bars (ours)", lambda: parse_time_series(series, "5m")),
        (
            "demo: 1000 bars, cold (new seed each call)",
            lambda: DemoSource(seed=next(fresh_seeds), now=lambda: NOW).fetch_candles(
                "BTCUSDT", "1h", limit=1000
            ),
        ),
        (
            "demo: 1000 bars, warm (block cache hit)",
            lambda: warm.fetch_candles("BTCUSDT", "1h", limit=1000),
        ),
        (
            "demo: 500 1d bars (720,000 minutes), cold",
            lambda: DemoSource(seed=next(fresh_seeds), now=lambda: NOW).fetch_candles(
                "BTCUSDT", "1d", limit=500
            ),
        ),
        (
            "demo: 500 1d stock sessions (AAPL), cold",
            lambda: DemoSource(seed=next(fresh_seeds), now=lambda: NOW).fetch_candles(
                "AAPL", "1d", limit=500
            ),
        ),
        (
            "demo: 500 5m bars from 1m (AAPL sessions), cold",
            lambda: DemoSource(seed=next(fresh_seeds), now=lambda: NOW).fetch_candles(
                "AAPL", "5m", limit=500
            ),
        ),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'case':<{width}}  {'median µs':>10}  {'best µs':>10}")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 10}")
    for name, action in rows:
        median, best = microseconds(action)
        print(f"{name:<{width}}  {median:>10.0f}  {best:>10.0f}")


if __name__ == "__main__":
    main()
