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


def open_page(browser, base_url: str, user, locale: str = "en-US", path: str | None = "/"):
    """A logged-in page, on path unless None. The session is made here, as a login would make
    it: the login form itself is exercised once, in the Portuguese test."""
    client = Client()
    client.force_login(user)
    page = new_page(browser, locale)
    name = settings.SESSION_COOKIE_NAME
    page.context.add_cookies([{"name": name, "value": client.cookies[name].value, "url": base_url}])
    if path is not None:
        page.goto(f"{base_url}{path}")
    return page


@pytest.fixture
def trader_page(browser, stack, user, closed_history):
    """Logged in, on no page yet: each test opens the one it is about. Requested after the
    database fixtures, so the rows exist before the page loads."""
    page = open_page(browser, stack, user, path=None)
    yield page
    page.context.close()


@pytest.fixture
def staff_page(browser, stack, staff_user, closed_history):
    page = open_page(browser, stack, staff_user, path=None)
    yield page
    page.context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def rows(page, table="#history") -> list[str]:
    return page.locator(f"{table} tbody tr[data-id]").evaluate_all(
        "rows => rows.map(row => row.dataset.asset)"
    )


# Every visible piece of text on the page whose contrast with what is behind it is under WCAG AA:
# 4.5:1, or 3:1 for large text (24px, or 18.66px bold). The background is the nearest opaque
# one up the tree, with translucent layers blended over it; disabled controls are exempt.
LOW_CONTRAST = """() => {
    const rgba = (css) => {
        const parts = css.match(/[\\d.]+/g).map(Number);
        return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
    };
    const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3]))
        .concat(1);
    const backdrop = (node) => {
        const layers = [];
        for (let at = node; at; at = at.parentElement) {
            const layer = rgba(getComputedStyle(at).backgroundColor);
            if (layer[3] > 0) layers.push(layer);
            if (layer[3] >= 1) break;
        }
        return layers.reverse().reduce((below, layer) => over(layer, below), [255, 255, 255, 1]);
    };
    const luminance = (color) => {
        const [r, g, b] = color.slice(0, 3).map((v) => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const failures = [];
    const checked = new Set();
    const texts = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (texts.nextNode()) {
        const node = texts.currentNode.parentElement;
        if (!texts.currentNode.textContent.trim() || checked.has(node)) continue;
        checked.add(node);
        if (node.closest("[hidden], .visually-hidden, script, style, :disabled")) continue;
        const style = getComputedStyle(node);
        if (style.visibility !== "visible" || node.getClientRects().length === 0) continue;
        const behind = backdrop(node);
        const ink = over(rgba(style.color), behind);
        const [light, dark] = [luminance(ink), luminance(behind)].sort((a, b) => b - a);
        const ratio = (light + 0.05) / (dark + 0.05);
        const size = parseFloat(style.fontSize);
        const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
        if (ratio < (large ? 3 : 4.5)) {
            failures.push(`${node.tagName}.${node.className} "${node.textContent.trim()
                .slice(0, 40)}" ${style.color} on rgb(${behind.slice(0, 3)}): ${ratio.toFixed(2)}`);
        }
    }
    return failures;
}"""


def test_every_page_loads_without_console_errors(open_signal, staff_page, stack):
    page = staff_page
    for path, ready in [
        ("/", "#performance dd"),
        ("/signals/", "#history tbody tr[data-id]"),
        (f"/signals/{open_signal.pk}/", "#signal-chart[data-drawn=candles]"),
        ("/performance/", "#equity-chart[data-drawn=equity]"),
        ("/strategies/", "form[data-strategy=mean_reversion]"),
        ("/backtests/", "#backtest-parameters input"),
        ("/backtests/research/", "#research-form select[name=strategy]"),
        ("/backtests/drift/", "form.backtest-form input[name=asset]"),
    ]:
        page.goto(f"{stack}{path}")
        page.wait_for_selector(ready, timeout=15_000)
        page.wait_for_selector("#connection.live", timeout=15_000)
        screenshot(page, "page" + (path.rstrip("/").replace("/", "-")[:20] or "-overview"))
        assert page.evaluate(LOW_CONTRAST) == [], path
    assert page.problems == []


def test_keyboard_reaches_the_pages_with_a_visible_focus(open_signal, trader_page, stack):
    page = trader_page
    page.goto(f"{stack}/signals/?asset=BTCUSDT")
    page.wait_for_selector("#history tbody tr[data-id]")

    # The first Tab reaches the skip link; Enter moves on to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # Every stop on the way to the first signal's link shows where the focus is.
    reached = None
    for _stop in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
                const node = document.activeElement, style = getComputedStyle(node);
                return {tag: node.tagName, name: node.name || node.textContent.trim().slice(0, 20),
                        outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
                        inRow: Boolean(node.closest("#history tbody tr[data-id]"))};
            }"""
        )
        assert focused["outline"] != "none" and focused["width"] >= 2, f"{focused}"
        if focused["inRow"]:
            reached = focused
            break
    assert reached is not None and reached["tag"] == "A", "no signal link reached by Tab"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{stack}/signals/{open_signal.pk}/")
    page.wait_for_selector("#signal-chart[data-drawn=candles]", timeout=15_000)
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
        # The API's own messages are in Portuguese too, where the form shows them.
        page.fill("#analysis-form input[name=asset]", "BTC USDT")
        page.click("#analysis-form button[type=submit]")
        page.wait_for_selector("#analysis-error:has-text('símbolo de ativo malformado')")
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

        # The switcher: English from now on, on the same page, whatever the browser prefers.
        page.click(".language-switcher button[value=en]")
        page.wait_for_selector("html[lang=en]")
        assert page.url == f"{stack}/performance/"
        page.wait_for_selector("#figures dd")
        assert page.inner_text('dd[data-figure="win_rate"]') == "66.7%"
        assert page.inner_text("nav.main-nav").startswith("Overview")
        # The browser logs the refused request; that 400 is the only problem.
        assert [p for p in page.problems if "status of 400" not in p] == []
        assert len(page.problems) == 1
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
    page.goto(f"{stack}/")
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


def test_dashboard_reconnects_and_catches_up_on_what_it_missed(trader_page, stack, binance):
    page = trader_page
    binance[("ETHUSDT", "5m")] = binance[("BTCUSDT", "5m")]
    page.goto(f"{stack}/")
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


# The browser's Notification and sound, recorded instead of shown and played.
RECORD_NOTIFICATIONS = """
window.shownNotifications = [];
window.beeps = 0;
window.AudioContext = class {
    state = "running";
    currentTime = 0;
    destination = {};
    resume() {}
    createGain() { return {gain: {setValueAtTime() {}, exponentialRampToValueAtTime() {}},
                           connect: (next) => next}; }
    createOscillator() { return {frequency: {}, connect: (next) => next,
                                 start: () => { window.beeps += 1; }, stop() {}}; }
};
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
    page.check("#alert-sound")
    assert page.evaluate("window.beeps") == 1  # a sample beep as it is switched on

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
    assert page.evaluate("window.beeps") == 2  # one more, for the matching signal only

    page.reload()
    assert page.is_checked("#alert-notify") and page.is_checked("#alert-sound")
    assert page.problems == []
