"""The dashboard in headless Chromium on the full stack: log in, request an analysis from the
form, and the new signal appears without a reload. Screenshots go to test-artifacts/."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from signals.models import Signal
from tests.conftest import ARTIFACTS, IN_CI

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

CHROMIUM = "/usr/bin/chromium"
# Playwright never downloads a browser here: it drives the system's Chromium.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def stack(binance, celery_worker_process, daphne_server):
    return daphne_server


@pytest.fixture
def closed_history():
    """A few signals that already ended, so the equity curve has something to draw."""
    now = timezone.now()
    for days, (asset, pnl) in enumerate([("ETHUSDT", 2.0), ("SOLUSDT", -1.0), ("ADAUSDT", 3.0)]):
        Signal.objects.create(
            asset=asset, strategy="breakout", timeframe="1h", direction="long",
            candle_time=now - timedelta(days=3 - days), confidence=0.6, entry_price=10.0,
            stop_loss=9.0, take_profit=12.0, status="closed", result="win" if pnl > 0 else "loss",
            pnl=pnl, closed_at=now - timedelta(days=2 - days),
        )  # fmt: skip


@pytest.fixture
def page(stack, user, closed_history):
    """A logged-in page. Requested after the database fixtures: the ORM refuses to run while
    Playwright's event loop is active in this thread, so no database work happens meanwhile."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.problems = []
        page.on("pageerror", lambda error: page.problems.append(str(error)))
        page.on(
            "console",
            lambda m: m.type == "error" and page.problems.append(m.text),
        )
        page.goto(f"{stack}/accounts/login/")
        page.fill("input[name=username]", "trader")
        page.fill("input[name=password]", "s3cret-pass")
        page.click("button[type=submit]")
        page.wait_for_url(f"{stack}/")
        yield page
        browser.close()


def test_requested_analysis_shows_its_signal_live_without_a_reload(page):
    page.wait_for_selector("#connection.live", timeout=15_000)
    page.evaluate("window.sameDocument = true")

    page.fill("#analysis-form input[name=asset]", "btcusdt")
    page.select_option("#analysis-form select[name=timeframe]", "5m")
    page.click("#analysis-form button[type=submit]")

    page.wait_for_selector('#signals tbody tr[data-asset="BTCUSDT"]', timeout=30_000)
    page.wait_for_selector("#analyses li.completed", timeout=30_000)
    assert page.evaluate("window.sameDocument") is True, "the page was reloaded"
    assert "new signal" in page.inner_text("#analyses li.completed")
    assert int(page.inner_text("#active-count")) >= 1

    # The first signal is selected: its candles and entry, stop and target lines are drawn.
    page.wait_for_selector("#price-chart g.level.entry", timeout=15_000)
    assert page.locator("#price-chart rect.up, #price-chart rect.down").count() > 20
    # The performance card: the record so far and its equity curve, built from closed signals.
    page.wait_for_selector("#equity-chart polyline.curve", timeout=10_000)
    assert page.inner_text("#performance").count("%") == 2

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)  # the charts redraw for the new width
    page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.problems == []


def test_dashboard_reconnects_and_catches_up_on_what_it_missed(page, binance):
    binance[("ETHUSDT", "5m")] = binance[("BTCUSDT", "5m")]
    page.wait_for_selector("#connection.live", timeout=15_000)

    # The feed drops; the next retry is far off (backoff after many failed attempts).
    page.evaluate("() => { live.attempts = 10; live.socket.close(); }")
    page.wait_for_selector("#connection.offline")
    assert "retrying in" in page.inner_text("#connection")

    # Meanwhile an analysis runs to the end (asked over HTTP, not through the form).
    status = page.evaluate(
        """async () => {
            const body = await api(config.urls.request_analysis, {
                method: "POST", headers: {"Content-Type": "application/json"},
                body: JSON.stringify({asset: "ETHUSDT", timeframe: "5m"}),
            });
            for (let i = 0; i < 300; i++) {
                const analysis = await api(body.status_url);
                if (analysis.status === "completed" || analysis.status === "failed") {
                    return analysis.status;
                }
                await new Promise((resolve) => setTimeout(resolve, 200));
            }
            return "still running";
        }"""
    )
    assert status == "completed"
    missed = '#signals tbody tr[data-asset="ETHUSDT"]'
    assert page.locator(missed).count() == 0

    # Back online: it reconnects at once and asks for what it missed.
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.wait_for_selector("#connection.live", timeout=10_000)
    page.wait_for_selector(missed, timeout=10_000)
    assert page.problems == []
