"""The candle store: stored candles first, only the missing tail fetched, cached per bar."""

import logging
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from django.core.cache import cache

import collectors
from market import store
from market.models import Candle
from signals import services
from signals.models import AnalysisRequest, AnalysisStatus, Signal
from tests.fake_binance import INTERVAL_MS, error, oversold_candles

pytestmark = pytest.mark.django_db(transaction=True)

HOUR = pd.Timedelta(hours=1)


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()  # frames built here must not be served to other test files


@pytest.fixture
def now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


@pytest.fixture
def hourly(binance, now) -> pd.DataFrame:
    """BTCUSDT 1h on the Binance stand-in: 600 closed bars ending in an oversold sell-off."""
    frame = oversold_candles(INTERVAL_MS["1h"], bars=600, now=now)
    binance[("BTCUSDT", "1h")] = frame
    return frame


def klines_requests(httpserver) -> list[dict]:
    return [dict(request.args) for request, _ in httpserver.log]


def ms(moment: pd.Timestamp) -> int:
    return moment.value // 1_000_000


def assert_same_candles(frame: pd.DataFrame, expected: pd.DataFrame, exact=False) -> None:
    """Same bars and values; the stand-in sends prices with 8 decimals, hence the tolerance."""
    assert list(frame.index) == list(expected.index)
    pd.testing.assert_frame_equal(
        frame.reset_index(drop=True),
        expected.reset_index(drop=True),
        check_exact=exact,
        rtol=1e-9,
    )


def stored(asset="BTCUSDT", timeframe="1h", source="live"):
    return Candle.objects.filter(source=source, asset=asset, timeframe=timeframe)


def test_first_load_fetches_the_window_and_stores_it(hourly, httpserver, now):
    frame = store.load_candles("BTCUSDT", "1h", 200, now=now)
    assert_same_candles(frame, hourly.iloc[-200:])
    assert len(klines_requests(httpserver)) == 1
    assert stored().count() == 200
    assert frame.attrs["gaps"] == []


def test_second_load_fetches_only_the_tail_after_the_last_stored_candle(
    binance, hourly, httpserver, now
):
    binance[("BTCUSDT", "1h")] = hourly.iloc[:-3]  # the exchange has not served the last 3 yet
    store.load_candles("BTCUSDT", "1h", 200, now=now)
    assert stored().count() == 197
    assert pd.Timestamp(stored().order_by("open_time").last().open_time) == hourly.index[-4]

    binance[("BTCUSDT", "1h")] = hourly
    cache.clear()
    httpserver.clear_log()
    frame = store.load_candles("BTCUSDT", "1h", 200, now=now)

    [request] = klines_requests(httpserver)
    assert int(request["startTime"]) == ms(hourly.index[-4] + HOUR)
    assert stored().count() == 200
    assert_same_candles(frame, hourly.iloc[-200:])


def test_an_up_to_date_store_asks_the_source_for_nothing(hourly, httpserver, now):
    store.load_candles("BTCUSDT", "1h", 200, now=now)
    cache.clear()
    httpserver.clear_log()
    frame = store.load_candles("BTCUSDT", "1h", 200, now=now)
    assert klines_requests(httpserver) == []
    assert len(frame) == 200


def test_a_cache_hit_touches_neither_database_nor_source(
    hourly, httpserver, now, django_assert_num_queries
):
    first = store.load_candles("BTCUSDT", "1h", 200, now=now)
    httpserver.clear_log()
    with django_assert_num_queries(0):
        again = store.load_candles("BTCUSDT", "1h", 200, now=now)
    assert klines_requests(httpserver) == []
    pd.testing.assert_frame_equal(again, first)


def test_the_cached_frame_lives_until_the_open_bar_closes(now):
    last_closed = collectors.timeframes.bar_index_at(now, "1h") - 1
    closes_at = now.floor("h") + HOUR
    seconds = store.cache_seconds("1h", last_closed, now, complete=True)
    assert seconds == pytest.approx((closes_at - now).total_seconds(), abs=1)
    assert store.cache_seconds("1h", last_closed, now, complete=False) <= 60


def test_a_newly_closed_bar_is_not_hidden_by_the_cache(hourly, now):
    before = store.load_candles("BTCUSDT", "1h", 200, now=now - HOUR)
    after = store.load_candles("BTCUSDT", "1h", 200, now=now)
    assert before.index[-1] == hourly.index[-2]
    assert after.index[-1] == hourly.index[-1]


def test_an_unreachable_cache_slows_the_load_down_but_does_not_stop_it(
    hourly, settings, now, caplog
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # discard port: nothing listens
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    with caplog.at_level(logging.WARNING, logger="market.store"):
        frame = store.load_candles("BTCUSDT", "1h", 200, now=now)
    assert len(frame) == 200
    assert "candle cache unavailable" in caplog.text


def test_the_analysis_uses_stored_candles(binance, hourly, httpserver, now):
    store.insert_candles(hourly, source="live", asset="BTCUSDT", timeframe="1h")
    binance.clear()  # from now on the stand-in knows no symbol: any request would fail
    result = run()
    assert result.status == AnalysisStatus.COMPLETED, result.error
    assert result.signals_generated >= 1
    assert {s.candle_time for s in Signal.objects.all()} == {hourly.index[-1]}
    assert klines_requests(httpserver) == []


def test_gaps_are_listed_and_logged_never_filled(hourly, httpserver, now, caplog):
    holed = hourly.drop(hourly.index[-10:-7])
    store.insert_candles(holed, source="live", asset="BTCUSDT", timeframe="1h")
    with caplog.at_level(logging.WARNING, logger="market.store"):
        frame = store.load_candles("BTCUSDT", "1h", 50, now=now)
    assert klines_requests(httpserver) == []
    assert len(frame) == 50
    assert frame.index.isin(hourly.index[-10:-7]).sum() == 0
    assert frame.attrs["gaps"] == [(hourly.index[-10], hourly.index[-8])]
    assert "3 missing bar(s) in 1 gap(s)" in caplog.text
    assert store.find_stored_gaps("live", "BTCUSDT", "1h") == frame.attrs["gaps"]


def test_an_analysis_with_gaps_still_completes(binance, hourly):
    binance[("BTCUSDT", "1h")] = hourly.drop(hourly.index[-100:-90])
    result = run()
    assert result.status == AnalysisStatus.COMPLETED, result.error


def test_demo_mode_stores_demo_candles_under_their_own_source(settings, now):
    settings.MARKET_DATA_MODE = "demo"
    frame = store.load_candles("ETHUSDT", "1h", 120, now=now)
    assert stored("ETHUSDT", source="demo").count() == 120
    fresh = collectors.DemoSource(now=lambda: now).fetch_candles("ETHUSDT", "1h", limit=120)
    assert_same_candles(frame, fresh, exact=True)


def test_the_configured_timeout_reaches_the_source(binance, settings):
    settings.MARKET_DATA_TIMEOUT = 3.5
    assert store.candle_source("BTCUSDT").timeout == 3.5


def test_bulk_inserts_count_only_new_rows_and_keep_stored_values(hourly):
    series = {"source": "live", "asset": "BTCUSDT", "timeframe": "1h"}
    first = store.bulk_create_insert(hourly.iloc[:10], **series)
    added = store.bulk_create_insert(hourly.iloc[5:15] * 1.01, **series)
    assert (first, added) == (10, 5)
    assert_same_candles(store.stored_candles(**series).iloc[:10], hourly.iloc[:10])


@pytest.mark.integration
def test_postgres_copy_path_round_trips_exactly_and_is_idempotent(hourly):
    from django.db import connection

    assert connection.vendor == "postgresql"
    values = hourly.copy()
    values["close"] = values["close"] + 1e-9  # full float64 precision survives the copy
    values["high"] = np.maximum(values["high"], values["close"])
    assert store.insert_candles(values, source="live", asset="BTCUSDT", timeframe="1h") == 600
    assert store.insert_candles(values, source="live", asset="BTCUSDT", timeframe="1h") == 0
    frame = store.stored_candles("live", "BTCUSDT", "1h")
    assert_same_candles(frame, values, exact=True)
    # A frame repeating a bar falls back to ON CONFLICT instead of failing.
    repeated = pd.concat([values.iloc[:5], values.iloc[:5]])
    assert store.insert_candles(repeated, source="live", asset="ETHUSDT", timeframe="1h") == 5


# ---- every documented collector error is a recorded failure through the store ----


def run(asset="BTCUSDT", timeframe="1h") -> AnalysisRequest:
    analysis = AnalysisRequest.objects.create(asset=asset, timeframe=timeframe)
    return services.run_analysis(str(analysis.correlation_id))


@pytest.fixture
def live(httpserver, settings):
    settings.MARKET_DATA_MODE = "live"
    settings.BINANCE_BASE_URL = httpserver.url_for("").rstrip("/")
    settings.ALPHAVANTAGE_BASE_URL = httpserver.url_for("").rstrip("/")
    return httpserver


@pytest.mark.parametrize(
    "respond, words",
    [
        (lambda s: s.respond_with_response(error(-1121, "Invalid symbol.")), "does not list"),
        (lambda s: s.respond_with_response(error(-1120, "Invalid interval.")), "timeframe"),
        (lambda s: s.respond_with_data("", status=429, headers={"Retry-After": "120"}), "rate"),
        (lambda s: s.respond_with_data("", status=418, headers={"Retry-After": "600"}), "rate"),
        (lambda s: s.respond_with_data("<html>maintenance</html>", status=200), "json"),
        (lambda s: s.respond_with_json({"rows": []}), "array"),
    ],
    ids=["unknown-symbol", "bad-interval", "429", "418-ban", "not-json", "wrong-shape"],
)
def test_collector_errors_are_recorded_failures(live, respond, words):
    respond(live.expect_request("/api/v3/klines"))
    analysis = run()
    assert analysis.status == AnalysisStatus.FAILED
    assert words in analysis.error.lower()
    assert not Candle.objects.exists()


def test_a_stock_without_an_api_key_is_a_recorded_failure(live, settings):
    settings.ALPHAVANTAGE_API_KEY = ""
    analysis = run(asset="AAPL", timeframe="1d")
    assert analysis.status == AnalysisStatus.FAILED
    assert "api key" in analysis.error.lower()


def test_a_failing_tail_fetch_fails_the_analysis_even_with_stored_candles(live, now, settings):
    settings.ANALYSIS_MAX_ATTEMPTS = 1  # a rate limit is retried until the attempts run out
    old = oversold_candles(INTERVAL_MS["1h"], bars=300, now=now - timedelta(hours=5))
    store.insert_candles(old, source="live", asset="BTCUSDT", timeframe="1h")
    live.expect_request("/api/v3/klines").respond_with_data("", status=418)
    analysis = run()
    assert analysis.status == AnalysisStatus.FAILED
    assert "rate limit" in analysis.error.lower()
    [(request, _)] = live.log
    assert int(request.args["startTime"]) == ms(old.index[-1] + HOUR)
