"""The candle store: stored candles first, the market data source only for what is missing.

The one read path for candles: analyses, the candles API and settlement all read here.
load_candles: cache -> stored candles -> fetch the missing tail -> store it -> the most recent
closed candles; candles_after: the closed candles after a moment, for settling signals.
A series is (source, asset, timeframe) with source the data source the platform runs on
(MARKET_DATA_MODE: demo or live; market.models.DataSource), fetched through the collector
configured for the asset (its provider). Demo candles are stored too: the demo source is
deterministic, a stored demo bar never disagrees with a fresh one.

Writes insert new bars and keep stored ones (only closed bars are stored, they do not change):
PostgreSQL gets a binary COPY into a temporary table, then an INSERT of the bars not stored yet
(ON CONFLICT DO NOTHING when a concurrent writer got there first); other databases get batched
bulk_create(ignore_conflicts=True).
"""

import hashlib
import logging
import math
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max

import collectors
from collectors.frames import COLUMNS, empty_candles
from collectors.timeframes import (
    bar_index_at,
    bar_open_times,
    first_bar_index_from,
    to_utc,
    utc_now,
)
from market.models import Candle, running_data_source

log = logging.getLogger(__name__)

# Providers trading around the clock: a gap in their series is missing data, not a closure.
CONTINUOUS_PROVIDERS = frozenset({"binance", "demo"})
# A frame missing its newest bars (upstream lag, market closed) is cached this long at most.
INCOMPLETE_FRAME_SECONDS = 60
BULK_BATCH_SIZE = 2000
BACKFILL_PAGE_BARS = 1000  # one Binance klines page

Gap = tuple[pd.Timestamp, pd.Timestamp]


def candle_source(asset: str) -> collectors.CandleSource:
    """The configured collector for an asset."""
    return collectors.source_for(
        asset,
        settings.MARKET_DATA_MODE,
        binance_base_url=settings.BINANCE_BASE_URL,
        alphavantage_base_url=settings.ALPHAVANTAGE_BASE_URL,
        alphavantage_api_key=settings.ALPHAVANTAGE_API_KEY or None,
        timeout=settings.MARKET_DATA_TIMEOUT,
    )


# ---- reading ----


def load_candles(
    asset: str, timeframe: str, limit: int | None = None, *, now: datetime | None = None
) -> pd.DataFrame:
    """The most recent `limit` closed candles of the asset from the running source.

    limit defaults to ANALYSIS_CANDLES, enough for every strategy's warm-up.

    Served from the cache when this bar's frame is there; otherwise from the stored candles,
    after fetching the bars newer than the last stored one (all `limit` when none are stored).
    Gaps are logged and listed in frame.attrs["gaps"], never filled.
    collectors.MarketDataError from the source propagates.
    """
    limit = limit or settings.ANALYSIS_CANDLES
    source = candle_source(asset)
    now = to_utc(now or utc_now())
    last_closed = bar_index_at(now, timeframe) - 1
    key = cache_key(source, asset, timeframe, limit, last_closed)
    frame = cache_get(key)
    if frame is not None:
        return frame

    series = {"source": running_data_source(), "asset": asset, "timeframe": timeframe}
    newest = newest_stored(**series)
    if newest is None:
        fetched = source.fetch_candles(asset, timeframe, limit=limit)
    elif bar_index_at(newest, timeframe) < last_closed:
        # Only the tail: from the bar after the newest stored one (at most `limit` bars).
        fetched = source.fetch_candles(
            asset, timeframe, start=bar_after(newest, timeframe), limit=limit
        )
    else:
        fetched = empty_candles()
    if len(fetched):
        insert_candles(fetched, **series, provider=source.name)

    last_open = bar_open_times(np.array([last_closed]), timeframe)[0]
    frame = stored_candles(**series, end=last_open, limit=limit)
    report_gaps(frame, source.name, asset, timeframe)
    if len(frame):
        complete = frame.index[-1] == last_open
        cache_set(key, frame, cache_seconds(timeframe, last_closed, now, complete=complete))
    return frame


def candles_after(
    asset: str, timeframe: str, after: datetime, *, now: datetime | None = None
) -> pd.DataFrame:
    """The closed candles of the running source that open after `after`, oldest first.

    What settlement walks. The store fetches what it lacks through the configured source:
    the tail after the newest stored bar, or the whole range when the store does not reach
    back to the first bar after `after`. Gaps are listed in frame.attrs["gaps"], never filled.
    collectors.MarketDataError from the source propagates.
    """
    source = candle_source(asset)
    now = to_utc(now or utc_now())
    last_closed = bar_index_at(now, timeframe) - 1
    first = first_bar_index_from(to_utc(after) + pd.Timedelta(microseconds=1), timeframe)
    if first > last_closed:
        return empty_candles()
    series = {"source": running_data_source(), "asset": asset, "timeframe": timeframe}
    start, last_open = bar_open_times(np.array([first, last_closed]), timeframe)
    newest = newest_stored(**series)
    reaches_back = series_rows(**series, end=start).exists()
    if newest is None or not reaches_back or bar_index_at(newest, timeframe) < first:
        fetched = source.fetch_candles(asset, timeframe, start=start, end=last_open)
    elif bar_index_at(newest, timeframe) < last_closed:
        fetched = source.fetch_candles(
            asset, timeframe, start=bar_after(newest, timeframe), end=last_open
        )
    else:
        fetched = empty_candles()
    if len(fetched):
        insert_candles(fetched, **series, provider=source.name)
    frame = stored_candles(**series, start=start, end=last_open)
    report_gaps(frame, source.name, asset, timeframe)
    return frame


def newest_stored(source: str, asset: str, timeframe: str) -> datetime | None:
    rows = Candle.objects.filter(source=source, asset=asset, timeframe=timeframe)
    return rows.order_by("-open_time").values_list("open_time", flat=True).first()


def bar_after(open_time: datetime, timeframe: str) -> pd.Timestamp:
    return bar_open_times(np.array([bar_index_at(open_time, timeframe) + 1]), timeframe)[0]


def stored_candles(
    source: str,
    asset: str,
    timeframe: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
    newest_id: int | None = None,
) -> pd.DataFrame:
    """Stored candles in [start, end], the most recent `limit` of them, as a candle frame;
    only those stored up to the row newest_id when given (a period's version)."""
    rows = series_rows(source, asset, timeframe, start, end, newest_id)
    rows = rows.order_by("-open_time").values_list("open_time", *COLUMNS)
    if limit is not None:
        rows = rows[:limit]
    frame = frame_from_rows(list(rows)[::-1])
    frame.attrs["source"] = source  # refine() checks a bar and its finer candles agree on it
    return frame


def series_rows(source: str, asset: str, timeframe: str, start=None, end=None,
                newest_id: int | None = None):
    """The stored candles of one series with open times in [start, end] (either may be None),
    stored up to the row newest_id when given."""
    rows = Candle.objects.filter(source=source, asset=asset, timeframe=timeframe)
    if start is not None:
        rows = rows.filter(open_time__gte=start)
    if end is not None:
        rows = rows.filter(open_time__lte=end)
    if newest_id is not None:
        rows = rows.filter(id__lte=newest_id)
    return rows


def period_version(source: str, asset: str, timeframe: str, start, end) -> tuple[int, int]:
    """(count, newest id) of the stored candles opening in [start, end]: equal versions mean
    equal candles. The store only adds bars (insert_candles keeps a stored one, the admin is
    read-only): a bar removed and stored again comes back with a new, higher id."""
    version = series_rows(source, asset, timeframe, start, end).aggregate(
        count=Count("id"), newest=Max("id"))
    return version["count"], version["newest"] or 0


def frame_from_rows(rows: list[tuple]) -> pd.DataFrame:
    if not rows:
        return empty_candles()
    times, *values = zip(*rows, strict=True)
    index = pd.DatetimeIndex(pd.to_datetime(list(times), utc=True), name="open_time")
    frame = pd.DataFrame(
        np.array(values, dtype=np.float64).T, index=index.as_unit("ns"), columns=COLUMNS
    )
    frame.attrs["rejected"] = 0
    return frame


def find_stored_gaps(
    source: str,
    asset: str,
    timeframe: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Gap]:
    """Missing bars between the first and last stored bar in [start, end] (see find_gaps)."""
    rows = series_rows(source, asset, timeframe, start, end)
    times = list(rows.order_by("open_time").values_list("open_time", flat=True))
    index = pd.DatetimeIndex(pd.to_datetime(times, utc=True), name="open_time")
    return collectors.find_gaps(pd.DataFrame(index=index), timeframe)


def missing_bars(gaps: list[Gap], timeframe: str) -> int:
    return sum(
        bar_index_at(last, timeframe) - bar_index_at(first, timeframe) + 1 for first, last in gaps
    )


def trades_around_the_clock(provider: str, asset: str) -> bool:
    """Whether a gap in this series is missing data rather than a closed market."""
    if provider == "demo":  # the demo market's stocks keep exchange hours
        listing = collectors.CATALOGUE.get(asset)
        return listing is not None and listing.session is None
    return provider in CONTINUOUS_PROVIDERS


def report_gaps(frame: pd.DataFrame, provider: str, asset: str, timeframe: str) -> None:
    """List gaps in frame.attrs["gaps"]; log them as a warning where no closure explains them."""
    gaps = collectors.find_gaps(frame, timeframe)
    frame.attrs["gaps"] = gaps
    if gaps and trades_around_the_clock(provider, asset):
        log.warning(
            "%s %s from %s: %d missing bar(s) in %d gap(s), first %s to %s; not filled",
            asset,
            timeframe,
            provider,
            missing_bars(gaps, timeframe),
            len(gaps),
            gaps[0][0].isoformat(),
            gaps[0][1].isoformat(),
        )


# ---- the cache ----


def cache_key(
    source: collectors.CandleSource, asset: str, timeframe: str, limit: int, last_closed: int
) -> str:
    # The upstream address is part of a source's identity: a proxy or testnet serves other data.
    upstream = hashlib.blake2b(getattr(source, "base_url", "").encode(), digest_size=4)
    return (
        f"market:candles:{source.name}:{upstream.hexdigest()}:{asset}:{timeframe}:{limit}:"
        f"{last_closed}"
    )


def cache_seconds(timeframe: str, last_closed: int, now: pd.Timestamp, *, complete: bool) -> int:
    """Until the open bar closes: then the key (which names the last closed bar) is stale."""
    closes_at = bar_open_times(np.array([last_closed + 2]), timeframe)[0]
    seconds = max(1, math.ceil((closes_at - now).total_seconds()))
    return seconds if complete else min(seconds, INCOMPLETE_FRAME_SECONDS)


def cache_get(key: str) -> pd.DataFrame | None:
    try:
        return cache.get(key)
    except Exception as exc:  # an unreachable cache slows analyses down, it does not stop them
        log.warning("candle cache unavailable (%s: %s)", type(exc).__name__, exc)
        return None


def cache_set(key: str, frame: pd.DataFrame, seconds: int) -> None:
    try:
        cache.set(key, frame, seconds)
    except Exception as exc:
        log.warning("candle cache unavailable (%s: %s)", type(exc).__name__, exc)


# ---- writing ----


def insert_candles(
    frame: pd.DataFrame, *, source: str, asset: str, timeframe: str, provider: str = ""
) -> int:
    """Store the frame's candles, keeping bars already stored; the number of rows added.

    The frame is a clean candle frame (collectors' contract, or the importer's output);
    source is its data source (market.models.DataSource), provider who served it.
    """
    if frame.empty:
        return 0
    series = {"source": source, "asset": asset, "timeframe": timeframe, "provider": provider}
    if connection.vendor == "postgresql":
        return copy_insert(frame, **series)
    return bulk_create_insert(frame, **series)


def bulk_create_insert(
    frame: pd.DataFrame,
    *,
    source: str,
    asset: str,
    timeframe: str,
    provider: str = "",
    batch_size: int = BULK_BATCH_SIZE,
) -> int:
    series = Candle.objects.filter(
        source=source,
        asset=asset,
        timeframe=timeframe,
        open_time__range=(frame.index.min(), frame.index.max()),
    )
    rows = zip(frame.index.to_pydatetime(), *(frame[c].tolist() for c in COLUMNS), strict=True)
    candles = (
        Candle(
            source=source,
            provider=provider,
            asset=asset,
            timeframe=timeframe,
            open_time=t,
            open=o,
            high=h,
            low=lo,
            close=c,
            volume=v,
        )
        for t, o, h, lo, c, v in rows
    )
    with transaction.atomic():
        # bulk_create does not say how many rows it skipped; count the range before and after.
        before = series.count()
        Candle.objects.bulk_create(candles, batch_size=batch_size, ignore_conflicts=True)
        return series.count() - before


_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC, where PostgreSQL timestamps count from
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_COPY_ROW = np.dtype(
    [("fields", ">i2"), ("time_size", ">i4"), ("time", ">i8")]
    + [item for c in COLUMNS for item in ((f"{c}_size", ">i4"), (c, ">f8"))]
)
_LOAD_TABLE = "market_candle_load"


def binary_copy_rows(frame: pd.DataFrame) -> bytes:
    """The frame in PostgreSQL's binary COPY format, built column-wise with numpy."""
    rows = np.empty(len(frame), dtype=_COPY_ROW)
    rows["fields"] = 1 + len(COLUMNS)
    rows["time_size"] = 8
    rows["time"] = pd.DatetimeIndex(frame.index).as_unit("us").asi8 - _PG_EPOCH_US
    for column in COLUMNS:
        rows[f"{column}_size"] = 8
        rows[column] = frame[column].to_numpy(np.float64)
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


def copy_insert(
    frame: pd.DataFrame, *, source: str, asset: str, timeframe: str, provider: str = ""
) -> int:
    table = Candle._meta.db_table
    columns = ", ".join(COLUMNS)
    insert = (
        f"INSERT INTO {table} (source, asset, timeframe, provider, open_time, {columns}) "
        f"SELECT %s, %s, %s, %s, open_time, {columns} FROM {_LOAD_TABLE} AS new "
    )
    series = [source, asset, timeframe]
    with transaction.atomic(), connection.cursor() as cursor:
        # One temporary table per connection, emptied before each use.
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_LOAD_TABLE} "
            "(open_time timestamptz, open float8, high float8, low float8, close float8, "
            "volume float8)"
        )
        cursor.execute(f"TRUNCATE {_LOAD_TABLE}")
        with cursor.cursor.copy(f"COPY {_LOAD_TABLE} FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(binary_copy_rows(frame))
        try:
            # Fast path: drop stored bars with one anti-join, then a plain insert. ON CONFLICT
            # alone checks every row speculatively and takes about twice as long.
            with transaction.atomic():
                cursor.execute(
                    insert + f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS old "
                    "WHERE old.source = %s AND old.asset = %s AND old.timeframe = %s "
                    "AND old.open_time BETWEEN %s AND %s AND old.open_time = new.open_time)",
                    [*series, provider, *series, frame.index.min(), frame.index.max()],
                )
        except IntegrityError:
            # A concurrent writer stored some of these bars after our snapshot (or the frame
            # repeats a bar): let the unique index decide row by row.
            cursor.execute(
                insert + "ON CONFLICT (source, asset, timeframe, open_time) DO NOTHING",
                [*series, provider],
            )
        return cursor.rowcount


# ---- backfill ----


@dataclass
class BackfillResult:
    source: str  # the data source the candles are stored under (demo, live)
    provider: str  # who served them (binance, alphavantage, demo)
    bars: int = 0  # bar slots in the range
    fetched: int = 0
    inserted: int = 0
    gaps: list[Gap] = field(default_factory=list)


def backfill(
    asset: str,
    timeframe: str,
    start: datetime,
    *,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BackfillResult:
    """Fetch and store the closed bars from start to now, page by page.

    Pages already complete in the store are not fetched again. Alpha Vantage serves its whole
    range in one call, so it gets one page. progress(bars done, bars in range) follows each
    page. collectors.MarketDataError propagates.
    """
    source = candle_source(asset)
    now = to_utc(now or utc_now())
    first = first_bar_index_from(start, timeframe)
    last = bar_index_at(now, timeframe) - 1
    result = BackfillResult(
        source=running_data_source(), provider=source.name, bars=max(0, last - first + 1)
    )
    page_bars = BACKFILL_PAGE_BARS if source.name != "alphavantage" else max(1, result.bars)
    series = {"source": running_data_source(), "asset": asset, "timeframe": timeframe}
    for page_first in range(first, last + 1, page_bars):
        page_last = min(page_first + page_bars - 1, last)
        page_start, page_end = bar_open_times(np.array([page_first, page_last]), timeframe)
        stored = Candle.objects.filter(**series, open_time__range=(page_start, page_end)).count()
        if stored < page_last - page_first + 1:
            frame = source.fetch_candles(asset, timeframe, start=page_start, end=page_end)
            result.fetched += len(frame)
            result.inserted += insert_candles(frame, **series, provider=source.name)
        if progress:
            progress(page_last - page_first + 1, result.bars)
    if result.bars:
        range_start, range_end = bar_open_times(np.array([first, last]), timeframe)
        result.gaps = find_stored_gaps(**series, start=range_start, end=range_end)
    return result


def stored_period_candles(
    source: str, asset: str, timeframe: str, start: datetime, end: datetime,
    newest_id: int | None = None,
) -> pd.DataFrame:
    """stored_candles(start=start, end=end, newest_id=newest_id) for long periods (a grid's
    1,000,000 bars): on PostgreSQL each column comes back as one bytea of packed big-endian
    values that numpy reads at once (1 to 2 s for 1,000,000 bars on a 2-core machine, against
    about 17 s for the ORM's rows); elsewhere stored_candles itself."""
    if connection.vendor != "postgresql":
        return stored_candles(source, asset, timeframe, start=start, end=end,
                              newest_id=newest_id)
    # No ORDER BY: one sort per aggregate costs more than numpy's sort of the times after.
    packed = ", ".join(f"string_agg(float8send({column}), '')" for column in COLUMNS)
    query = (
        "SELECT string_agg(int8send((extract(epoch FROM open_time) * 1000000)::bigint), ''), "
        f"{packed} FROM {Candle._meta.db_table} WHERE source = %s AND asset = %s "
        "AND timeframe = %s AND open_time >= %s AND open_time <= %s AND id <= %s"
    )
    newest_id = newest_id if newest_id is not None else _LARGEST_ID
    with connection.cursor() as cursor:
        cursor.execute(query, [source, asset, timeframe, start, end, newest_id])
        times, *columns = cursor.fetchone()
    if times is None:
        frame = empty_candles()
    else:
        epoch_us = np.frombuffer(bytes(times), dtype=">i8").astype(np.int64)
        order = np.argsort(epoch_us, kind="stable")
        frame = pd.DataFrame(
            {name: np.frombuffer(bytes(packed_column), dtype=">f8")[order].astype(np.float64)
             for name, packed_column in zip(COLUMNS, columns, strict=True)},
            index=pd.DatetimeIndex(pd.to_datetime(epoch_us[order], unit="us", utc=True),
                                   name="open_time").as_unit("ns"),
        )
        frame.attrs["rejected"] = 0
    frame.attrs["source"] = source
    return frame


# ---- long periods shared between worker processes ----

_LARGEST_ID = 2**63 - 1  # a bigint: no stored row is newer


class PeriodChanged(Exception):  # noqa: N818 (a state of the store, like the collectors' errors)
    """A period's candles of some version can no longer be read as they were."""


# The period frames this process read last, newest last: a worker running several chunks of a
# grid, or the next grid over the same period, reads its candles once.
KEPT_PERIOD_FRAMES = 4
_period_frames: OrderedDict[str, pd.DataFrame] = OrderedDict()
_period_frames_lock = threading.Lock()


def period_cache_key(source: str, asset: str, timeframe: str, start: datetime, end: datetime,
                     version: tuple[int, int]) -> str:
    """Names the period's candles as they stand: its version (period_version) is part of it."""
    bounds = f"{pd.Timestamp(start).value}-{pd.Timestamp(end).value}"
    return f"market:period:{source}:{asset}:{timeframe}:{bounds}:{version[0]}:{version[1]}"


def share_period_candles(source: str, asset: str, timeframe: str, start: datetime,
                         end: datetime, version: tuple[int, int]) -> None:
    """Put the period's candles in the shared cache (Redis) for shared_period_candles, unless
    they are there already: the database is read once per period and version, however many
    workers then need them. Nothing to share outside the full stack (grids run in-process)."""
    seconds = settings.BACKTEST_CANDLES_CACHE_SECONDS
    if not (settings.FULL_STACK and seconds):
        return
    key = period_cache_key(source, asset, timeframe, start, end, version)
    try:
        if cache.touch(key, seconds):
            return
    except Exception as exc:
        log.warning("candle cache unavailable (%s: %s)", type(exc).__name__, exc)
        return
    with _period_frames_lock:
        frame = _kept_period_frame(key)
        if frame is None:
            frame = _read_version(source, asset, timeframe, start, end, version)
        _keep_period_frame(key, frame)
    cache_set(key, frame, seconds)


def shared_period_candles(source: str, asset: str, timeframe: str, start: datetime,
                          end: datetime, version: tuple[int, int]) -> pd.DataFrame:
    """stored_period_candles at this version: this process's copy when it read them before,
    else the shared cache's, else a read of the database (the cache was emptied meanwhile).
    PeriodChanged when a candle of that version is no longer stored."""
    key = period_cache_key(source, asset, timeframe, start, end, version)
    with _period_frames_lock:  # chunks on threads of one worker read the period once
        frame = _kept_period_frame(key)
        if frame is None and settings.FULL_STACK and settings.BACKTEST_CANDLES_CACHE_SECONDS:
            frame = cache_get(key)
        if frame is None:
            frame = _read_version(source, asset, timeframe, start, end, version)
        _keep_period_frame(key, frame)
        return frame


def _read_version(source: str, asset: str, timeframe: str, start: datetime, end: datetime,
                  version: tuple[int, int]) -> pd.DataFrame:
    """The period's candles as they were at this version: bars stored since are left out.
    PeriodChanged when the count differs: a bar removed since, or one whose insert committed
    after a newer one's while the version was taken."""
    count, newest = version
    frame = stored_period_candles(source, asset, timeframe, start, end, newest_id=newest)
    if len(frame) != count:
        raise PeriodChanged(f"{source} {asset} {timeframe} candles from {start} to {end} "
                            f"changed since their version was taken: {len(frame)} bars where "
                            f"there were {count}")
    return frame


def _kept_period_frame(key: str) -> pd.DataFrame | None:
    frame = _period_frames.get(key)
    if frame is not None:
        _period_frames.move_to_end(key)
    return frame


def _keep_period_frame(key: str, frame: pd.DataFrame) -> None:
    _period_frames[key] = frame
    _period_frames.move_to_end(key)
    while len(_period_frames) > KEPT_PERIOD_FRAMES:
        _period_frames.popitem(last=False)
