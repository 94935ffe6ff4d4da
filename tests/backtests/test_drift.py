"""The drift report on the demo market: scheduled scans over a simulated day with a frozen clock
agree with the backtest, and each kind of difference is named with its cause."""

import re
import time
from io import StringIO

import pandas as pd
import pytest
import time_machine
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db.models import F
from django.urls import reverse

from backtests import drift as drift_service
from collectors.demo import DemoSource
from market.models import Candle
from signals import scans, services, tasks
from signals.models import AnalysisRequest, Signal, StrategyConfig, Watchlist
from strategies import drift
from strategies.mean_reversion import MeanReversion
from tests.conftest import wait_until
from tests.fake_binance import INTERVAL_MS, klines_handler, oversold_candles

pytestmark = pytest.mark.django_db(transaction=True)  # the scans' analyses run on commit

ASSET, TIMEFRAME = "BTCUSDT", "5m"
DAY = pd.Timestamp("2026-03-02T00:00:00Z")
BAR = pd.Timedelta(minutes=5)
# Beat scans every 300 s from whenever it started: not on the bar boundary.
SCAN_PHASE = pd.Timedelta(seconds=17)


@pytest.fixture(autouse=True)
def fresh_candle_cache(settings):
    # Frames cached by another test at the same frozen moments. Only the in-process cache: the
    # full stack's Redis is shared, and its tests run on the real clock.
    if not settings.FULL_STACK:
        cache.clear()


@pytest.fixture
def watchlist():
    return Watchlist.objects.create(asset=ASSET, timeframe=TIMEFRAME)


def scan_at(moment: pd.Timestamp) -> None:
    """One scheduled scan (and the settling each analysis triggers) at a frozen moment."""
    with time_machine.travel(moment.to_pydatetime(), tick=False):
        scans.scan_watchlist()


def scan_bars(first: pd.Timestamp, bars: int, *, skip=(), between=None) -> None:
    """Scan after each of `bars` candles from first closes, except the candles in skip;
    between(candle) runs right after the scan that analysed candle."""
    for k in range(bars):
        candle = first + k * BAR
        if candle in skip:
            continue
        scan_at(candle + BAR + SCAN_PHASE)
        if between:
            between(candle)


def report(start, end, strategy="mean_reversion"):
    moment = end + SCAN_PHASE + pd.Timedelta(seconds=5)
    with time_machine.travel(moment.to_pydatetime(), tick=False):
        return drift_service.drift_report(strategy=strategy, asset=ASSET, timeframe=TIMEFRAME,
                                          start=start.isoformat(), end=end.isoformat())


def causes(result) -> dict[pd.Timestamp, str]:
    return {c.candle_time: c.cause for c in result.report.comparisons}


def firing_candles(start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    """The candles of [start, end) on which mean_reversion fires on the demo market."""
    candles = DemoSource(now=lambda: end).fetch_candles(ASSET, TIMEFRAME, limit=1500)
    fired = MeanReversion().signals(candles).index
    return [candle for candle in fired if start <= candle < end]


def test_a_day_of_scheduled_scans_matches_the_backtest_with_nothing_unexplained(watchlist):
    end = DAY + pd.Timedelta(days=1)
    scan_bars(DAY, 288)

    for strategy in ("breakout", "mean_reversion", "trend_following"):
        result = report(DAY, end, strategy)
        counts = result.report.counts()
        assert counts["unexplained"] == 0, [
            (c.candle_time, c.detail) for c in result.report.comparisons if c.cause != "identical"
        ]
        assert result.analysed_candles == 288
        assert counts["identical"] == result.live_signals > 0
        assert counts["missed"] == 0
    settled = Signal.objects.exclude(status="active")
    assert settled.exists()  # endings were compared, not only open signals


# ---- each cause, on a stretch where mean_reversion fires on consecutive candles ----

STRETCH_START = DAY + pd.Timedelta(hours=7, minutes=55)
STRETCH_END = DAY + pd.Timedelta(hours=8, minutes=50)
STRETCH_BARS = (STRETCH_END - STRETCH_START) // BAR


@pytest.fixture
def fired():
    """The stretch's firing candles (08:05 to 08:25 and 08:40 on this day)."""
    candles = firing_candles(STRETCH_START, STRETCH_END)
    assert len(candles) >= 4
    return candles


def stretch_report():
    result = report(STRETCH_START, STRETCH_END)
    assert result.report.unexplained == 0, [
        (c.candle_time, c.detail) for c in result.report.comparisons if c.cause == "unexplained"
    ]
    return result


def test_a_candle_no_scan_analysed_is_missed(watchlist, fired):
    skipped = fired[1]
    scan_bars(STRETCH_START, STRETCH_BARS, skip={skipped})

    result = stretch_report()
    assert causes(result) == {
        candle: "missed" if candle == skipped else "identical" for candle in fired
    }
    missed = next(c for c in result.report.comparisons if c.cause == "missed")
    assert missed.live is None and missed.backtest is not None


def test_a_scan_that_left_the_strategy_out_misses_it_too(watchlist, fired):
    Watchlist.objects.filter(pk=watchlist.pk).update(strategies=["breakout"])
    scan_bars(STRETCH_START, STRETCH_BARS)

    assert set(causes(stretch_report()).values()) == {"missed"}


def test_a_config_change_mid_stretch_explains_the_signals_before_it(watchlist, fired):
    changed_after = fired[2]

    def change_config(candle):
        if candle == changed_after:
            StrategyConfig.objects.create(strategy="mean_reversion", parameters={"stop_atr": 2.0})

    scan_bars(STRETCH_START, STRETCH_BARS, between=change_config)

    result = stretch_report()
    assert result.spec.strategy.params["stop_atr"] == 2.0  # the backtest runs today's config
    assert causes(result) == {
        candle: "config_change" if candle <= changed_after else "identical" for candle in fired
    }
    first = result.report.comparisons[0]
    assert "stop_atr=1.5 (backtest 2.0)" in first.detail


def test_a_strategy_disabled_for_a_while_is_a_config_change(watchlist, fired):
    def toggle(candle):
        if candle == fired[0] - BAR:
            StrategyConfig.objects.create(strategy="mean_reversion", enabled=False)
        if candle == fired[1]:
            StrategyConfig.objects.filter(strategy="mean_reversion").update(enabled=True)

    scan_bars(STRETCH_START, STRETCH_BARS, between=toggle)

    result = stretch_report()
    comparisons = {c.candle_time: c for c in result.report.comparisons}
    for candle in fired[:2]:
        assert comparisons[candle].cause == "config_change"
        assert "the strategy disabled" in comparisons[candle].detail
    assert {comparisons[candle].cause for candle in fired[2:]} == {"identical"}


def test_a_candle_rewritten_after_its_analysis_is_revised_data(watchlist, fired):
    rewritten = fired[3]

    def rewrite(candle):
        if candle == rewritten:
            scale = {name: F(name) * 1.001 for name in ("open", "high", "low", "close")}
            Candle.objects.filter(asset=ASSET, timeframe=TIMEFRAME, open_time=rewritten).update(
                **scale)

    scan_bars(STRETCH_START, STRETCH_BARS, between=rewrite)

    result = stretch_report()
    comparison = {c.candle_time: c for c in result.report.comparisons}[rewritten]
    assert comparison.cause == "revised_data"
    assert "have changed since" in comparison.detail
    assert not drift.agree(comparison.live.entry, comparison.backtest.entry)
    assert causes(result)[fired[-1]] == "identical"  # analysed on the rewritten candles


def test_a_signal_cancelled_live_is_a_different_ending(watchlist, fired):
    scan_bars(STRETCH_START, STRETCH_BARS)
    services.cancel_active_signals(Signal.objects.filter(candle_time=fired[-1]))

    result = stretch_report()
    comparison = {c.candle_time: c for c in result.report.comparisons}[fired[-1]]
    assert (comparison.cause, comparison.detail.split(";")[0]) == (
        "different_ending", "cancelled live")


def test_a_live_signal_unlike_the_backtest_for_no_known_reason_is_unexplained(watchlist, fired):
    scan_bars(STRETCH_START, STRETCH_BARS)
    Signal.objects.filter(candle_time=fired[0]).update(stop_loss=F("stop_loss") * 0.99)

    result = report(STRETCH_START, STRETCH_END)
    assert result.report.unexplained == 1
    comparison = result.report.comparisons[0]
    assert (comparison.candle_time, comparison.cause) == (fired[0], "unexplained")
    assert comparison.detail.startswith("levels differ: stop_loss")


def test_analyses_record_what_they_evaluated(watchlist):
    scan_at(DAY + BAR + SCAN_PHASE)

    analysis = AnalysisRequest.objects.get()
    assert pd.Timestamp(analysis.candle_time) == DAY
    assert analysis.candles_read == 500
    assert set(analysis.strategy_parameters) == {"breakout", "mean_reversion", "trend_following"}
    assert analysis.strategy_parameters["mean_reversion"] == MeanReversion().params
    assert len(analysis.candles_digest) == 32


# ---- the API, the command and the page ----

STRETCH_QUERY = {"strategy": "mean_reversion", "asset": ASSET, "timeframe": TIMEFRAME,
                 "from": STRETCH_START.isoformat(), "to": STRETCH_END.isoformat()}


@pytest.fixture
def scanned_stretch(watchlist, fired):
    scan_bars(STRETCH_START, STRETCH_BARS, skip={fired[0]})
    return fired


def at_report_time():
    return time_machine.travel((STRETCH_END + pd.Timedelta(minutes=1)).to_pydatetime(),
                               tick=False)


def test_api_answers_the_report(api_client, scanned_stretch):
    with at_report_time():
        response = api_client.get("/api/backtests/drift/", STRETCH_QUERY)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["strategy"], body["asset"], body["timeframe"], body["source"]) == (
        "mean_reversion", ASSET, TIMEFRAME, "demo")
    assert body["from"] == STRETCH_START.isoformat() and body["to"] == STRETCH_END.isoformat()
    assert body["counts"] == {"identical": len(scanned_stretch) - 1, "missed": 1,
                              "config_change": 0, "revised_data": 0, "different_ending": 0,
                              "unexplained": 0}
    first = body["comparisons"][0]
    assert (first["cause"], first["live"]) == ("missed", None)
    assert first["backtest"]["entry"] > 0
    identical = body["comparisons"][1]
    live, backtest = identical["live"], identical["backtest"]
    for name, value in live.items():
        if isinstance(value, float):
            assert drift.agree(value, backtest[name]), name
        else:
            assert value == backtest[name], name


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"strategy": ""}, "strategy", "required"),
        ({"strategy": "astrology"}, "strategy", "unknown strategy"),
        ({"asset": "ZZZZUSDT"}, "asset", "demo"),
        ({"timeframe": "7m"}, "timeframe", "use one of"),
        ({"from": None}, "from", "required"),
        ({"from": "last tuesday"}, "from", "Not an ISO 8601 timestamp"),
        ({"to": "2026-03-01T00:00:00Z"}, "to", "is not after start"),
        ({"from": "2020-01-01T00:00:00Z"}, "to", "a drift report covers at most"),
    ],
)
def test_bad_query_is_a_400_naming_the_field(api_client, changes, field, reason):
    query = {k: v for k, v in {**STRETCH_QUERY, **changes}.items() if v is not None}
    with at_report_time():
        response = api_client.get("/api/backtests/drift/", query)
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert reason in " ".join(response.json()[field])


def test_a_period_without_candles_is_a_404(api_client):
    query = {**STRETCH_QUERY, "from": "1969-12-01T00:00:00Z",
             "to": "1969-12-02T00:00:00Z"}  # the demo market opens at the epoch
    with at_report_time():
        response = api_client.get("/api/backtests/drift/", query)
    assert response.status_code == 404
    assert "no demo candles" in response.json()["detail"]


def test_command_prints_the_counts_and_each_difference(scanned_stretch):
    output = StringIO()
    with at_report_time():
        call_command("drift", "--strategy", "mean_reversion", "--asset", ASSET, "--timeframe",
                     TIMEFRAME, "--from", STRETCH_QUERY["from"], "--to", STRETCH_QUERY["to"],
                     stdout=output)
    text = output.getvalue()
    assert f"live signals: {len(scanned_stretch) - 1}," in text
    assert re.search(r"missed\s+1\n", text) and re.search(r"unexplained\s+0\n", text)
    assert f"{scanned_stretch[0].isoformat()}  missed" in text
    assert f"{scanned_stretch[1].isoformat()}  identical" not in text  # differences only


def test_command_bad_input_exits_2_naming_the_option():
    with pytest.raises(CommandError) as error:
        call_command("drift", "--strategy", "mean_reversion", "--asset", ASSET,
                     "--timeframe", "7m", "--from", STRETCH_QUERY["from"])
    assert error.value.returncode == 2
    assert str(error.value).startswith("--timeframe: use one of")


def test_command_fails_on_an_unexplained_difference(scanned_stretch):
    Signal.objects.filter(candle_time=scanned_stretch[1]).update(
        entry_price=(F("stop_loss") + F("take_profit")) / 2)
    with at_report_time(), pytest.raises(CommandError, match="1 unexplained difference"):
        call_command("drift", "--strategy", "mean_reversion", "--asset", ASSET, "--timeframe",
                     TIMEFRAME, "--from", STRETCH_QUERY["from"], "--to", STRETCH_QUERY["to"],
                     stdout=StringIO())


def test_page_shows_the_report_and_names_a_bad_field(client, user, scanned_stretch):
    assert client.get(reverse("drift-page"))["Location"].startswith("/accounts/login/")
    client.force_login(user)
    assert client.get(reverse("drift-page")).status_code == 200
    with at_report_time():
        page = client.get(reverse("drift-page"), STRETCH_QUERY).content.decode()
        bad = client.get(reverse("drift-page"), {**STRETCH_QUERY, "to": "soon"}).content.decode()
    assert '<dd id="drift-unexplained">0</dd>' in page
    assert page.count('data-cause="missed"') == 1
    assert page.count('data-cause="identical"') == len(scanned_stretch) - 1
    assert "to: Not an ISO 8601 timestamp" in bad


def test_the_page_shares_the_apis_backtest_rate_limit(client, user, scanned_stretch, settings):
    rest = settings.REST_FRAMEWORK
    rates = {**rest["DEFAULT_THROTTLE_RATES"], "backtest": "1/minute"}
    settings.REST_FRAMEWORK = {**rest, "DEFAULT_THROTTLE_RATES": rates}
    cache.clear()
    client.force_login(user)
    with at_report_time():
        assert client.get(reverse("drift-page"), STRETCH_QUERY).status_code == 200
        refused = client.get(reverse("drift-page"), STRETCH_QUERY)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many reports asked for" in refused.content.decode()
    assert client.get(reverse("drift-page")).status_code == 200  # the empty form is not counted


# ---- the full stack: a real worker scanning on the real clock ----


class ClosedBars(dict):
    """(symbol, interval) -> a frame the Binance stand-in serves as time goes by: only the bars
    closed at the moment of the request, as Binance's closed klines."""

    def __getitem__(self, key):
        frame = super().__getitem__(key)
        closes = frame.index + pd.Timedelta(milliseconds=INTERVAL_MS[key[1]])
        return frame[closes <= pd.Timestamp.now(tz="UTC")]


def next_bar_close(after: pd.Timestamp) -> pd.Timestamp:
    return after.floor("1min") + pd.Timedelta(minutes=1)


@pytest.mark.integration
def test_scheduled_scans_on_the_worker_leave_nothing_unexplained(
    binance, httpserver, celery_worker_process
):
    """Two scans, each after a 1m candle closes, of a random-walk market (the demo's path) and
    of a market selling off into the first scan's candle (mean_reversion fires there)."""
    now = pd.Timestamp.now(tz="UTC")
    first_scan = next_bar_close(now) + pd.Timedelta(seconds=2)
    walk = DemoSource(now=lambda: now + pd.Timedelta(minutes=5)).fetch_candles(
        ASSET, "1m", limit=800)
    frames = ClosedBars({
        ("DRIFTAUSDT", "1m"): walk,
        ("DRIFTBUSDT", "1m"): oversold_candles(INTERVAL_MS["1m"], bars=600, now=first_scan),
    })
    httpserver.clear_all_handlers()
    httpserver.expect_request("/api/v3/klines").respond_with_handler(klines_handler(frames))
    for asset, _ in frames:
        Watchlist.objects.create(asset=asset, timeframe="1m")

    scan_time = first_scan
    for scans_done in (2, 4):
        time.sleep(max(0.0, (scan_time - pd.Timestamp.now(tz="UTC")).total_seconds()))
        tasks.scan_watchlist.delay()  # as beat sends it
        wait_until(lambda n=scans_done: AnalysisRequest.objects.filter(
            status="completed").count() >= n, timeout=60)
        scan_time = next_bar_close(pd.Timestamp.now(tz="UTC")) + pd.Timedelta(seconds=2)
    assert not AnalysisRequest.objects.exclude(status="completed").exists()

    start = first_scan.floor("1min") - pd.Timedelta(minutes=1)
    analysed = AnalysisRequest.objects.values_list("candle_time", flat=True)
    end = pd.Timestamp(max(analysed)) + pd.Timedelta(minutes=1)
    identical = live_signals = 0
    for asset, _ in frames:
        for strategy in ("breakout", "mean_reversion", "trend_following"):
            result = drift_service.drift_report(
                strategy=strategy, asset=asset, timeframe="1m", start=start.isoformat(),
                end=end.isoformat())
            assert result.run.source == "live"
            assert result.report.unexplained == 0, [
                (c.candle_time, c.detail) for c in result.report.comparisons]
            identical += result.report.counts()["identical"]
            live_signals += result.live_signals
        assert result.analysed_candles >= 1
    assert identical >= 1
    assert live_signals == Signal.objects.count()  # every one of them was compared
