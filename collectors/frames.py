"""The candle frame every source returns, its cleaning rule, and gap detection."""

import numpy as np
import pandas as pd

from collectors.timeframes import bar_indexes, bar_open_times

COLUMNS = ["open", "high", "low", "close", "volume"]


def empty_candles() -> pd.DataFrame:
    index = pd.DatetimeIndex([], dtype="datetime64[ns, UTC]", name="open_time")
    frame = pd.DataFrame(
        {column: np.array([], dtype=np.float64) for column in COLUMNS}, index=index
    )
    frame.attrs["rejected"] = 0
    return frame


def candles_from_arrays(open_times: pd.DatetimeIndex, values: np.ndarray) -> pd.DataFrame:
    """Build a clean frame from parsed rows (values: n x 5 float64, columns as COLUMNS).

    Rows that break candle invariants (non-finite, price <= 0, volume < 0,
    high < max(open, close), low > min(open, close)) are dropped, never repaired;
    their count is in frame.attrs["rejected"]. Duplicate open times keep the last row
    (a later page or answer is the fresher one) and are not counted as rejected.
    """
    opens, highs, lows, closes, volumes = values.T
    with np.errstate(invalid="ignore"):
        valid = (
            np.isfinite(values).all(axis=1)
            & (lows > 0)
            & (volumes >= 0)
            & (highs >= np.maximum(opens, closes))
            & (lows <= np.minimum(opens, closes))
        )
    index = pd.DatetimeIndex(open_times[valid], name="open_time").as_unit("ns")
    frame = pd.DataFrame(values[valid], index=index, columns=COLUMNS)
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    frame.attrs["rejected"] = int((~valid).sum())
    return frame


def find_gaps(frame: pd.DataFrame, timeframe: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Missing bars between the first and last bar of a sorted frame.

    Each gap is (open time of the first missing bar, open time of the last missing bar),
    both inclusive. Gaps are reported, never filled: market closures (nights, weekends
    for stocks) show up here too, and callers decide what they mean.
    """
    if len(frame) < 2:
        return []
    indexes = bar_indexes(pd.DatetimeIndex(frame.index), timeframe)
    jumps = np.flatnonzero(np.diff(indexes) > 1)
    firsts = bar_open_times(indexes[jumps] + 1, timeframe)
    lasts = bar_open_times(indexes[jumps + 1] - 1, timeframe)
    return list(zip(firsts, lasts, strict=True))
