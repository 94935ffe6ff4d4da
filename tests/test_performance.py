"""GET /api/signals/performance/: the worked example of docs/performance.md, by hand."""

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from signals import performance
from signals.models import Signal

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=30)
PERIOD = {"from": START.isoformat(), "to": END.isoformat()}
HOUR = timedelta(hours=1)

# The worked example: (name, strategy, asset, direction, status, result, pnl, r, candle hour,
# closed hour). Entry 100, target 104 or stop 98 (2% risk), 0.1% fee a side.
EXAMPLE = [
    ("A", "breakout", "BTCUSDT", "long", "closed", "win", 3.8, 1.9, 0, 5),
    ("B", "mean_reversion", "BTCUSDT", "short", "closed", "loss", -2.2, -1.1, 5, 7),
    ("C", "breakout", "BTCUSDT", "long", "closed", "loss", -2.2, -1.1, 6, 9),
    ("D", "mean_reversion", "ETHUSDT", "long", "expired", "none", 0.5, 0.25, 7, 11),
    ("E", "mean_reversion", "ETHUSDT", "long", "closed", "win", 3.8, 1.9, 8, 14),
    ("F", "breakout", "ETHUSDT", "long", "active", "none", None, None, 20, None),
    ("G", "mean_reversion", "ETHUSDT", "short", "cancelled", "none", None, None, 21, 22),
]


def make_signal(name, strategy, asset, direction, status, result, pnl, r, candle, closed):
    side = 1 if direction == "long" else -1
    signal = Signal.objects.create(
        asset=asset,
        direction=direction,
        confidence=0.5,
        entry_price=100.0,
        stop_loss=100.0 - 2 * side,
        take_profit=100.0 + 4 * side,
        strategy=strategy,
        timeframe="1h",
        candle_time=START + candle * HOUR,
        status=status,
        result=result,
        pnl=pnl,
        r_multiple=r,
        closed_at=None if closed is None else START + closed * HOUR,
        indicators={"name": name},
    )
    # created_at is set on insert; the example lives inside the period.
    Signal.objects.filter(pk=signal.pk).update(created_at=START + (candle + 1) * HOUR)
    return signal


@pytest.fixture
def example():
    return {row[0]: make_signal(*row) for row in EXAMPLE}


def get(api_client, **params):
    response = api_client.get("/api/signals/performance/", {**PERIOD, **params})
    assert response.status_code == 200, response.json()
    return response.json()


def test_worked_example_matches_the_hand_computed_figures(api_client, example):
    body = get(api_client)
    assert body["total_signals"] == 7
    assert body["winning_signals"] == 2
    assert body["losing_signals"] == 2
    assert body["expired_signals"] == 1
    assert body["open_signals"] == 1
    assert body["cancelled_signals"] == 1
    assert body["win_rate"] == pytest.approx(0.5)
    assert body["total_pnl"] == pytest.approx(3.7)
    assert body["average_pnl"] == pytest.approx(0.74)
    assert body["profit_factor"] == pytest.approx(8.1 / 4.4)
    assert body["expectancy"] == pytest.approx(0.5 * 3.8 - 0.5 * 2.2)
    assert body["average_r"] == pytest.approx(0.37)
    assert body["max_drawdown"] == pytest.approx(4.4)  # from +3.8 after A down to -0.6 after C
    # mean 0.74, sample std 3.00300, 5 signals in 30 days: sqrt(5 / (30 / 365.25)) = 7.80224
    assert body["sharpe"] == pytest.approx(1.92263, abs=1e-5)
    # downside deviation sqrt((2.2^2 + 2.2^2) / 5) = 1.39140
    assert body["sortino"] == pytest.approx(4.14953, abs=1e-5)
    assert body["max_consecutive_wins"] == 1
    assert body["max_consecutive_losses"] == 2
    assert body["average_holding_time"] == pytest.approx(3 * 3600)  # 4, 1, 2, 3 and 5 hours
    assert body["best_signal"] == {
        "strategy": "breakout",
        "asset": "BTCUSDT",
        "timeframe": "1h",
        "result": "win",
        "pnl": 3.8,
        "closed_at": "2026-01-01T05:00:00Z",
    }
    assert body["worst_signal"]["closed_at"] == "2026-01-01T07:00:00Z"  # B, the first -2.2
    assert [p["cumulative_pnl"] for p in body["equity_curve"]] == pytest.approx(
        [3.8, 1.6, -0.6, -0.1, 3.7]
    )
    assert body["equity_curve"][0]["time"] == "2026-01-01T05:00:00Z"
    assert body["period"] == {"from": "2026-01-01T00:00:00Z", "to": "2026-01-31T00:00:00Z"}


def test_breakdowns_carry_the_same_figures_per_group(api_client, example):
    body = get(api_client)
    assert set(body["by_strategy"]) == {"breakout", "mean_reversion"}
    assert set(body["by_asset"]) == {"BTCUSDT", "ETHUSDT"}
    assert set(body["by_timeframe"]) == {"1h"}
    breakout = body["by_strategy"]["breakout"]
    assert (breakout["total_signals"], breakout["open_signals"]) == (3, 1)
    assert breakout["total_pnl"] == pytest.approx(1.6)
    assert breakout["max_drawdown"] == pytest.approx(2.2)
    mean_reversion = body["by_strategy"]["mean_reversion"]
    assert mean_reversion["total_pnl"] == pytest.approx(2.1)
    assert mean_reversion["max_drawdown"] == pytest.approx(2.2)  # the curve starts at 0
    assert mean_reversion["cancelled_signals"] == 1
    assert body["by_asset"]["BTCUSDT"]["max_consecutive_losses"] == 2
    assert body["by_timeframe"]["1h"]["total_pnl"] == pytest.approx(3.7)
    assert set(breakout) == set(body["by_timeframe"]["1h"])


@pytest.mark.parametrize(
    "params, total",
    [
        ({"strategy": "breakout"}, 3),
        ({"asset": "ethusdt"}, 4),
        ({"timeframe": "1h"}, 7),
        ({"timeframe": "5m"}, 0),
        ({"direction": "short"}, 2),
    ],
)
def test_filters_narrow_the_signals(api_client, example, params, total):
    assert get(api_client, **params)["total_signals"] == total


@pytest.mark.parametrize(
    "params, field",
    [
        ({"strategy": "nope"}, "strategy"),
        ({"asset": "BTC/USDT"}, "asset"),
        ({"timeframe": "7m"}, "timeframe"),
        ({"direction": "up"}, "direction"),
    ],
)
def test_invalid_filter_is_400_naming_the_field(api_client, params, field):
    response = api_client.get("/api/signals/performance/", params)
    assert response.status_code == 400
    assert field in response.json()


def test_no_signals_gives_nulls_not_nan(api_client):
    body = get(api_client)
    assert body["total_signals"] == 0
    assert body["win_rate"] is None
    assert body["profit_factor"] is None
    assert body["sharpe"] is None
    assert body["best_signal"] is None
    assert body["max_drawdown"] == 0.0
    assert body["equity_curve"] == []
    assert body["by_strategy"] == {}


def test_only_wins_gives_a_null_profit_factor_and_valid_json(api_client):
    make_signal("A", "breakout", "BTCUSDT", "long", "closed", "win", 3.8, 1.9, 0, 5)
    make_signal("E", "breakout", "BTCUSDT", "long", "closed", "win", 3.8, 1.9, 8, 14)
    response = api_client.get("/api/signals/performance/", PERIOD)
    body = json.loads(response.content)  # strict JSON: NaN or Infinity would not parse back
    assert body["profit_factor"] is None
    assert body["sortino"] is None  # no downside
    assert body["sharpe"] is None  # identical returns: no deviation
    assert body["win_rate"] == 1.0
    assert not any(
        isinstance(v, float) and not math.isfinite(v) for v in body.values()
    )


def test_long_equity_curves_are_sampled_but_end_at_the_last_close(api_client, monkeypatch):
    monkeypatch.setattr(performance, "EQUITY_CURVE_POINTS", 3)
    for i in range(5):
        make_signal(str(i), "breakout", "BTCUSDT", "long", "closed", "win", 1.0, 0.5, i, i + 2)
    curve = get(api_client)["equity_curve"]
    assert [p["cumulative_pnl"] for p in curve] == [1.0, 3.0, 5.0]


def test_schema_shows_the_real_performance_response(anon_client):
    schema = anon_client.get("/api/schema/", {"format": "json"}).json()
    fields = schema["components"]["schemas"]["Performance"]["properties"]
    for key in ("sharpe", "by_strategy", "equity_curve", "max_drawdown", "best_signal"):
        assert key in fields


@pytest.mark.integration
def test_worked_example_on_postgresql_through_database_arrays(api_client, example, monkeypatch):
    """PostgreSQL reads grouped binary arrays; the figures match the row-by-row reading."""
    body = get(api_client)
    assert body["sharpe"] == pytest.approx(1.92263, abs=1e-5)
    assert body["max_drawdown"] == pytest.approx(4.4)
    assert body["average_holding_time"] == pytest.approx(3 * 3600)
    monkeypatch.setattr(performance, "load_postgresql", performance.load_rows)
    assert get(api_client) == body
