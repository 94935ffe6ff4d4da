from datetime import UTC, datetime

import pytest

from signals.models import AnalysisRequest, Signal

pytestmark = pytest.mark.django_db


@pytest.fixture
def signals_in_db():
    common = dict(asset="BTCUSDT", confidence=0.5, strategy="breakout", timeframe="1h")
    active = Signal.objects.create(
        direction="long",
        entry_price=100,
        stop_loss=95,
        take_profit=110,
        candle_time=datetime(2026, 1, 1, tzinfo=UTC),
        indicators={"rsi": 22.5},
        **common,
    )
    closed = Signal.objects.create(
        direction="short",
        entry_price=100,
        stop_loss=105,
        take_profit=90,
        candle_time=datetime(2026, 1, 2, tzinfo=UTC),
        status="closed",
        result="win",
        pnl=10,
        **common,
    )
    return active, closed


def test_changelist_with_filters_and_search(admin_client, signals_in_db):
    response = admin_client.get("/admin/signals/signal/", {"status__exact": "active", "q": "BTC"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert admin_client.get("/admin/signals/analysisrequest/").status_code == 200


def test_indicators_shown_readably(admin_client, signals_in_db):
    active, _ = signals_in_db
    page = admin_client.get(f"/admin/signals/signal/{active.pk}/change/").content.decode()
    assert "&quot;rsi&quot;: 22.5" in page


def test_cancel_action_only_touches_active_signals(admin_client, signals_in_db):
    active, closed = signals_in_db
    response = admin_client.post(
        "/admin/signals/signal/",
        {
            "action": "cancel_active",
            "_selected_action": [str(active.pk), str(closed.pk)],
        },
    )
    assert response.status_code == 302
    active.refresh_from_db()
    closed.refresh_from_db()
    assert active.status == "cancelled"
    assert closed.status == "closed"


def test_analysis_requests_are_read_only_in_admin(admin_client):
    analysis = AnalysisRequest.objects.create(asset="AAPL", timeframe="1d")
    page = admin_client.get(f"/admin/signals/analysisrequest/{analysis.pk}/change/")
    assert page.status_code == 200
    assert b'name="asset"' not in page.content


def test_the_admin_speaks_portuguese_to_a_portuguese_browser(admin_client, signals_in_db):
    active, closed = signals_in_db
    portuguese = {"HTTP_ACCEPT_LANGUAGE": "pt-BR"}
    index = admin_client.get("/admin/", **portuguese).content.decode()
    assert "Sinais de trading" in index and "Dados de mercado" in index  # our app names
    assert "Administração do Site" in index  # Django's own catalogue

    listing = admin_client.get("/admin/signals/signal/", **portuguese).content.decode()
    assert "Cancelar os sinais ativos selecionados" in listing
    response = admin_client.post(
        "/admin/signals/signal/",
        {"action": "cancel_active", "_selected_action": [str(active.pk), str(closed.pk)]},
        follow=True,
        **portuguese,
    )
    assert "1 sinal ativo cancelado." in response.content.decode()
