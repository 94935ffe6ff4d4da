"""The CandleSource contract and the window logic all sources share."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from collectors.timeframes import bar_index_at, bar_open_times, first_bar_index_from

# With no start and no limit, a source returns this many of the most recent bars.
DEFAULT_LIMIT = 500


class CandleSource(ABC):
    """A market data source.

    fetch_candles returns a DataFrame indexed by a UTC DatetimeIndex named "open_time"
    (bar open time), float64 columns open high low close volume, sorted, unique.
    start/end bound bar open times, both inclusive; naive datetimes are read as UTC.
    limit keeps the most recent N bars in the range; without start and limit, N is
    DEFAULT_LIMIT. The still-open last bar is left out unless include_open.
    frame.attrs["rejected"] counts upstream rows dropped for breaking candle invariants.
    """

    name: str

    @abstractmethod
    def fetch_candles(
        self,
        asset: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
        include_open: bool = False,
    ) -> pd.DataFrame: ...


@dataclass(frozen=True)
class BarWindow:
    """Inclusive range of bar indexes to fetch, and the bar still open at `now`."""

    first: int
    last: int
    open_bar: int

    @property
    def size(self) -> int:
        return max(0, self.last - self.first + 1)


def plan_window(
    timeframe: str,
    *,
    now: datetime,
    start: datetime | None,
    end: datetime | None,
    limit: int | None,
    include_open: bool,
) -> BarWindow:
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    open_bar = bar_index_at(now, timeframe)
    last = open_bar if include_open else open_bar - 1
    if end is not None:
        last = min(last, bar_index_at(end, timeframe))
    first = first_bar_index_from(start, timeframe) if start is not None else None
    if limit is None and first is None:
        limit = DEFAULT_LIMIT
    if limit is not None:
        first = last - limit + 1 if first is None else max(first, last - limit + 1)
    return BarWindow(first=first, last=last, open_bar=open_bar)


def trim_to_window(
    frame: pd.DataFrame, timeframe: str, window: BarWindow, *, limit: int | None
) -> pd.DataFrame:
    """Keep the bars inside the window: also drops an open bar the upstream clock sent early."""
    rejected = frame.attrs.get("rejected", 0)
    if window.size == 0:
        kept = frame.iloc[:0]
    else:
        bounds = bar_open_times(np.array([window.first, window.last]), timeframe)
        kept = frame.loc[(frame.index >= bounds[0]) & (frame.index <= bounds[1])]
        if limit is not None:
            kept = kept.iloc[len(kept) - min(limit, len(kept)) :]
    kept = kept.copy()
    kept.attrs["rejected"] = rejected
    return kept
