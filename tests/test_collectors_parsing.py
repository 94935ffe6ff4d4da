"""Property tests for the parsers and the frame contract every source promises.

The rule under test: rows that break candle invariants (non-finite, price <= 0, volume < 0,
high < max(open, close), low > min(open, close), unreadable time) are dropped, never repaired,
and counted in frame.attrs["rejected"]; duplicate open times keep the last row.
"""

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors import TIMEFRAMES, DemoSource, find_gaps
from collectors.alphavantage import VALUE_KEYS, parse_time_series
from collectors.binance import parse_klines
from collectors.catalogue import CATALOGUE
from collectors.frames import candles_from_arrays
from collectors.timeframes import bar_index_at, bar_open_times

HOUR_MS = 3_600_000
EASTERN = ZoneInfo("US/Eastern")

any_float = st.floats(allow_nan=True, allow_infinity=True)
sane_price = st.floats(min_value=1e-6, max_value=1e7)


def is_valid(o: float, h: float, lo: float, c: float, v: float) -> bool:
    values = (o, h, lo, c, v)
    return (
        all(math.isfinite(x) for x in values)
        and lo > 0
        and v >= 0
        and h >= max(o, c)
        and lo <= min(o, c)
    )


@st.composite
def candle_values(draw) -> tuple[float, float, float, float, float]:
    """Mostly well-formed candles, some arbitrary garbage."""
    if draw(st.booleans()):
        return tuple(draw(any_float) for _ in range(5))
    low = draw(sane_price)
    open_, close = low * draw(st.floats(1, 2)), low * draw(st.floats(1, 2))
    high = max(open_, close) * draw(st.floats(1, 1.5))
    return open_, high, low, close, draw(st.floats(0, 1e9))


def assert_frame_contract(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert (frame.dtypes == np.float64).all()
    assert str(frame.index.tz) == "UTC" and frame.index.name == "open_time"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert np.isfinite(frame.to_numpy()).all()
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame["low"] > 0).all() and (frame["volume"] >= 0).all()


@given(st.lists(st.tuples(st.integers(0, 500), candle_values()), max_size=80))
def test_parse_klines_keeps_exactly_the_valid_rows(rows):
    payload = [
        [hour * HOUR_MS, *(repr(x) for x in values), hour * HOUR_MS + HOUR_MS - 1,
         "0", 1, "0", "0", "0"]
        for hour, values in rows
    ]  # fmt: skip
    frame = parse_klines(payload)

    assert_frame_contract(frame)
    valid = [(hour, values) for hour, values in rows if is_valid(*values)]
    assert frame.attrs["rejected"] == len(rows) - len(valid)
    expected = {hour: values for hour, values in valid}  # later duplicates win
    assert list(frame.index) == [
        pd.Timestamp(h * HOUR_MS, unit="ms", tz="UTC") for h in sorted(expected)
    ]
    for hour, values in expected.items():
        row = frame.loc[pd.Timestamp(hour * HOUR_MS, unit="ms", tz="UTC")]
        assert tuple(row) == values


@given(
    st.dictionaries(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31)).map(
            lambda moment: moment.replace(second=0, microsecond=0)
        ),
        candle_values(),
        max_size=60,
    )
)
@settings(deadline=None)
def test_parse_time_series_converts_times_and_keeps_exactly_the_valid_rows(series):
    payload = {
        "Meta Data": {"6. Time Zone": "US/Eastern"},
        "Time Series (5min)": {
            local.strftime("%Y-%m-%d %H:%M:%S"): {
                key: repr(x) for key, x in zip(VALUE_KEYS, values, strict=True)
            }
            for local, values in series.items()
        },
    }
    frame = parse_time_series(payload, "5m")

    assert_frame_contract(frame)
    expected = {}
    for local, values in series.items():
        if not is_valid(*values) or _is_ambiguous_or_missing(local):
            continue
        expected[pd.Timestamp(local.replace(tzinfo=EASTERN)).tz_convert(UTC)] = values
    assert frame.attrs["rejected"] == len(series) - len(expected)
    assert list(frame.index) == sorted(expected)


def _is_ambiguous_or_missing(local: datetime) -> bool:
    """DST-repeated or skipped local times: the parser rejects them rather than guess."""
    first, second = local.replace(fold=0, tzinfo=EASTERN), local.replace(fold=1, tzinfo=EASTERN)
    if first.utcoffset() != second.utcoffset():
        return True
    round_trip = first.astimezone(UTC).astimezone(EASTERN).replace(tzinfo=None)
    return round_trip != local


@given(st.lists(candle_values(), max_size=50), st.randoms())
def test_candles_from_arrays_output_is_sorted_unique_and_valid(rows, random):
    values = np.array(rows, dtype=np.float64).reshape(-1, 5)
    hours = [random.randrange(0, 40) for _ in rows]
    open_times = pd.to_datetime(np.array(hours, dtype=np.int64) * HOUR_MS, unit="ms", utc=True)
    frame = candles_from_arrays(open_times, values)
    assert_frame_contract(frame)
    assert frame.attrs["rejected"] == sum(not is_valid(*row) for row in rows)


@given(
    seed=st.integers(0, 2**32),
    asset=st.sampled_from(list(CATALOGUE)),
    timeframe=st.sampled_from(list(TIMEFRAMES)),
    now=st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2090, 1, 1)),
    limit=st.integers(1, 300),
    include_open=st.booleans(),
)
@settings(deadline=None, max_examples=60)
def test_demo_frames_meet_the_contract_for_any_asset_timeframe_and_clock(
    seed, asset, timeframe, now, limit, include_open
):
    now = now.replace(tzinfo=UTC)
    frame = DemoSource(seed, now=lambda: now).fetch_candles(
        asset, timeframe, limit=limit, include_open=include_open
    )
    assert_frame_contract(frame)
    assert len(frame) == limit
    assert (frame["volume"] > 0).all()
    last_open = frame.index[-1]
    assert last_open <= now
    last_close = bar_open_times(np.array([bar_index_at(last_open, timeframe) + 1]), timeframe)[0]
    if not include_open:
        assert last_close <= now
    elif CATALOGUE[asset].session is None:  # around the clock: the open bar is always there
        assert last_close > now


@given(st.sets(st.integers(0, 199), min_size=2))
def test_find_gaps_reports_exactly_the_missing_bars(kept):
    indexes = np.array(sorted(kept))
    frame = pd.DataFrame({"close": 1.0}, index=bar_open_times(indexes, "15m"))
    missing = set(range(indexes[0], indexes[-1] + 1)) - kept
    reported = set()
    for first, last in find_gaps(frame, "15m"):
        assert first <= last
        span = pd.date_range(first, last, freq="15min")
        reported |= {int(t.timestamp()) // 900 for t in span}
    assert reported == missing
