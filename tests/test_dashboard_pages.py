"""The dashboard's pages on the server side: who may see them, the config their scripts read,
the reason a signal fired in words, and English or Portuguese."""

import gettext
import json
import re
import uuid
from datetime import timedelta
from pathlib import Path

import django_filters
import pytest
from django.utils import timezone

import signals
from signals import reasons
from signals.api.filters import SignalFilter
from signals.models import AnalysisRequest, Signal

pytestmark = pytest.mark.django_db

PAGES = ["/", "/signals/", "/performance/"]

# Mean reversion, long: the bands are 2 standard deviations of 2.0 around a mean of 100, so a
# close of 95.8 is 2.1 standard deviations below it.
MEAN_REVERSION_INDICATORS = {
    "bb_upper": 104.0, "bb_middle": 100.0, "bb_lower": 96.0, "percent_b": -0.05,
    "rsi": 24.25, "atr": 1.5,
}


@pytest.fixture
def signal():
    return Signal.objects.create(
        asset="BTCUSDT", strategy="mean_reversion", timeframe="1h", direction="long",
        candle_time=timezone.now() - timedelta(hours=3), confidence=0.42, entry_price=95.8,
        stop_loss=93.55, take_profit=100.3, indicators=MEAN_REVERSION_INDICATORS,
        parameters={"bb_period": 20, "bb_deviations": 2.0, "rsi_period": 14},
    )  # fmt: skip


A_SIGNAL_PAGE = "/signals/00000000-0000-4000-8000-000000000001/"  # fixed: xdist workers agree


@pytest.mark.parametrize("path", [*PAGES, "/strategies/", A_SIGNAL_PAGE])
def test_pages_need_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_with_their_config_and_scripts(client, user, path):
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    config = response.context["config"]
    assert config["ws_path"] == "/ws/signals/"
    assert config["username"] == "trader"
    assert config["urls"]["analyses"] == "/api/analyses/"
    for script in ("/jsi18n/", "lightweight-charts.standalone.production.js", "signals/common.js",
                   "signals/charts.js"):
        assert script in page
    assert 'id="page-config"' in page
    # Staff-only links stay hidden from other users.
    assert 'href="/strategies/"' not in page


def test_strategies_page_is_for_staff_only(client, user, staff_user):
    client.force_login(user)
    assert client.get("/strategies/").status_code == 403
    client.force_login(staff_user)
    response = client.get("/strategies/")
    assert response.status_code == 200
    assert response.context["config"]["is_staff"] is True
    assert 'href="/strategies/"' in response.content.decode()


def test_history_filters_are_read_from_the_api_filter_set(client, user):
    client.force_login(user)
    filters = {f["name"]: f for f in client.get("/signals/").context["config"]["filters"]}
    assert set(filters) == set(SignalFilter.base_filters)
    assert filters["status"]["kind"] == "choice"
    assert filters["status"]["choices"] == ["active", "closed", "expired", "cancelled"]
    assert filters["strategy"]["choices"] == ["breakout", "mean_reversion", "trend_following"]
    assert filters["asset"]["kind"] == "text"
    assert filters["created_after"] == {
        "name": "created_after", "label": "From", "field": "created_at", "lookup": "gte",
        "kind": "date",
    }  # fmt: skip


def test_a_filter_the_api_gains_appears_on_the_page(client, user, monkeypatch):
    source = django_filters.ChoiceFilter(choices=[("demo", "demo"), ("live", "live")])
    monkeypatch.setitem(SignalFilter.base_filters, "source", source)
    client.force_login(user)
    filters = {f["name"]: f for f in client.get("/signals/").context["config"]["filters"]}
    assert filters["source"]["label"] == "Data source"
    assert filters["source"]["choices"] == ["demo", "live"]


def test_signal_page_explains_the_signal_and_its_analysis(client, user, signal):
    analysis = AnalysisRequest.objects.create(
        asset="BTCUSDT", timeframe="1h", requested_by=user, status="completed",
        signals_generated=1,
    )  # fmt: skip
    Signal.objects.filter(pk=signal.pk).update(correlation_id=analysis.correlation_id)
    client.force_login(user)
    response = client.get(f"/signals/{signal.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Close 2.1 standard deviations below the 20-bar mean" in page
    assert "RSI(14) at 24.2" in page
    assert "Strength" in page and "not a probability" in page
    assert "%" not in page.split('id="strength"')[1].split("</span>")[0]
    assert str(analysis.correlation_id) in page
    assert "Lower Bollinger band" in page
    assert "bb_deviations" in page
    assert response.context["config"]["signal_url"] == f"/api/signals/{signal.pk}/"


def test_unknown_signal_page_is_a_404(client, user):
    client.force_login(user)
    assert client.get(f"/signals/{uuid.uuid4()}/").status_code == 404


# ---- the reason in words, per strategy ----


def test_mean_reversion_short_reads_its_upper_band():
    indicators = {**MEAN_REVERSION_INDICATORS, "rsi": 81.0}
    text = reasons.explain("mean_reversion", "short", 104.6, indicators, {})
    assert text.startswith("Close 2.3 standard deviations above the 20-bar mean")
    assert "upper band at 104" in text
    assert "overbought level 70" in text


def test_breakout_reason_names_channel_distance_and_volume():
    indicators = {"channel_upper": 100.0, "channel_lower": 90.0, "volume_average": 10.0,
                  "atr": 4.0, "volume_ratio": 2.25}  # fmt: skip
    text = reasons.explain("breakout", "long", 102.0, indicators, {"channel_period": 30})
    assert "broke above the highest high of the previous 30 bars (100) by 0.50 ATR" in text
    assert "on volume 2.2 times its 20-bar average (more than 1.5 times" in text
    with_adx = reasons.explain("breakout", "long", 102.0, {**indicators, "adx": 31.0}, {})
    assert with_adx.endswith("ADX 31.0 was at least the minimum 20.")


def test_trend_following_reason_names_the_cross_and_momentum():
    indicators = {"ema_fast": 101.0, "ema_slow": 100.5, "macd": 0.4, "macd_signal": 0.3,
                  "macd_histogram": 0.1, "adx": 27.5, "atr": 0.5}  # fmt: skip
    text = reasons.explain("trend_following", "short", 100.0, indicators, {})
    assert text.startswith("The 20-bar EMA (101) crossed below the 50-bar EMA (100.5)")
    assert "ADX at 27.5 (minimum 20)" in text
    assert "MACD histogram (0.1, 0.20 ATR) agreed" in text


def test_a_reason_without_its_values_is_none_not_an_error():
    assert reasons.explain("mean_reversion", "long", 95.8, {"rsi": 20.0}, {}) is None
    assert reasons.explain("no_such_strategy", "long", 1.0, {}, {}) is None


# ---- English and Portuguese ----


def test_browser_language_picks_portuguese(client, user, signal):
    client.force_login(user)
    response = client.get(f"/signals/{signal.pk}/", HTTP_ACCEPT_LANGUAGE="pt-BR,pt;q=0.9")
    page = response.content.decode()
    assert '<html lang="pt-br">' in page
    assert "Visão geral" in page and "Por que foi emitido" in page
    # Numbers in the locale's format: a decimal comma.
    assert "Fechamento 2,1 desvios-padrão abaixo da média de 20 barras" in page
    assert "IFR(14) em 24,2" in page
    english = client.get(f"/signals/{signal.pk}/", HTTP_ACCEPT_LANGUAGE="en-US")
    assert '<html lang="en">' in english.content.decode()


def test_switcher_sets_the_language_over_the_browsers(client, user):
    client.force_login(user)
    response = client.post("/i18n/setlang/", {"language": "pt-br", "next": "/signals/"})
    assert response.status_code == 302
    assert response["Location"] == "/signals/"
    page = client.get("/signals/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert "Limpar filtros" in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "Clear filters" in client.get("/signals/").content.decode()


def test_script_strings_come_in_portuguese(client, user):
    client.force_login(user)
    catalog = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()
    assert "Taxa de acerto" in catalog
    assert "Nenhum sinal encerrado neste per\\u00edodo" in catalog or "período" in catalog


def test_api_errors_and_admin_come_in_portuguese(client, staff_user):
    client.force_login(staff_user)
    response = client.post(
        "/api/signals/request-analysis/", {}, content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="pt-BR",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["asset"] == ["Este campo é obrigatório."]
    admin = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()
    assert "Administração do Django" in admin


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_compiled_translations_match_their_sources(domain):
    """The committed .mo files say what the .po files say (CI does not run gettext)."""
    folder = Path(signals.__file__).parent / "locale" / "pt_BR" / "LC_MESSAGES"
    source = (folder / f"{domain}.po").read_text(encoding="utf-8")
    entries = re.findall(r'^(?:msgctxt (".+")\n)?msgid (".+")\nmsgstr (".*")$', source,
                         flags=re.MULTILINE)
    assert len(entries) > 50
    with open(folder / f"{domain}.mo", "rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)
    for context, msgid, msgstr in entries:
        assert msgstr != '""', f"untranslated: {msgid}"
        text = json.loads(msgid)
        compiled_text = (catalog.pgettext(json.loads(context), text) if context
                         else catalog.gettext(text))
        assert compiled_text == json.loads(msgstr)
