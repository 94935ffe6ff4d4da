"""The API's error messages in the client's language: Accept-Language (or the language cookie)
picks pt-BR or English, for DRF's own messages, ours, and the plain packages' (strategies,
collectors), which word theirs in English and are translated at the Django boundary."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

import strategies
from backtests.models import Backtest
from signals.models import StrategyConfig, Watchlist
from tests.backtests.conftest import REQUEST
from tests.conftest import IN_CI

pytestmark = pytest.mark.django_db

PORTUGUESE = {"HTTP_ACCEPT_LANGUAGE": "pt-BR,pt;q=0.9,en;q=0.5"}
CATALOGUE = Path(settings.BASE_DIR) / "signals" / "locale" / "pt_BR" / "LC_MESSAGES"


def client_of(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_bad_asset_is_named_in_portuguese_with_the_field(api_client):
    response = api_client.post(
        "/api/signals/request-analysis/", {"asset": "BTC USDT"}, format="json", **PORTUGUESE
    )
    assert response.status_code == 400
    assert response["Content-Language"] == "pt-br"
    assert list(response.json()) == ["asset"]
    [message] = response.json()["asset"]
    assert message.startswith("símbolo de ativo malformado 'BTC USDT': esperadas de 1 a 20")


def test_the_same_request_without_a_language_is_answered_in_english(api_client):
    response = api_client.post(
        "/api/signals/request-analysis/", {"asset": "BTC USDT"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["asset"][0].startswith("malformed asset symbol 'BTC USDT'")


def test_the_language_cookie_wins_over_the_browser_language(api_client):
    api_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "pt-br"
    response = api_client.post(
        "/api/signals/request-analysis/",
        {"timeframe": "7m"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    # DRF's own catalogue words the missing field; ours the timeframe (collectors' rule).
    assert response.json()["asset"] == ["Este campo é obrigatório."]
    assert response.json()["timeframe"][0].startswith(
        "tempo gráfico não suportado '7m'; esperado um de 1m, 3m, 5m"
    )


def test_a_strategy_parameter_out_of_bounds_is_worded_in_portuguese_under_its_name(staff_user):
    body = {"strategy": "mean_reversion", "parameters": {"bb_period": 1}}
    response = client_of(staff_user).post(
        "/api/strategy-configs/", body, format="json", **PORTUGUESE
    )
    assert response.status_code == 400
    assert response.json() == {"parameters": {"bb_period": ["1 está abaixo do mínimo 2"]}}
    assert not StrategyConfig.objects.exists()


def test_a_watchlist_asset_outside_the_demo_market_is_worded_in_portuguese(staff_user, settings):
    settings.MARKET_DATA_MODE = "demo"
    response = client_of(staff_user).post(
        "/api/watchlist/", {"asset": "ZZZZUSDT"}, format="json", **PORTUGUESE
    )
    assert response.status_code == 400
    assert response.json()["asset"][0].startswith(
        "'ZZZZUSDT' não está no mercado de demonstração; ativos de demonstração: "
    )
    assert not Watchlist.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"timeframe": "7m"},
            "timeframe",
            "use um de 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d, 3d, 1w, 1M",
        ),
        ({"fee_percent": -1}, "fee_percent", "deve ser um número >= 0"),
        (
            {"strategy": "astrologia"},
            "strategy",
            "estratégia desconhecida 'astrologia'; disponíveis: "
            + ", ".join(strategies.available()),
        ),
        (
            {"start": "ontem"},
            "start",
            "Não é um instante em ISO 8601, p. ex. 2024-01-01T00:00:00Z. Recebido: 'ontem'.",
        ),
        (
            {"parameters": {"rsi_oversold": 99}},
            "parameters",
            {"rsi_oversold": ["99.0 está acima do máximo 50.0"]},
        ),
    ],
)
def test_a_bad_backtest_request_is_worded_in_portuguese(
    api_client, settings, changes, field, message
):
    settings.MARKET_DATA_MODE = "demo"
    response = api_client.post(
        "/api/backtests/", {**REQUEST, **changes}, format="json", **PORTUGUESE
    )
    assert response.status_code == 400
    expected = message if isinstance(message, dict) else [message]
    assert response.json() == {field: expected}
    assert not Backtest.objects.exists()


RESEARCH_GRID = {"bb_period": "10:30:10", "bb_deviations": [1.5, 2.0]}


@pytest.mark.parametrize(
    ("endpoint", "changes", "errors"),
    [
        (
            "grids",
            {"grid": {"bb_period": "30:10:5"}},
            {"grid": {"bb_period": ["o fim do intervalo, 10, é menor que o início, 30"]}},
        ),
        (
            "grids",
            {"grid": {"bb_period": "2:41:1", "rsi_period": "2:11:1"}},
            {"grid": ["400 conjuntos de parâmetros, mais que o limite de 300"]},
        ),
        (
            "walk-forward",
            {"grid": {**RESEARCH_GRID, "expiry_bars": [6, 24]}, "train_bars": 200,
             "test_bars": 100, "embargo_bars": 5},
            {"embargo_bars": ["deve ser pelo menos o expiry_bars da estratégia (24), para que "
                              "um sinal do treino não termine dentro da janela de teste"]},
        ),
        (
            "walk-forward",
            {"train_bars": 450, "test_bars": 10},
            {"train_bars": ["o período tem cerca de 456 barras de 1h: não sobra janela de "
                            "teste depois de 450 barras de treino e 48 de embargo"]},
        ),
    ],
)
def test_a_bad_grid_or_walk_forward_is_worded_in_portuguese(
    api_client, settings, endpoint, changes, errors
):
    settings.MARKET_DATA_MODE = "demo"
    settings.BACKTEST_GRID_MAX_SETS = 300
    body = {**REQUEST, "grid": RESEARCH_GRID, **changes}
    response = api_client.post(f"/api/backtests/{endpoint}/", body, format="json", **PORTUGUESE)
    assert response.status_code == 400, response.content
    assert response.json() == errors


def test_a_drift_report_without_a_strategy_is_worded_in_portuguese(api_client):
    response = api_client.get("/api/backtests/drift/", {"asset": "BTCUSDT"}, **PORTUGUESE)
    assert response.status_code == 400
    assert response.json() == {"strategy": ["obrigatório"]}


def test_errors_django_renders_and_the_size_limit_are_worded_in_portuguese(api_client):
    response = api_client.get("/api/no-such-thing/", **PORTUGUESE)
    assert response.status_code == 404
    assert response.json() == {"detail": "Não encontrado."}

    body = json.dumps({"asset": "A" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    response = api_client.post(
        "/api/signals/request-analysis/", body, content_type="application/json", **PORTUGUESE
    )
    assert response.status_code == 413
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert response.json() == {
        "detail": f"Corpo da requisição grande demais: no máximo {limit} bytes."
    }


def test_the_throttle_says_when_to_come_back_in_portuguese(api_client, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "analysis": "1/minute"},
    }
    cache.clear()  # the count starts from zero (the local-memory cache of the unit pass)
    for _attempt in range(2):
        response = api_client.post(
            "/api/signals/request-analysis/", {"asset": "BTC USDT"}, format="json", **PORTUGUESE
        )
    assert response.status_code == 429
    # DRF's own words, with the wait from Retry-After.
    wait = response["Retry-After"]
    assert response.json()["detail"] == (
        f"Pedido foi suprimido. Espera-se que esteja diponível em {wait} segundos."
    )


def untranslated(po: Path, *flags: str) -> list[str]:
    """The msgids msgattrib selects with flags (live entries only, unwrapped)."""
    command = ["msgattrib", "--no-obsolete", "--no-wrap", *flags, str(po)]
    listed = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [
        line for line in listed.splitlines() if line.startswith("msgid ") and line != 'msgid ""'
    ]


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_the_catalogue_is_complete_and_compiled(domain, tmp_path):
    """Every string the pages, scripts and API messages use has a Portuguese text, and the .mo
    the project ships is the one its .po compiles to."""
    if shutil.which("msgfmt") is None and not IN_CI:
        pytest.skip("GNU gettext is missing (apt-get install gettext)")
    po = CATALOGUE / f"{domain}.po"
    assert untranslated(po, "--untranslated") == []
    assert untranslated(po, "--only-fuzzy") == []
    compiled = tmp_path / "compiled.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(compiled), str(po)], check=True)
    assert compiled.read_bytes() == (CATALOGUE / f"{domain}.mo").read_bytes()


def test_strategy_and_parameter_descriptions_follow_the_language(api_client):
    def mean_reversion(**headers) -> dict:
        listed = api_client.get("/api/strategies/", **headers).json()
        listed = listed["results"] if isinstance(listed, dict) else listed
        [strategy] = [s for s in listed if s["name"] == "mean_reversion"]
        return strategy

    portuguese, english = mean_reversion(**PORTUGUESE), mean_reversion()
    assert portuguese["parameters"]["bb_period"]["description"] == (
        "período das Bandas de Bollinger (MMS)"
    )
    assert english["parameters"]["bb_period"]["description"] == "Bollinger Bands period (SMA)"
    assert portuguese["description"].startswith("Aposta contra um fechamento fora das Bandas")
    # A whole account, not a docstring's first line cut mid-sentence.
    assert english["description"].endswith("Stop and target are ATR multiples.")
