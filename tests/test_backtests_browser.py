"""The Backtests page in headless Chromium on the full stack (the web server, a Celery worker on the
backtests queue, PostgreSQL, Redis, RabbitMQ; candles from the local Binance stand-in): a
backtest submitted from the form shows its progress live, then its metrics and curves."""

from datetime import timedelta

import pandas as pd
import pytest
from django.utils import timezone

from strategies.warmup import synthetic_candles
from tests.fake_binance import INTERVAL_MS
from tests.test_dashboard_browser import browser, open_page, screenshot  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

def random_walk_candles(timeframe_ms: int, bars: int) -> pd.DataFrame:
    """A seeded random walk up to the last closed bar: enough swings for trades to happen."""
    now_ms = pd.Timestamp.now(tz="UTC").value // 1_000_000
    first_open = (now_ms // timeframe_ms - bars) * timeframe_ms
    return synthetic_candles(bars, 12, step=0.004, freq=pd.Timedelta(milliseconds=timeframe_ms),
                             start=pd.Timestamp(first_open, unit="ms", tz="UTC"))


@pytest.fixture
def backtests_page(browser, binance, celery_worker_process, web_server, user):  # noqa: F811
    # Four days of 5-minute candles: the form's period starts at midnight two days ago.
    binance[("BTCUSDT", "5m")] = random_walk_candles(INTERVAL_MS["5m"], bars=4 * 288)
    page = open_page(browser, web_server, user, path=None)
    page.events = []
    page.on("websocket", lambda socket: socket.on(
        "framereceived", lambda frame: page.events.append(frame)))
    page.goto(f"{web_server}/backtests/")
    page.wait_for_selector("#connection.live", timeout=15_000)
    page.wait_for_selector("#backtest-parameters input")
    page.select_option("#backtest-form select[name=strategy]", "mean_reversion")
    page.wait_for_selector('#backtest-parameters input[name="parameter:bb_period"]')
    yield page
    page.context.close()


def submit(page, mode: str) -> None:
    start = (timezone.now() - timedelta(days=2)).date().isoformat()
    page.select_option("#backtest-form select[name=strategy]", "mean_reversion")
    page.fill("#backtest-form input[name=asset]", "BTCUSDT")
    page.select_option("#backtest-form select[name=timeframe]", "5m")
    page.fill("#backtest-form input[name=start]", start)
    page.select_option("#backtest-form select[name=mode]", mode)
    page.click("#backtest-form button[type=submit]")


def test_a_backtest_from_the_form_shows_progress_then_metrics_and_curves(backtests_page):
    page = backtests_page
    form = "#backtest-form"
    # A parameter out of bounds: the API's reason beside the field, nothing queued.
    page.fill(f'{form} input[name="parameter:bb_period"]', "0")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f'{form} [data-error-for="parameter:bb_period"]:not(:empty)')
    assert page.get_attribute(f'{form} input[name="parameter:bb_period"]', "aria-invalid") == "true"
    assert page.locator("#backtests tbody tr[data-id]").count() == 0
    page.fill(f'{form} input[name="parameter:bb_period"]', "")

    submit(page, "one_position")
    page.wait_for_selector("#backtests tbody tr[data-id]", timeout=10_000)
    page.wait_for_selector('#backtests tr[data-status="completed"]', timeout=90_000)
    page.wait_for_selector("#figures dd", timeout=15_000)
    page.wait_for_selector("#equity-chart[data-drawn=equity]", timeout=15_000)
    # The store holds the candles the backtest read: the chart covers its period.
    page.wait_for_selector("#candle-chart[data-drawn=candles]", timeout=15_000)
    # Progress was pushed over the live feed. (A run this short may end before its row is
    # drawn, so whether a bar was seen mid-run is left to chance and not asserted.)
    pushed = [frame for frame in page.events if '"BacktestProgress"' in frame]
    assert pushed, "no BacktestProgress event reached the page"
    assert any('"BacktestCompleted"' in frame for frame in page.events)
    figures = page.locator("#figures dd").all_inner_texts()
    assert figures and all(text.strip() for text in figures)
    screenshot(page, "backtest-detail")

    # A second run, every signal this time, then the two side by side.
    submit(page, "every_signal")
    page.wait_for_function(
        "document.querySelectorAll('#backtests tr[data-status=completed]').length === 2",
        timeout=90_000)
    for box in page.locator("#backtests tbody input[type=checkbox]").all()[:2]:
        box.check()
    page.click("#compare")
    page.wait_for_selector("#comparison:not([hidden])")
    page.wait_for_selector("#compare-a-chart[data-drawn=equity]")
    page.wait_for_selector("#compare-b-chart[data-drawn=equity]")
    assert page.locator("#comparison-table tbody tr").count() > 5
    screenshot(page, "backtests-compared")
    # The browser logs the refused request (the parameter out of bounds); nothing else.
    assert [p for p in page.problems if "status of 400" not in p] == []
