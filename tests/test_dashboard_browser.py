"""The dashboard in headless Chromium on the full stack (the web server, a Celery worker,
PostgreSQL, Redis, RabbitMQ; market data from the local Binance stand-in). One browser for the
module, a fresh context (cookies, language) per test. Screenshots go to test-artifacts/."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from signals.models import Signal, StrategyConfig, Watchlist
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
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "s3cret-pass"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the tests' own database work
    # is synchronous and runs between browser calls, never inside them.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def stack(binance, celery_worker_process, web_server):
    return web_server


@pytest.fixture
def closed_history():
    """A few signals that already ended, so the record and the equity curve have something."""
    now = timezone.now()
    for days, (asset, pnl) in enumerate([("ETHUSDT", 2.0), ("SOLUSDT", -1.0), ("ADAUSDT", 3.0)]):
        Signal.objects.create(
            asset=asset, strategy="breakout", timeframe="1h", direction="long",
            candle_time=now - timedelta(days=3 - days), confidence=0.6, entry_price=12345.5,
            stop_loss=12000.0, take_profit=13000.0, status="closed",
            result="win" if pnl > 0 else "loss", pnl=pnl, r_multiple=pnl, close_price=12500.0,
            closed_at=now - timedelta(days=2 - days),
        )  # fmt: skip


@pytest.fixture
def open_signal(binance):
    """An active mean reversion signal on a BTCUSDT 5m candle the Binance stand-in serves."""
    candles = binance[("BTCUSDT", "5m")]
    candle = candles.iloc[-30]
    return Signal.objects.create(
        asset="BTCUSDT", strategy="mean_reversion", timeframe="5m", direction="long",
        candle_time=candles.index[-30].to_pydatetime(), confidence=0.35,
        entry_price=float(candle["close"]), stop_loss=float(candle["close"]) * 0.98,
        take_profit=float(candle["close"]) * 1.04,
        indicators={"bb_upper": 1.1 * candle["close"], "bb_middle": 1.05 * candle["close"],
                    "bb_lower": 1.0001 * candle["close"], "percent_b": -0.01, "rsi": 25.0,
                    "atr": 0.01 * candle["close"]},
        parameters={"bb_period": 20, "bb_deviations": 2.0},
    )  # fmt: skip


def new_page(browser, locale: str = "en-US"):
    """A page in a new context (cookies, language); page.problems collects console errors."""
    context = browser.new_context(viewport=DESKTOP, locale=locale)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    return page


def open_page(browser, base_url: str, user, locale: str = "en-US"):
    """A logged-in page on the overview. The session is made here, as a login would make it:
    the login form itself is exercised once, in the Portuguese test."""
    client = Client()
    client.force_login(user)
    page = new_page(browser, locale)
    name = settings.SESSION_COOKIE_NAME
    page.context.add_cookies([{"name": name, "value": client.cookies[name].value, "url": base_url}])
    page.goto(f"{base_url}/")
    return page


@pytest.fixture
def trader_page(browser, stack, user, closed_history):
    """Requested after the database fixtures, so the rows exist before the page loads."""
    page = open_page(browser, stack, user)
    yield page
    page.context.close()


@pytest.fixture
def staff_page(browser, stack, staff_user, closed_history):
    page = open_page(browser, stack, staff_user)
    yield page
    page.context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def rows(page, table="#history") -> list[str]:
    return page.locator(f"{table} tbody tr[data-id]").evaluate_all(
        "rows => rows.map(row => row.dataset.asset)"
    )


def test_every_page_loads_without_console_errors(open_signal, staff_page, stack):
    page = staff_page
    for path, ready in [
        ("/", "#performance dd"),
        ("/signals/", "#history tbody tr[data-id]"),
        (f"/signals/{open_signal.pk}/", "#signal-chart[data-drawn=candles]"),
        ("/performance/", "#equity-chart[data-drawn=equity]"),
        ("/strategies/", "form[data-strategy=mean_reversion]"),
        ("/backtests/", "#backtest-parameters input"),
    ]:
        page.goto(f"{stack}{path}")
        page.wait_for_selector(ready, timeout=15_000)
        page.wait_for_selector("#connection.live", timeout=15_000)
        screenshot(page, "page" + (path.rstrip("/").replace("/", "-")[:20] or "-overview"))
    assert page.problems == []


def test_signal_detail_draws_the_chart_and_says_why(open_signal, trader_page, stack):
    page = trader_page
    page.goto(f"{stack}/signals/{open_signal.pk}/")
    chart = page.wait_for_selector("#signal-chart[data-drawn=candles]", timeout=15_000)
    # Candles, the entry, stop and target lines and the signal's marker, on a drawn canvas.
    assert int(chart.get_attribute("data-candles")) > 30
    assert chart.get_attribute("data-levels") == "3"
    assert chart.get_attribute("data-markers") == "1"
    assert page.locator("#signal-chart canvas").count() >= 1
    assert "standard deviations below the 20-bar mean" in page.inner_text("#reason")
    assert page.inner_text("#strength") == "0.35"
    facts = page.inner_text("#facts")
    assert "active" in facts and "–" in facts  # no exit yet: a dash, never 0
    assert page.problems == []


def test_filters_change_the_rows(open_signal, trader_page, stack):
    page = trader_page
    page.goto(f"{stack}/signals/")
    page.wait_for_selector("#history tbody tr[data-id]")
    assert sorted(rows(page)) == ["ADAUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT"]

    page.select_option("#filters select[name=status]", "closed")
    page.wait_for_function("document.querySelectorAll('#history tbody tr').length === 3")
    assert "BTCUSDT" not in rows(page)
    assert "status=closed" in page.url

    page.fill("#filters input[name=asset]", "solusdt")
    page.press("#filters input[name=asset]", "Enter")
    page.wait_for_function("document.querySelectorAll('#history tbody tr').length === 1")
    assert rows(page) == ["SOLUSDT"]
    row = page.inner_text("#history tbody tr")
    assert "loss" in row and "-1%" in row and "-1 R" in row  # result, pnl and R of a closed one

    # Sorting by pnl, largest first, on all closed signals.
    page.click("#filters button[type=reset]")
    page.wait_for_function("document.querySelectorAll('#history tbody tr').length === 4")
    page.click("#history th[data-field=pnl] button")
    page.wait_for_function("new URLSearchParams(location.search).get('ordering') === '-pnl'")
    page.wait_for_function(
        "document.querySelector('#history tbody tr').dataset.asset === 'ADAUSDT'"
    )
    assert page.get_attribute("#history th[data-field=pnl]", "aria-sort") == "descending"
    assert page.problems == []


def test_a_new_signal_appears_live_in_the_history(trader_page, stack):
    page = trader_page
    page.goto(f"{stack}/signals/?status=active")
    page.wait_for_selector("#connection.live", timeout=15_000)
    page.wait_for_selector("#history-empty:not([hidden])")
    page.evaluate("window.sameDocument = true")

    # An analysis runs on the worker; the signal it makes is pushed over the feed.
    page.evaluate(
        """() => sendJson(config.urls.request_analysis, "POST",
                          {asset: "BTCUSDT", timeframe: "5m"})"""
    )
    row = page.wait_for_selector('#history tbody tr.flash[data-asset="BTCUSDT"]', timeout=30_000)
    assert page.evaluate("window.sameDocument") is True, "the page was reloaded"
    assert "active" in row.inner_text()
    assert int(page.inner_text("#row-count").split()[0]) >= 1
    assert page.problems == []


def test_staff_edits_a_strategy_parameter_and_sees_the_validation_error(staff_page, stack):
    page = staff_page
    page.goto(f"{stack}/strategies/")
    form = 'form[data-strategy="mean_reversion"]'
    field = f'{form} input[name="parameter:bb_period"]'
    page.wait_for_selector(field)

    page.fill(field, "1")
    page.click(f"{form} button[type=submit]")
    error = page.wait_for_selector(f'{form} [data-error-for="parameter:bb_period"]:not(:empty)')
    assert "below the minimum 2" in error.inner_text()
    assert page.get_attribute(field, "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.name") == "parameter:bb_period"
    assert not StrategyConfig.objects.exists()

    page.fill(field, "30")
    page.uncheck(f"{form} input[name=enabled]")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{form} .saved:text('Saved.')")
    config = StrategyConfig.objects.get(strategy="mean_reversion", asset="", timeframe="")
    assert config.parameters == {"bb_period": 30}
    assert config.enabled is False

    # The watchlist: a bad asset is named beside its field; a good one is added, then removed.
    page.fill("#watchlist-form input[name=asset]", "BTC USDT")
    page.click("#watchlist-form button[type=submit]")
    message = page.wait_for_selector('#watchlist-form [data-error-for="asset"]:not(:empty)')
    assert "malformed asset symbol" in message.inner_text()
    page.fill("#watchlist-form input[name=asset]", "ethusdt")
    page.click("#watchlist-form button[type=submit]")
    page.wait_for_selector('#watchlist tr[data-asset="ETHUSDT"]')
    assert Watchlist.objects.filter(asset="ETHUSDT", timeframe="1h").exists()
    page.click('#watchlist tr[data-asset="ETHUSDT"] button.danger')
    page.wait_for_selector('#watchlist tr[data-asset="ETHUSDT"]', state="detached")
    assert not Watchlist.objects.exists()
    # The browser logs each refused request; those two 400s are the only problems.
    assert [p for p in page.problems if "status of 400" not in p] == []
    assert len(page.problems) == 2


def test_portuguese_page_shows_portuguese_text_and_formats(browser, stack, user, closed_history):
    page = new_page(browser, locale="pt-BR")
    try:
        page.goto(f"{stack}/accounts/login/")
        assert page.inner_text("h1") == "Acessar"  # Django's own pt_BR catalog words it
        page.fill("input[name=username]", "trader")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(f"{stack}/")
        assert page.get_attribute("html", "lang") == "pt-br"
        assert page.inner_text("nav.main-nav").startswith("Visão geral")
        page.goto(f"{stack}/signals/")
        page.wait_for_selector("#history tbody tr[data-id]")
        first = page.inner_text("#history tbody tr")
        assert "12.345,5" in first  # grouping with dots, a decimal comma
        assert re.search(r"\d{2}/\d{2}/\d{4}", first)  # day/month/year
        assert "encerrado" in first and "ganho" in first
        assert page.inner_text("#page-info") == "Página 1 de 1"
        page.goto(f"{stack}/performance/")
        page.wait_for_selector("#figures dd")
        assert page.inner_text('dt:has(+ dd[data-figure="win_rate"])') == "Taxa de acerto"
        assert page.inner_text('dd[data-figure="win_rate"]') == "66,7%"
        screenshot(page, "performance-pt-br")
        assert page.problems == []
    finally:
        page.context.close()


def test_performance_shows_missing_figures_as_a_dash(trader_page, stack):
    page = trader_page
    page.goto(f"{stack}/performance/")
    page.wait_for_selector("#equity-chart[data-drawn=equity]")
    assert page.inner_text('dd[data-figure="win_rate"]') == "66.7%"
    assert page.locator("#by-strategy tbody tr").count() == 1
    # No signal of this asset: the rates do not exist, so a dash, never "0.0%".
    page.fill("#period input[name=asset]", "XRPUSDT")
    page.press("#period input[name=asset]", "Tab")
    page.wait_for_selector("#equity-chart[data-drawn=empty]")
    assert page.inner_text('dd[data-figure="win_rate"]') == "–"
    assert page.inner_text('dd[data-figure="profit_factor"]') == "–"
    assert page.problems == []


def test_requested_analysis_shows_its_signal_live_on_the_overview(trader_page, stack):
    page = trader_page
    page.wait_for_selector("#connection.live", timeout=15_000)
    page.evaluate("window.sameDocument = true")

    page.fill("#analysis-form input[name=asset]", "btcusdt")
    page.select_option("#analysis-form select[name=timeframe]", "5m")
    page.click("#analysis-form button[type=submit]")
    # Pending at once, before the worker answers.
    page.wait_for_selector("#analyses li", timeout=5_000)

    page.wait_for_selector('#signals tbody tr[data-asset="BTCUSDT"]', timeout=30_000)
    page.wait_for_selector("#analyses li.completed", timeout=30_000)
    assert page.evaluate("window.sameDocument") is True, "the page was reloaded"
    assert "new signal" in page.inner_text("#analyses li.completed")
    page.wait_for_selector("#price-chart[data-drawn=candles][data-levels='3']", timeout=15_000)

    # The analysis survives a reload: the recent ones come from the API.
    page.reload()
    page.wait_for_selector("#analyses li.completed", timeout=10_000)
    assert "BTCUSDT 5m" in page.inner_text("#analyses")
    screenshot(page, "dashboard")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    screenshot(page, "dashboard-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.problems == []


def test_dashboard_reconnects_and_catches_up_on_what_it_missed(trader_page, binance):
    page = trader_page
    binance[("ETHUSDT", "5m")] = binance[("BTCUSDT", "5m")]
    page.wait_for_selector("#connection.live", timeout=15_000)

    # The feed drops; the next retry is far off (backoff after many failed attempts).
    page.evaluate("() => { live.attempts = 10; live.socket.close(); }")
    page.wait_for_selector("#connection.offline")
    assert "retrying in" in page.inner_text("#connection")

    # Meanwhile an analysis runs to the end (asked over HTTP, not through the form).
    status = page.evaluate(
        """async () => {
            const body = await sendJson(config.urls.request_analysis, "POST",
                                        {asset: "ETHUSDT", timeframe: "5m"});
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


# The browser's Notification, recorded instead of shown (headless Chromium shows none).
RECORD_NOTIFICATIONS = """
window.shownNotifications = [];
window.Notification = class {
    static permission = "granted";
    static requestPermission() { return Promise.resolve("granted"); }
    constructor(title, options) { window.shownNotifications.push({title, ...options}); }
};
"""


def test_alerts_follow_the_filters_and_are_remembered(trader_page, stack):
    page = trader_page
    page.context.add_init_script(RECORD_NOTIFICATIONS)
    page.goto(f"{stack}/signals/?asset=BTCUSDT")
    page.wait_for_selector("#history-empty:not([hidden])")
    page.check("#alert-notify")
    page.wait_for_function("localStorage['botsinais.alerts.trader'].includes('BTCUSDT')")

    for asset in ("ETHUSDT", "BTCUSDT"):
        page.evaluate(
            """(asset) => handleLiveEvent({
                event_type: "SignalGenerated", timestamp: new Date().toISOString(),
                data: {id: crypto.randomUUID(), asset, direction: "long", strategy: "breakout",
                       timeframe: "1h", entry_price: 100, status: "active",
                       created_at: new Date().toISOString()},
            })""",
            asset,
        )
    shown = page.evaluate("window.shownNotifications")
    assert [n["title"] for n in shown] == ["New signal: long BTCUSDT"]

    page.reload()
    assert page.is_checked("#alert-notify")
    assert page.problems == []
