"""A grid's candles are read from the database once per period and version: each worker keeps
the frames it read, and on the full stack the shared cache (Redis) hands them to the others
(market.store.share_period_candles / shared_period_candles)."""

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from market import store
from strategies.warmup import synthetic_candles

pytestmark = pytest.mark.django_db(transaction=True)

START = pd.Timestamp("2026-01-01", tz="UTC")
SERIES = {"source": "demo", "asset": "BTCUSDT", "timeframe": "1h"}


@pytest.fixture
def period():
    frame = synthetic_candles(500, 3, step=0.01, freq="h", start=START)
    store.insert_candles(frame, **SERIES)
    return frame.index[0], frame.index[-1]


def read(start, end):
    """shared_period_candles at the period's current version, and the queries it made."""
    version = store.period_version(**SERIES, start=start, end=end)
    with CaptureQueriesContext(connection) as queries:
        frame = store.shared_period_candles(**SERIES, start=start, end=end, version=version)
    return frame, len(queries)


def test_a_worker_reads_a_period_once_per_version(period):
    first, queries = read(*period)
    assert queries == 1 and len(first) == 500
    again, queries = read(*period)
    assert queries == 0 and again is first
    # A bar removed and stored again (a revision) is a new version: read afresh.
    bar = store.series_rows(**SERIES).order_by("open_time").first()
    revised = first.iloc[:1].copy()
    revised["volume"] += 1.0
    bar.delete()
    store.insert_candles(revised, **SERIES)
    changed, queries = read(*period)
    assert queries == 1
    assert changed["volume"].iloc[0] == first["volume"].iloc[0] + 1.0


def test_a_longer_period_is_another_frame(period):
    start, end = period
    short, _ = read(start, end - pd.Timedelta(hours=100))
    full, queries = read(start, end)
    assert queries == 1 and (len(short), len(full)) == (400, 500)


@pytest.mark.integration
def test_the_other_workers_take_the_period_from_the_shared_cache(period):
    start, end = period
    version = store.period_version(**SERIES, start=start, end=end)
    store.share_period_candles(**SERIES, start=start, end=end, version=version)
    stored = store.stored_period_candles(**SERIES, start=start, end=end)
    store._period_frames.clear()  # as in another worker process
    with CaptureQueriesContext(connection) as queries:
        frame = store.shared_period_candles(**SERIES, start=start, end=end, version=version)
    assert len(queries) == 0
    pd.testing.assert_frame_equal(frame, stored)
    assert frame.attrs == stored.attrs
    # Sharing again finds it there: no read of the database.
    store._period_frames.clear()
    with CaptureQueriesContext(connection) as queries:
        store.share_period_candles(**SERIES, start=start, end=end, version=version)
    assert len(queries) == 0


def test_a_frame_holds_the_candles_of_its_version_or_none(period):
    start, end = period
    late = store.series_rows(**SERIES).order_by("open_time")[250]
    bar = store.stored_candles(**SERIES, start=late.open_time, end=late.open_time)
    late.delete()
    version = store.period_version(**SERIES, start=start, end=end)
    store.insert_candles(bar, **SERIES)  # stored after the version was taken: left out
    frame = store.shared_period_candles(**SERIES, start=start, end=end, version=version)
    assert len(frame) == 499 and bar.index[0] not in frame.index
    store._period_frames.clear()
    store.series_rows(**SERIES).order_by("open_time").first().delete()
    with pytest.raises(store.PeriodChanged, match="498 bars where there were 499"):
        store.shared_period_candles(**SERIES, start=start, end=end, version=version)
