"""BinanceSource: spot klines from GET /api/v3/klines.

Rate limits: Binance counts request weight per minute and reports it in X-MBX-USED-WEIGHT-1M.
When the reported weight gets within WEIGHT_HEADROOM of max_weight, the next request waits for
the next minute boundary. On 429 with a short Retry-After (<= max_retry_wait seconds) we wait
once and retry; a longer wait, a second 429, or any 418 (the IP is banned) raises
RateLimited(retry_after) so the caller (a Celery task) can reschedule instead of blocking a worker.

A limit becomes a window of that many bar intervals before now (crypto trades around the clock),
so an exchange outage inside the window returns fewer bars rather than older ones.
"""

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import requests

from collectors import http
from collectors.assets import validate_asset
from collectors.base import BarWindow, CandleSource, plan_window, trim_to_window
from collectors.errors import (
    MalformedResponse,
    MarketDataError,
    RateLimited,
    UnknownSymbol,
    UnsupportedTimeframe,
)
from collectors.frames import candles_from_arrays, empty_candles
from collectors.timeframes import (
    bar_index_at,
    bar_open_times,
    timeframe_seconds,
    to_utc,
    utc_now,
)

KLINES_PATH = "/api/v3/klines"
MAX_KLINES_PER_REQUEST = 1000
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
WEIGHT_HEADROOM = 50
ERROR_INVALID_INTERVAL = -1120
ERROR_INVALID_SYMBOL = -1121


def parse_klines(payload: Any) -> pd.DataFrame:
    """Frame from a klines array: [[open_ms, "open", "high", "low", "close", "volume", ...], ...].

    Column-wise numpy conversion, no per-row Python loop. Invalid candles are dropped and
    counted in attrs["rejected"] (see frames.candles_from_arrays).
    """
    if not isinstance(payload, list):
        raise MalformedResponse(f"klines: expected a JSON array, got {type(payload).__name__}")
    if not payload:
        return empty_candles()
    rows = np.array(payload, dtype=object)
    if rows.ndim != 2 or rows.shape[1] < 6:
        raise MalformedResponse("klines: expected an array of arrays of at least 6 fields")
    try:
        open_ms = rows[:, 0].astype(np.int64)
        values = rows[:, 1:6].astype(np.float64)
        open_times = pd.to_datetime(open_ms, unit="ms", utc=True)
    except (TypeError, ValueError, OverflowError) as error:
        raise MalformedResponse(f"klines: unreadable field ({error})") from None
    return candles_from_arrays(open_times, values)


class BinanceSource(CandleSource):
    name = "binance"

    def __init__(
        self,
        base_url: str = "https://api.binance.com",
        session: requests.Session | None = None,
        timeout: float = 10.0,
        max_weight: int = 6000,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] | None = None,
        max_retry_wait: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or http.make_session(timeout=timeout)
        self.max_weight = max_weight
        self.max_retry_wait = max_retry_wait
        self._sleep = sleep
        self._now = now or utc_now
        self._used_weight = 0
        self._weight_minute: int | None = None  # epoch minute the used weight was reported in

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
        window = plan_window(
            timeframe,
            now=to_utc(self._now()),
            start=start,
            end=end,
            limit=limit,
            include_open=include_open,
        )
        if window.size == 0:
            return empty_candles()
        frame = self._fetch_window(asset, timeframe, window)
        return trim_to_window(frame, timeframe, window, limit=limit)

    def _fetch_window(self, asset: str, timeframe: str, window: BarWindow) -> pd.DataFrame:
        # endTime is the last bar's close time: right whether Binance filters by open or close.
        end_ms = _epoch_ms(bar_open_times(np.array([window.last + 1]), timeframe)[0]) - 1
        pages: list[pd.DataFrame] = []
        next_bar = window.first
        while next_bar <= window.last:
            wanted = min(MAX_KLINES_PER_REQUEST, window.last - next_bar + 1)
            start_ms = _epoch_ms(bar_open_times(np.array([next_bar]), timeframe)[0])
            params = {
                "symbol": asset,
                "interval": timeframe,
                "startTime": start_ms,
                "endTime": end_ms,
                "limit": wanted,
            }
            payload = self._get_klines(asset, timeframe, params)
            pages.append(parse_klines(payload))
            if len(payload) < wanted:
                break  # short or empty page: nothing more in the range
            last_open = pd.Timestamp(int(payload[-1][0]), unit="ms", tz="UTC")
            following = bar_index_at(last_open, timeframe) + 1
            if following <= next_bar:
                raise MalformedResponse("klines: a page did not move forward in time")
            next_bar = following
        if not pages:
            return empty_candles()
        frame = pd.concat(pages) if len(pages) > 1 else pages[0]
        rejected = sum(page.attrs["rejected"] for page in pages)
        frame = frame[~frame.index.duplicated(keep="last")].sort_index()
        frame.attrs["rejected"] = rejected
        return frame

    def _get_klines(self, asset: str, timeframe: str, params: dict[str, Any]) -> Any:
        url = self.base_url + KLINES_PATH
        waited = False
        while True:
            self._wait_for_weight()
            response = http.get(self.session, url, params=params, timeout=self.timeout)
            self._record_weight(response)
            if response.status_code not in (418, 429):
                break
            retry_after = http.retry_after_seconds(response)
            short_wait = retry_after is not None and retry_after <= self.max_retry_wait
            if response.status_code == 418 or waited or not short_wait:
                raise RateLimited(
                    f"Binance rate limit (HTTP {response.status_code}), retry after {retry_after}s",
                    retry_after,
                )
            self._sleep(retry_after)
            waited = True
        if response.status_code != 200:
            raise _error_from_response(response, asset, timeframe)
        return http.decode_json(response)

    def _wait_for_weight(self) -> None:
        if self._weight_minute is None or self._used_weight < self.max_weight - WEIGHT_HEADROOM:
            return
        now = to_utc(self._now()).timestamp()
        if int(now // 60) != self._weight_minute:
            return  # the counter has reset since it was reported
        self._sleep(60 - now % 60)
        self._used_weight = 0

    def _record_weight(self, response: requests.Response) -> None:
        try:
            self._used_weight = int(response.headers[WEIGHT_HEADER])
        except (KeyError, ValueError):
            return
        self._weight_minute = int(to_utc(self._now()).timestamp() // 60)


def _epoch_ms(moment: pd.Timestamp) -> int:
    return moment.value // 1_000_000  # Timestamp.value is nanoseconds whatever the unit


def _error_from_response(response: requests.Response, asset: str, timeframe: str) -> Exception:
    """Typed error from a Binance error body: {"code": -1121, "msg": "Invalid symbol."}."""
    try:
        body = response.json()
        code, message = body["code"], body["msg"]
    except (ValueError, KeyError, TypeError):
        return MarketDataError(
            f"Binance answered HTTP {response.status_code}: {response.text[:200]!r}"
        )
    if code == ERROR_INVALID_SYMBOL:
        return UnknownSymbol("Binance does not list %(asset)s: %(message)s",
                             asset=asset, message=message)
    if code == ERROR_INVALID_INTERVAL:
        return UnsupportedTimeframe("Binance rejected timeframe %(timeframe)s: %(message)s",
                                    timeframe=timeframe, message=message)
    return MarketDataError(f"Binance error {code} (HTTP {response.status_code}): {message}")
