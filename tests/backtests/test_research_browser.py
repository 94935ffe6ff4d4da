"""The Research page in headless Chromium on the full stack (web server, Celery worker, the chord
on RabbitMQ and Redis): a grid over two assets and two timeframes from the form shows its
ranking and heatmap (all series or one), a bad grid its reason beside the field, and a
walk-forward its windows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.fake_binance import INTERVAL_MS
from tests.test_backtests_browser import random_walk_candles
from tests.test_dashboard_browser import browser, open_page, screenshot  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]
FORM = "#research-form"


@pytest.fixture
def research_page(browser, binance, celery_worker_process, web_server, user):  # noqa: F811
    for asset in ("BTCUSDT", "ETHUSDT"):
        binance[(asset, "1h")] = random_walk_candles(INTERVAL_MS["1h"], bars=24 * 20)
        binance[(asset, "4h")] = random_walk_candles(INTERVAL_MS["4h"], bars=6 * 20)
    page = open_page(browser, web_server, user)
    page.goto(f"{web_server}/backtests/research/")
    yield page
    page.context.close()


def fill(page, grid: str, assets: str = "BTCUSDT", timeframes: tuple[str, ...] = ("1h",)) -> None:
    page.select_option(f"{FORM} select[name=strategy]", "mean_reversion")
    page.fill(f"{FORM} input[name=assets]", assets)
    page.select_option(f"{FORM} select[name=timeframes]", list(timeframes))
    page.fill(f"{FORM} input[name=start]", (timezone.now() - timedelta(days=15)).date()
              .isoformat())
    page.fill(f"{FORM} textarea[name=grid]", grid)
    page.fill(f"{FORM} input[name=minimum_trades]", "3")


def test_a_grid_and_a_walk_forward_from_the_form(research_page):
    page = research_page
    fill(page, "bb_period=1:5:1")
    page.click(f"{FORM} button[type=submit]")
    page.wait_for_selector(f'{FORM} [data-error-for="grid"]:not(:empty)')
    assert "below the minimum 2" in page.inner_text(f'{FORM} [data-error-for="grid"]')

    fill(page, "bb_period=10:30:10\nbb_deviations=1.5,2", "btcusdt, ETHUSDT", ("1h", "4h"))
    page.click(f"{FORM} button[type=submit]")
    page.wait_for_selector('#research-list tr[data-kind="grid"][data-status="completed"]',
                           timeout=90_000)
    page.wait_for_selector("#grid-detail:not([hidden]) #ranking tbody tr", timeout=15_000)
    page.wait_for_function("document.querySelector('#heatmap').naturalWidth > 0",
                           timeout=15_000)
    assert page.locator("#ranking thead th").count() >= 5
    assert "BTCUSDT, ETHUSDT 1h, 4h" in page.inner_text("#grid-title")
    assets = page.locator("#ranking tbody td:nth-child(2)").all_inner_texts()
    timeframes = page.locator("#ranking tbody td:nth-child(3)").all_inner_texts()
    assert set(zip(assets, timeframes, strict=True)) <= {
        ("BTCUSDT", "1h"), ("BTCUSDT", "4h"), ("ETHUSDT", "1h"), ("ETHUSDT", "4h")}
    page.select_option("#heatmap-x", "bb_deviations")
    page.wait_for_function(
        "document.querySelector('#heatmap').src.includes('x=bb_deviations')", timeout=15_000)
    page.select_option("#heatmap-series", "ETHUSDT 4h")
    page.wait_for_function(
        "document.querySelector('#heatmap').src.includes('asset=ETHUSDT&timeframe=4h')"
        " && document.querySelector('#heatmap').complete"
        " && document.querySelector('#heatmap').naturalWidth > 0", timeout=15_000)
    screenshot(page, "research-grid")

    fill(page, "bb_period=10,20")
    page.check(f"{FORM} input[name=walk_forward]")
    page.fill(f"{FORM} input[name=train_bars]", "120")
    page.fill(f"{FORM} input[name=test_bars]", "60")
    page.click(f"{FORM} button[type=submit]")
    page.wait_for_selector('#research-list tr[data-kind="walk"][data-status="completed"]',
                           timeout=90_000)
    page.wait_for_selector("#walk-detail:not([hidden]) #walk-windows tbody tr", timeout=15_000)
    assert page.locator("#walk-summary tbody tr").count() == 2
    screenshot(page, "research-walk-forward")
    assert [p for p in page.problems if "status of 400" not in p] == []
