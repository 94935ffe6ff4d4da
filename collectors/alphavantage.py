"""AlphaVantageSource: stock candles from TIME_SERIES_INTRADAY and TIME_SERIES_DAILY.

One call per fetch, no paging: "compact" is the latest 100 points, "full" the trailing
30 days of intraday (extended hours included) or the whole daily history.
Intraday timestamps are bar open times in the "Time Zone" of the Meta Data (US/Eastern),
converted to UTC. Daily bars are labelled 00:00 UTC of their trading date, so they sit on the
same 1d grid as every other source (midnight US/Eastern would drift with DST).
Alpha Vantage reports errors with HTTP 200 and a message key, mapped to typed errors.
Stock bars have nights and weekends between them, so limit counts bars actually returned.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import requests

from collectors import http
from collectors.assets import validate_asset
from collectors.base import DEFAULT_LIMIT, CandleSource, plan_window, trim_to_window
from collectors.errors import (
    MalformedResponse,
    MissingApiKey,
    RateLimited,
    UnknownSymbol,
    UnsupportedTimeframe,
)
from collectors.frames import candles_from_arrays, empty_candles
from collectors.timeframes import timeframe_seconds, to_utc, utc_now

INTRADAY_INTERVALS = {"1m": "1min", "5m": "5min", "15m": "15min", "30m": "30min", "1h": "60min"}
SUPPORTED_TIMEFRAMES = (*INTRADAY_INTERVALS, "1d")
COMPACT_POINTS = 100
VALUE_KEYS = ["1. open", "2. high", "3. low", "4. close", "5. volume"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def raise_for_api_message(payload: dict[str, Any], asset: str) -> None:
    """Alpha Vantage answers errors with HTTP 200 and one of these keys."""
    if "Error Message" in payload:
        message = str(payload["Error Message"])
        if "apikey" in message.lower():
            raise MissingApiKey(f"Alpha Vantage rejected the API key: {message}")
        raise UnknownSymbol("Alpha Vantage rejected %(asset)s: %(message)s",
                            asset=asset, message=message)
    for key in ("Note", "Information"):
        if key in payload:
            raise RateLimited(f"Alpha Vantage: {payload[key]}", None)


def parse_time_series(payload: Any, timeframe: str, asset: str = "?") -> pd.DataFrame:
    """Frame from a TIME_SERIES_INTRADAY / TIME_SERIES_DAILY body (see module docstring).

    Unreadable values or DST-ambiguous local times drop their row, counted in attrs["rejected"].
    """
    if not isinstance(payload, dict):
        raise MalformedResponse(f"Alpha Vantage: expected a JSON object for {asset}")
    raise_for_api_message(payload, asset)
    meta = payload.get("Meta Data")
    series_keys = [key for key in payload if key.startswith("Time Series")]
    if not isinstance(meta, dict) or len(series_keys) != 1:
        raise MalformedResponse(f"Alpha Vantage: no Meta Data or Time Series for {asset}")
    series = payload[series_keys[0]]
    if not isinstance(series, dict) or not all(isinstance(v, dict) for v in series.values()):
        raise MalformedResponse(f"Alpha Vantage: time series for {asset} is not an object")
    if not series:
        return empty_candles()

    table = pd.DataFrame.from_dict(series, orient="index")
    missing = [key for key in VALUE_KEYS if key not in table.columns]
    if missing:
        raise MalformedResponse(f"Alpha Vantage: time series for {asset} lacks {missing}")
    numbers = table[VALUE_KEYS].apply(pd.to_numeric, errors="coerce")
    values = np.array(numbers, dtype=np.float64)  # a writable copy (pandas views are read-only)
    local_times = pd.to_datetime(table.index, errors="coerce", format="ISO8601")
    if timeframe == "1d":
        open_times = local_times.normalize().tz_localize(UTC)
    else:
        open_times = local_times.tz_localize(
            _time_zone(meta, asset), ambiguous="NaT", nonexistent="NaT"
        ).tz_convert(UTC)
    # An unreadable time becomes NaN prices so candles_from_arrays rejects the row.
    values[np.asarray(open_times.isna())] = np.nan
    return candles_from_arrays(open_times.fillna(pd.Timestamp(0, tz=UTC)), values)


def _time_zone(meta: dict[str, Any], asset: str) -> ZoneInfo:
    # "6. Time Zone" for intraday, "5. Time Zone" for daily: look it up by suffix.
    names = [value for key, value in meta.items() if key.endswith("Time Zone")]
    if len(names) != 1:
        raise MalformedResponse(f"Alpha Vantage: no Time Zone in Meta Data for {asset}")
    try:
        return ZoneInfo(str(names[0]))
    except (ZoneInfoNotFoundError, ValueError):
        raise MalformedResponse(f"Alpha Vantage: unknown time zone {names[0]!r}") from None


class AlphaVantageSource(CandleSource):
    name = "alphavantage"

    def __init__(
        self,
        api_key: str | None,
        base_url: str = "https://www.alphavantage.co",
        session: requests.Session | None = None,
        timeout: float = 10.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or http.make_session(timeout=timeout)
        self._now = now or utc_now

    def fetch_candles(
        self,
        asset: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
        include_open: bool = False,
    ) -> pd.DataFrame:
        validate_asset(asset)
        timeframe_seconds(timeframe)
        if timeframe not in SUPPORTED_TIMEFRAMES:
            raise UnsupportedTimeframe(
                "Alpha Vantage serves %(timeframes)s, not %(timeframe)s",
                timeframes=", ".join(SUPPORTED_TIMEFRAMES), timeframe=timeframe,
            )
        if not self.api_key:
            raise MissingApiKey("Alpha Vantage needs an API key (ALPHAVANTAGE_API_KEY)")
        if limit is None and start is None:
            limit = DEFAULT_LIMIT
        # limit is applied to the bars returned, not to a time window: stock bars have gaps.
        window = plan_window(
            timeframe,
            now=to_utc(self._now()),
            start=start or _EPOCH,
            end=end,
            limit=None,
            include_open=include_open,
        )
        if window.size == 0:
            return empty_candles()
        compact = start is None and end is None and limit is not None and limit <= COMPACT_POINTS
        payload = self._get(asset, timeframe, "compact" if compact else "full")
        frame = parse_time_series(payload, timeframe, asset)
        return trim_to_window(frame, timeframe, window, limit=limit)

    def _get(self, asset: str, timeframe: str, output_size: str) -> Any:
        params = {"symbol": asset, "outputsize": output_size, "apikey": self.api_key}
        if timeframe == "1d":
            params["function"] = "TIME_SERIES_DAILY"
        else:
            params["function"] = "TIME_SERIES_INTRADAY"
            params["interval"] = INTRADAY_INTERVALS[timeframe]
        response = http.get(
            self.session, self.base_url + "/query", params=params, timeout=self.timeout
        )
        if response.status_code == 429:
            retry_after = http.retry_after_seconds(response)
            raise RateLimited(
                f"Alpha Vantage rate limit (HTTP 429), retry after {retry_after}s", retry_after
            )
        payload = http.decode_json(response)
        if response.status_code != 200:
            raise MalformedResponse(f"Alpha Vantage answered HTTP {response.status_code}")
        return payload
