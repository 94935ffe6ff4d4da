"""Canonical timeframes (Binance's names) and the bar grid every source shares.

Bars are numbered from the epoch so a bar index maps to one open time and back:
- intraday, 1d and 3d bars open on UTC epoch multiples of their length;
- 1w bars open on Monday 00:00 UTC, like Binance's;
- 1M bars open on the first day of each calendar month. TIMEFRAMES["1M"] is a nominal 30 days,
  for sizing and display only; the grid itself uses real calendar months.
"""

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from collectors.errors import UnsupportedTimeframe

TIMEFRAMES: dict[str, int] = {
    "1m": 60,
    "3m": 3 * 60,
    "5m": 5 * 60,
    "15m": 15 * 60,
    "30m": 30 * 60,
    "1h": 3600,
    "2h": 2 * 3600,
    "4h": 4 * 3600,
    "6h": 6 * 3600,
    "8h": 8 * 3600,
    "12h": 12 * 3600,
    "1d": 86400,
    "3d": 3 * 86400,
    "1w": 7 * 86400,
    "1M": 30 * 86400,
}

# 1970-01-01 was a Thursday; week 0 opens on the Monday before it.
_WEEK_ORIGIN_SECONDS = -3 * 86400
_NS_PER_SECOND = 1_000_000_000


def timeframe_seconds(timeframe: str) -> int:
    try:
        return TIMEFRAMES[timeframe]
    except (KeyError, TypeError):
        raise UnsupportedTimeframe(
            "unsupported timeframe %(timeframe)r; expected one of %(timeframes)s",
            timeframe=timeframe, timeframes=", ".join(TIMEFRAMES),
        ) from None


def to_utc(moment: datetime | pd.Timestamp) -> pd.Timestamp:
    """A UTC Timestamp; naive datetimes are taken to be UTC already."""
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        return stamp.tz_localize(UTC)
    return stamp.tz_convert(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def bar_indexes(times: pd.DatetimeIndex, timeframe: str) -> np.ndarray:
    """Index of the bar containing each time (UTC, tz-aware), as int64."""
    step = timeframe_seconds(timeframe)
    if timeframe == "1M":
        return ((times.year - 1970) * 12 + times.month - 1).to_numpy(np.int64)
    seconds = times.as_unit("ns").asi8 // _NS_PER_SECOND
    origin = _WEEK_ORIGIN_SECONDS if timeframe == "1w" else 0
    return (seconds - origin) // step


def bar_open_times(indexes: np.ndarray, timeframe: str) -> pd.DatetimeIndex:
    """Open time of each bar index, as a UTC DatetimeIndex named open_time."""
    indexes = np.asarray(indexes, dtype=np.int64)
    step = timeframe_seconds(timeframe)
    if timeframe == "1M":
        stamps = indexes.astype("datetime64[M]").astype("datetime64[ns]")
    else:
        origin = _WEEK_ORIGIN_SECONDS if timeframe == "1w" else 0
        stamps = ((indexes * step + origin) * _NS_PER_SECOND).astype("datetime64[ns]")
    return pd.DatetimeIndex(stamps, name="open_time").tz_localize(UTC)


def bar_index_at(moment: datetime | pd.Timestamp, timeframe: str) -> int:
    """Index of the bar open at `moment`."""
    return int(bar_indexes(pd.DatetimeIndex([to_utc(moment)]), timeframe)[0])


def first_bar_index_from(moment: datetime | pd.Timestamp, timeframe: str) -> int:
    """Index of the first bar opening at or after `moment`."""
    index = bar_index_at(moment, timeframe)
    if bar_open_times(np.array([index]), timeframe)[0] < to_utc(moment):
        index += 1
    return index
