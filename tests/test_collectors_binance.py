"""BinanceSource against a local HTTP server speaking the documented klines format."""

import json
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from werkzeug import Request, Response

from collectors import (
    BinanceSource,
    MalformedResponse,
    MarketDataError,
    RateLimited,
    UnknownSymbol,
    UnsupportedTimeframe,
    UpstreamUnavailable,
)
from collectors.binance import KLINES_PATH, parse_klines
from collectors.http import make_session

NOW = datetime(2024, 3, 14, 15, 30, tzinfo=UTC)
HOUR_MS = 3_600_000
NOW_MS = int(NOW.timestamp() * 1000)


def kline(open_ms: int, close: float = 100.0, interval_ms: int = HOUR_MS) -> list:
    """One kline as Binance sends it: 12 fields, prices and volumes as strings."""
    return [
        open_ms, f"{close - 0.5:.8f}", f"{close + 1:.8f}", f"{close - 1:.8f}", f"{close:.8f}",
        "12.50000000", open_ms + interval_ms - 1, f"{close * 12.5:.8f}", 42, "6.20000000",
        f"{close * 6.2:.8f}", "0",
    ]  # fmt: skip


def fake_klines(request: Request) -> Response:
    """Hourly klines for any symbol up to and including the bar open at NOW, like the real API."""
    first_ms = int(request.args["startTime"])
    end_ms = min(int(request.args["endTime"]), NOW_MS)
    limit = int(request.args["limit"])
    opens = range(first_ms - first_ms % HOUR_MS, end_ms + 1, HOUR_MS)
    rows = [kline(t, close=100 + (t // HOUR_MS) % 7) for t in opens if t >= first_ms][:limit]
    return Response(
        json.dumps(rows, separators=(",", ":")),
        content_type="application/json;charset=UTF-8",
        headers={"X-MBX-USED-WEIGHT-1M": "2"},
    )


def binance_error(code: int, msg: str, status: int = 400) -> Response:
    return Response(json.dumps({"code": code, "msg": msg}), status=status,
                    content_type="application/json;charset=UTF-8")  # fmt: skip


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def source(httpserver, sleeps) -> BinanceSource:
    return BinanceSource(
        base_url=httpserver.url_for("/"),
        session=make_session(timeout=2, retries=2, backoff_factor=0),
        sleep=sleeps.append,
        now=lambda: NOW,
    )


def test_happy_path_parses_klines_and_asks_for_the_right_window(httpserver, source):
    httpserver.expect_request(KLINES_PATH).respond_with_handler(fake_klines)
    frame = source.fetch_candles("BTCUSDT", "1h", limit=5)

    assert list(frame.index) == list(
        pd.date_range("2024-03-14 10:00", periods=5, freq="h", tz="UTC")
    )
    assert frame.index.name == "open_time" and (frame.dtypes == np.float64).all()
    close = 100 + (NOW_MS // HOUR_MS - 1) % 7  # the fake's price for the 14:00 bar
    last = frame.iloc[-1]
    assert (last["open"], last["high"], last["low"], last["close"], last["volume"]) == (
        close - 0.5, close + 1, close - 1, close, 12.5,
    )  # fmt: skip
    request, _ = httpserver.log[0]
    assert request.args["symbol"] == "BTCUSDT" and request.args["interval"] == "1h"
    assert int(request.args["startTime"]) == NOW_MS - 5 * HOUR_MS - 30 * 60_000
    assert int(request.args["endTime"]) == NOW_MS - 30 * 60_000 - 1  # close time of 14:00 bar
    assert request.args["limit"] == "5"
    assert request.headers["User-Agent"] == "botsinais"


def test_long_ranges_are_paged_by_open_time(httpserver, source):
    httpserver.expect_request(KLINES_PATH).respond_with_handler(fake_klines)
    frame = source.fetch_candles("BTCUSDT", "1h", limit=2500)

    assert len(frame) == 2500 and frame.index.is_unique
    assert (frame.index.to_series().diff().dropna() == pd.Timedelta(hours=1)).all()
    starts = [int(request.args["startTime"]) for request, _ in httpserver.log]
    limits = [request.args["limit"] for request, _ in httpserver.log]
    assert limits == ["1000", "1000", "500"]
    assert starts[1] - starts[0] == 1000 * HOUR_MS and starts[2] - starts[1] == 1000 * HOUR_MS


def test_a_short_page_ends_paging(httpserver, source):
    recent = [kline(NOW_MS - 30 * 60_000 - k * HOUR_MS) for k in range(3, 0, -1)]
    httpserver.expect_request(KLINES_PATH).respond_with_json(recent)
    frame = source.fetch_candles("BTCUSDT", "1h", start=NOW - timedelta(days=100))
    assert len(frame) == 3 and len(httpserver.log) == 1


def test_an_empty_array_is_an_empty_frame(httpserver, source):
    httpserver.expect_request(KLINES_PATH).respond_with_json([])
    frame = source.fetch_candles("NEWUSDT", "1h", limit=10)
    assert frame.empty and list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert str(frame.index.tz) == "UTC" and len(httpserver.log) == 1


def test_the_still_open_candle_is_dropped_unless_asked_for(httpserver, source):
    # A server that always includes the open bar, whatever endTime says.
    rows = [kline(NOW_MS - 30 * 60_000 - k * HOUR_MS) for k in range(3, -1, -1)]
    httpserver.expect_request(KLINES_PATH).respond_with_json(rows)

    closed = source.fetch_candles("BTCUSDT", "1h", limit=3)
    with_open = source.fetch_candles("BTCUSDT", "1h", limit=3, include_open=True)
    assert closed.index[-1] == pd.Timestamp("2024-03-14 14:00", tz="UTC")
    assert with_open.index[-1] == pd.Timestamp("2024-03-14 15:00", tz="UTC")
    assert len(closed) == len(with_open) == 3


@pytest.mark.parametrize(
    ("code", "msg", "error"),
    [
        (-1121, "Invalid symbol.", UnknownSymbol),
        (-1120, "Invalid interval.", UnsupportedTimeframe),
    ],
)
def test_documented_error_codes_become_typed_errors(httpserver, source, code, msg, error):
    httpserver.expect_request(KLINES_PATH).respond_with_response(binance_error(code, msg))
    with pytest.raises(error, match=msg):
        source.fetch_candles("NOPEUSDT", "1h", limit=5)


def test_other_400_codes_carry_binance_message(httpserver, source):
    body = binance_error(-1100, "Illegal characters found in parameter 'symbol'.")
    httpserver.expect_request(KLINES_PATH).respond_with_response(body)
    with pytest.raises(MarketDataError, match="-1100.*Illegal characters") as caught:
        source.fetch_candles("BTCUSDT", "1h", limit=5)
    assert type(caught.value) is MarketDataError


def test_429_with_a_short_retry_after_waits_once_then_succeeds(httpserver, source, sleeps):
    httpserver.expect_oneshot_request(KLINES_PATH).respond_with_response(
        Response("", status=429, headers={"Retry-After": "2"})
    )
    httpserver.expect_request(KLINES_PATH).respond_with_handler(fake_klines)
    frame = source.fetch_candles("BTCUSDT", "1h", limit=5)
    assert len(frame) == 5 and sleeps == [2.0]


def test_429_twice_raises_rate_limited(httpserver, source, sleeps):
    httpserver.expect_request(KLINES_PATH).respond_with_response(
        Response("", status=429, headers={"Retry-After": "1"})
    )
    with pytest.raises(RateLimited) as caught:
        source.fetch_candles("BTCUSDT", "1h", limit=5)
    assert caught.value.retry_after == 1.0 and sleeps == [1.0] and len(httpserver.log) == 2


def test_429_with_a_long_retry_after_raises_without_waiting(httpserver, source, sleeps):
    httpserver.expect_request(KLINES_PATH).respond_with_response(
        Response("", status=429, headers={"Retry-After": "120"})
    )
    with pytest.raises(RateLimited) as caught:
        source.fetch_candles("BTCUSDT", "1h", limit=5)
    assert caught.value.retry_after == 120.0 and sleeps == []


def test_418_ip_ban_raises_rate_limited_at_once(httpserver, source, sleeps):
    httpserver.expect_request(KLINES_PATH).respond_with_response(
        Response("", status=418, headers={"Retry-After": "3"})
    )
    with pytest.raises(RateLimited, match="418"):
        source.fetch_candles("BTCUSDT", "1h", limit=5)
    assert sleeps == [] and len(httpserver.log) == 1


def test_used_weight_near_the_limit_waits_for_the_next_minute(httpserver, sleeps):
    httpserver.expect_request(KLINES_PATH).respond_with_json(
        [kline(NOW_MS - 90 * 60_000)], headers={"X-MBX-USED-WEIGHT-1M": "5990"}
    )
    now = datetime(2024, 3, 14, 15, 30, 45, tzinfo=UTC)
    source = BinanceSource(
        base_url=httpserver.url_for("/"), max_weight=6000, sleep=sleeps.append, now=lambda: now
    )
    source.fetch_candles("BTCUSDT", "1h", limit=1)
    assert sleeps == []  # the first call has no weight reading yet
    source.fetch_candles("BTCUSDT", "1h", limit=1)
    assert sleeps == [15.0]


def test_5xx_is_retried_then_succeeds(httpserver, source):
    httpserver.expect_oneshot_request(KLINES_PATH).respond_with_data("busy", status=503)
    httpserver.expect_oneshot_request(KLINES_PATH).respond_with_data("oops", status=502)
    httpserver.expect_request(KLINES_PATH).respond_with_handler(fake_klines)
    frame = source.fetch_candles("BTCUSDT", "1h", limit=5)
    assert len(frame) == 5 and len(httpserver.log) == 3


def test_5xx_after_retries_is_upstream_unavailable(httpserver, source):
    httpserver.expect_request(KLINES_PATH).respond_with_data("down", status=500)
    with pytest.raises(UpstreamUnavailable, match="500"):
        source.fetch_candles("BTCUSDT", "1h", limit=5)
    assert len(httpserver.log) == 3  # first try + 2 retries


def test_a_slow_server_is_a_timeout_not_a_hang(httpserver):
    def slow(request: Request) -> Response:
        time.sleep(0.5)
        return fake_klines(request)

    httpserver.expect_request(KLINES_PATH).respond_with_handler(slow)
    source = BinanceSource(
        base_url=httpserver.url_for("/"),
        session=make_session(timeout=0.1, retries=0),
        timeout=0.1,
        now=lambda: NOW,
    )
    started = time.perf_counter()
    with pytest.raises(UpstreamUnavailable, match="timed out"):
        source.fetch_candles("BTCUSDT", "1h", limit=5)
    assert time.perf_counter() - started < 0.45


def test_connection_refused_is_upstream_unavailable():
    source = BinanceSource(
        base_url="http://127.0.0.1:9", session=make_session(retries=0), now=lambda: NOW
    )
    with pytest.raises(UpstreamUnavailable):
        source.fetch_candles("BTCUSDT", "1h", limit=5)


@pytest.mark.parametrize(
    "body",
    [
        "<html>Bad gateway</html>",
        '{"symbol": "BTCUSDT"}',
        '[{"open": 1}]',
        '[[1700000000000, "1", "2"]]',
        '[[1700000000000, "1", "2", "0.5", "1.5", "10"], [1]]',
        '[[1700000000000, "one", "2", "0.5", "1.5", "10", 0, "0", 1, "0", "0", "0"]]',
    ],
)
def test_non_json_or_wrong_shapes_are_malformed(httpserver, source, body):
    httpserver.expect_request(KLINES_PATH).respond_with_data(body, content_type="application/json")
    with pytest.raises(MalformedResponse):
        source.fetch_candles("BTCUSDT", "1h", limit=5)


def test_invalid_candles_are_dropped_and_counted(httpserver, source):
    good = kline(NOW_MS - 90 * 60_000)
    high_below_close = kline(NOW_MS - 150 * 60_000)
    high_below_close[2] = "1.00000000"
    httpserver.expect_request(KLINES_PATH).respond_with_json([high_below_close, good])
    frame = source.fetch_candles("BTCUSDT", "1h", limit=5)
    assert len(frame) == 1 and frame.attrs["rejected"] == 1


def test_malformed_asset_is_rejected_before_any_request(httpserver, source):
    with pytest.raises(UnknownSymbol):
        source.fetch_candles("btc usdt", "1h")
    with pytest.raises(UnsupportedTimeframe):
        source.fetch_candles("BTCUSDT", "7m")
    assert httpserver.log == []


def test_parse_klines_handles_a_thousand_rows_without_a_row_loop():
    rows = [kline(HOUR_MS * k, close=100 + k % 13) for k in range(1000)]
    frame = parse_klines(rows)
    assert len(frame) == 1000 and frame["close"].iloc[13] == 100.0
    assert frame.index[1] - frame.index[0] == pd.Timedelta(hours=1)
