"""The Backtests page on the server side: who may see it, the config its script reads (where the
backtests API is, the event names it listens to), the top bar's link, and Portuguese for every
string the page and its script show."""

import gettext
import json
import re
from pathlib import Path

import pytest

import signals
from signals import events
from strategies.backtest import MODES

pytestmark = pytest.mark.django_db

APP = Path(signals.__file__).parent
CATALOGS = APP / "locale" / "pt_BR" / "LC_MESSAGES"
TEMPLATE = APP / "templates" / "signals" / "backtests.html"
SCRIPTS = [APP / "static" / "signals" / "backtests.js", APP / "static" / "signals" / "common.js"]


def translated(domain: str) -> dict[str, str]:
    """msgid -> msgstr of the compiled catalog (the .po/.mo match is tested in
    test_dashboard_pages.py); a string missing here shows in English on the Portuguese page."""
    with open(CATALOGS / f"{domain}.mo", "rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)
    source = (CATALOGS / f"{domain}.po").read_text(encoding="utf-8")
    msgids = [json.loads(m) for m in re.findall(r'^msgid (".+")$', source, flags=re.MULTILINE)]
    return {msgid: catalog.gettext(msgid) for msgid in msgids}


@pytest.mark.parametrize("path", ["/backtests/", "/backtests/7/"])
def test_backtests_page_needs_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_backtests_page_renders_with_the_config_its_script_reads(client, user):
    client.force_login(user)
    response = client.get("/backtests/")
    assert response.status_code == 200
    page = response.content.decode()
    config = response.context["config"]
    assert config["backtest_urls"] == {
        "api": "/api/backtests/", "page": "/backtests/", "detail_page": "/backtests/0/",
    }  # fmt: skip
    assert config["backtest_events"] == {
        "progress": events.BACKTEST_PROGRESS, "completed": events.BACKTEST_COMPLETED,
        "failed": events.BACKTEST_FAILED,
    }  # fmt: skip
    assert config["backtest_id"] is None
    assert config["ws_path"] == "/ws/signals/"
    assert config["urls"]["strategies"] == "/api/strategies/"
    assert config["urls"]["candles"] == "/api/candles/"
    assert config["labels"]["queued"] == "queued"
    for script in ("signals/common.js", "signals/charts.js", "signals/backtests.js"):
        assert script in page
    # The form offers every mode the engine runs, one position at a time by default.
    for mode in MODES:
        assert f'value="{mode}"' in page
    assert '<option value="one_position" selected>' in page
    # The top bar links here and marks the page as the current one.
    assert '<a href="/backtests/" aria-current="page">Backtests</a>' in page


def test_one_backtests_url_opens_the_page_on_it(client, user):
    client.force_login(user)
    response = client.get("/backtests/42/")
    assert response.status_code == 200
    assert response.context["config"]["backtest_id"] == 42
    assert 'aria-current="page">Backtests</a>' in response.content.decode()


def test_other_pages_link_to_the_backtests(client, user):
    client.force_login(user)
    page = client.get("/performance/").content.decode()
    assert '<a href="/backtests/">Backtests</a>' in page


def test_backtests_page_comes_in_portuguese(client, user):
    client.force_login(user)
    page = client.get("/backtests/", HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()
    assert '<html lang="pt-br">' in page
    for text in ("Novo backtest", "Seus backtests", "Executar backtest", "uma posição por vez",
                 "Um período vazio cobre os últimos 90 dias"):
        assert text in page
    scripts = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()
    assert "Nenhuma opera\\u00e7\\u00e3o." in scripts or "Nenhuma operação." in scripts


def test_every_string_of_the_page_has_a_portuguese_translation():
    template = TEMPLATE.read_text(encoding="utf-8")
    texts = re.findall(r"""\{% translate (?:"([^"]+)"|'([^']+)')""", template)
    # As makemessages reads them: a literal % doubled, a block's variable as %(name)s.
    texts = [(double or single).replace("%", "%%") for double, single in texts]
    blocks = re.findall(r"\{% blocktranslate %\}(.*?)\{% endblocktranslate %\}", template, re.S)
    texts += [re.sub(r"\{\{ (\w+) \}\}", r"%(\1)s", block.replace("%", "%%")) for block in blocks]
    catalog = translated("django")
    assert len(texts) > 30
    assert sorted({text for text in texts if not catalog.get(text)}) == []


def test_every_string_of_the_script_has_a_portuguese_translation():
    catalog = translated("djangojs")
    texts = []
    for script in SCRIPTS:
        texts += re.findall(r'_\("((?:[^"\\]|\\.)+)"\)', script.read_text(encoding="utf-8"))
    assert len(texts) > 60
    assert sorted({text for text in texts if not catalog.get(text)}) == []
