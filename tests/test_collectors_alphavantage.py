"""AlphaVantageSource against a local HTTP server answering in the documented JSON format."""

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from collectors import (
    AlphaVantageSource,
    MalformedResponse,
    MissingApiKey,
    RateLimited,
    UnknownSymbol,
    UnsupportedTimeframe,
    UpstreamUnavailable,
)
from collectors.http import make_session

API_KEY = "TESTKEY123"
# Monday 2024-03-11, 09:42 US/Eastern: the day after clocks moved to EDT (UTC-4).
NOW = datetime(2024, 3, 11, 13, 42, tzinfo=UTC)

# Alpha Vantage's layout: 4-space indent, newest first, strings everywhere.
INTRADAY_5MIN = """{
    "Meta Data": {
        "1. Information": "Intraday (5min) open, high, low, close prices and volume",
        "2. Symbol": "IBM",
        "3. Last Refreshed": "2024-03-11 09:40:00",
        "4. Interval": "5min",
        "5. Output Size": "Compact",
        "6. Time Zone": "US/Eastern"
    },
    "Time Series (5min)": {
        "2024-03-11 09:40:00": {
            "1. open": "195.9000",
            "2. high": "196.2000",
            "3. low": "195.8000",
            "4. close": "196.1000",
            "5. volume": "20311"
        },
        "2024-03-11 09:35:00": {
            "1. open": "195.5000",
            "2. high": "196.0500",
            "3. low": "195.4000",
            "4. close": "195.9000",
            "5. volume": "51870"
        },
        "2024-03-11 09:30:00": {
            "1. open": "195.1000",
            "2. high": "195.7500",
            "3. low": "194.9800",
            "4. close": "195.5000",
            "5. volume": "96004"
        },
        "2024-03-08 15:55:00": {
            "1. open": "195.0100",
            "2. high": "195.2500",
            "3. low": "194.9000",
            "4. close": "195.1500",
            "5. volume": "412733"
        }
    }
}"""

DAILY = """{
    "Meta Data": {
        "1. Information": "Daily Prices (open, high, low, close) and Volumes",
        "2. Symbol": "IBM",
        "3. Last Refreshed": "2024-03-11",
        "4. Output Size": "Compact",
        "5. Time Zone": "US/Eastern"
    },
    "Time Series (Daily)": {
        "2024-03-11": {
            "1. open": "195.1000",
            "2. high": "196.2000",
            "3. low": "194.9800",
            "4. close": "196.1000",
            "5. volume": "168185"
        },
        "2024-03-08": {
            "1. open": "196.0600",
            "2. high": "197.7700",
            "3. low": "194.3800",
            "4. close": "195.9500",
            "5. volume": "3943112"
        },
        "2024-03-07": {
            "1. open": "197.5800",
            "2. high": "198.7300",
            "3. low": "196.1400",
            "4. close": "196.5400",
            "5. volume": "4604405"
        }
    }
}"""

INVALID_CALL = """{
    "Error Message": "Invalid API call. Please retry or visit the documentation (https://www.alphavantage.co/documentation/) for TIME_SERIES_INTRADAY."
}"""  # noqa: E501
INVALID_KEY = """{
    "Error Message": "the parameter apikey is invalid or missing. Please claim your free API key on (https://www.alphavantage.co/support/#api-key). It should take less than 20 seconds."
}"""  # noqa: E501
NOTE = """{
    "Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute and 500 calls per day. Please visit https://www.alphavantage.co/premium/ if you would like to target a higher API call frequency."
}"""  # noqa: E501
INFORMATION = """{
    "Information": "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day. Please subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to instantly remove all daily rate limits."
}"""  # noqa: E501


def answer(httpserver, body: str) -> None:
    httpserver.expect_request("/query").respond_with_data(body, content_type="application/json")


@pytest.fixture
def source(httpserver) -> AlphaVantageSource:
    return AlphaVantageSource(
        API_KEY,
        base_url=httpserver.url_for("/"),
        session=make_session(timeout=2, retries=1, backoff_factor=0),
        now=lambda: NOW,
    )


def test_intraday_times_are_converted_from_us_eastern_to_utc_across_dst(httpserver, source):
    answer(httpserver, INTRADAY_5MIN)
    frame = source.fetch_candles("IBM", "5m", limit=10)

    assert list(frame.index) == [
        pd.Timestamp("2024-03-08 20:55", tz="UTC"),  # EST, UTC-5
        pd.Timestamp("2024-03-11 13:30", tz="UTC"),  # EDT, UTC-4
        pd.Timestamp("2024-03-11 13:35", tz="UTC"),
    ]  # the 09:40 bar is still open at NOW
    assert frame.index.name == "open_time"
    assert frame.loc["2024-03-11 13:30"].tolist() == [195.1, 195.75, 194.98, 195.5, 96004.0]
    assert frame.attrs["rejected"] == 0


def test_intraday_request_uses_documented_parameters(httpserver, source):
    answer(httpserver, INTRADAY_5MIN)
    source.fetch_candles("IBM", "5m", limit=10)
    request, _ = httpserver.log[0]
    assert dict(request.args) == {
        "function": "TIME_SERIES_INTRADAY",
        "symbol": "IBM",
        "interval": "5min",
        "outputsize": "compact",
        "apikey": API_KEY,
    }


@pytest.mark.parametrize(
    ("timeframe", "interval"),
    [("1m", "1min"), ("15m", "15min"), ("30m", "30min"), ("1h", "60min")],
)
def test_timeframes_map_to_alpha_vantage_intervals(httpserver, source, timeframe, interval):
    body = INTRADAY_5MIN.replace("5min", interval)
    answer(httpserver, body)
    source.fetch_candles("IBM", timeframe, limit=10)
    assert httpserver.log[0][0].args["interval"] == interval


def test_open_bar_is_kept_only_with_include_open(httpserver, source):
    answer(httpserver, INTRADAY_5MIN)
    frame = source.fetch_candles("IBM", "5m", limit=10, include_open=True)
    assert frame.index[-1] == pd.Timestamp("2024-03-11 13:40", tz="UTC")


def test_long_ranges_ask_for_full_output(httpserver, source):
    answer(httpserver, INTRADAY_5MIN)
    source.fetch_candles("IBM", "5m", start=NOW - timedelta(days=5))
    source.fetch_candles("IBM", "5m", limit=500)
    assert [request.args["outputsize"] for request, _ in httpserver.log] == ["full", "full"]


def test_limit_counts_bars_not_hours_because_stocks_close_at_night(httpserver, source):
    answer(httpserver, INTRADAY_5MIN)
    frame = source.fetch_candles("IBM", "5m", limit=2)
    assert list(frame.index) == [
        pd.Timestamp("2024-03-11 13:30", tz="UTC"),
        pd.Timestamp("2024-03-11 13:35", tz="UTC"),
    ]
    assert len(source.fetch_candles("IBM", "5m", limit=3)) == 3  # reaches back to Friday


def test_daily_bars_are_labelled_midnight_utc_of_their_trading_date(httpserver, source):
    answer(httpserver, DAILY)
    frame = source.fetch_candles("IBM", "1d", limit=10)
    assert list(frame.index) == [
        pd.Timestamp("2024-03-07", tz="UTC"),
        pd.Timestamp("2024-03-08", tz="UTC"),
    ]  # 2024-03-11 is still trading at NOW
    assert frame.iloc[-1]["close"] == 195.95
    request, _ = httpserver.log[0]
    assert request.args["function"] == "TIME_SERIES_DAILY" and "interval" not in request.args


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        (INVALID_CALL, UnknownSymbol, "Invalid API call"),
        (INVALID_KEY, MissingApiKey, "apikey is invalid"),
        (NOTE, RateLimited, "5 calls per minute"),
        (INFORMATION, RateLimited, "25 requests per day"),
    ],
)
def test_error_bodies_sent_with_http_200_become_typed_errors(
    httpserver, source, body, error, match
):
    answer(httpserver, body)
    with pytest.raises(error, match=match) as caught:
        source.fetch_candles("IBM", "5m", limit=10)
    if error is RateLimited:
        assert caught.value.retry_after is None


def test_missing_api_key_fails_before_any_request(httpserver):
    for key in (None, ""):
        source = AlphaVantageSource(key, base_url=httpserver.url_for("/"), now=lambda: NOW)
        with pytest.raises(MissingApiKey):
            source.fetch_candles("IBM", "5m")
    assert httpserver.log == []


@pytest.mark.parametrize("timeframe", ["3m", "4h", "1w", "1M"])
def test_timeframes_alpha_vantage_lacks_are_unsupported(httpserver, source, timeframe):
    with pytest.raises(UnsupportedTimeframe):
        source.fetch_candles("IBM", timeframe)
    assert httpserver.log == []


@pytest.mark.parametrize(
    "body",
    [
        "<html>maintenance</html>",
        "[]",
        "{}",
        json.dumps({"Meta Data": {"6. Time Zone": "US/Eastern"}}),
        INTRADAY_5MIN.replace('"6. Time Zone": "US/Eastern"', '"6. Time Zone": "Mars/Olympus"'),
        INTRADAY_5MIN.replace('"4. close"', '"4. last"'),
    ],
)
def test_unexpected_bodies_are_malformed(httpserver, source, body):
    answer(httpserver, body)
    with pytest.raises(MalformedResponse):
        source.fetch_candles("IBM", "5m", limit=10)


def test_unreadable_values_drop_their_row_and_are_counted(httpserver, source):
    answer(httpserver, INTRADAY_5MIN.replace('"195.5000"', '"n/a"', 1))
    frame = source.fetch_candles("IBM", "5m", limit=10)
    assert len(frame) == 2 and frame.attrs["rejected"] == 1


def test_server_errors_do_not_leak_the_api_key(httpserver, source):
    httpserver.expect_request("/query").respond_with_data("down", status=503)
    with pytest.raises(UpstreamUnavailable) as caught:
        source.fetch_candles("IBM", "5m", limit=10)
    assert API_KEY not in str(caught.value)
    assert len(httpserver.log) == 2  # one retry


def test_http_429_is_rate_limited_with_retry_after(httpserver, source):
    httpserver.expect_request("/query").respond_with_data(
        "", status=429, headers={"Retry-After": "30"}
    )
    with pytest.raises(RateLimited) as caught:
        source.fetch_candles("IBM", "5m", limit=10)
    assert caught.value.retry_after == 30.0
