"""GET /api/signals/performance/: the worked example of docs/performance.md, by hand and as the
doc prints it."""

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from signals import performance
from signals.models import Signal

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=30)
PERIOD = {"from": START.isoformat(), "to": END.isoformat()}
HOUR = timedelta(hours=1)
DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"

# The worked example: (name, strategy, asset, direction, status, result, pnl, r, candle hour,
# closed hour). Entry 100, target 104 or stop 98 (2% risk), 0.1% fee a side; the entry is the
# close of the signal's 1h candle, an hour after its candle hour.
EXAMPLE = [
    ("A", "breakout", "BTCUSDT", "long", "closed", "win", 3.8, 1.9, 0, 5),
    ("B", "mean_reversion", "BTCUSDT", "short", "closed", "loss", -2.2, -1.1, 29, 31),
    ("C", "breakout", "BTCUSDT", "long", "closed", "loss", -2.2, -1.1, 30, 57),
    ("D", "mean_reversion", "ETHUSDT", "long", "expired", "none", 0.5, 0.25, 55, 83),
    ("E", "mean_reversion", "ETHUSDT", "long", "closed", "win", 3.8, 1.9, 80, 110),
    ("F", "breakout", "ETHUSDT", "long", "active", "none", None, None, 116, None),
    ("G", "mean_reversion", "ETHUSDT", "short", "cancelled", "none", None, None, 117, 118),
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
    counts = ("total_signals", "open_signals", "cancelled_signals", "ended_signals",
              "winning_signals", "losing_signals", "expired_signals")
    assert [body[key] for key in counts] == [7, 1, 1, 5, 2, 2, 1]
    assert body["win_rate"] == pytest.approx(0.5)
    assert body["expectancy_r"] == pytest.approx((1.9 - 1.1 - 1.1 + 0.25 + 1.9) / 5)
    assert body["expectancy_r_excluding_expired"] == pytest.approx(0.4)
    assert body["median_r"] == pytest.approx(0.25)
    assert body["expectancy_percent"] == pytest.approx(3.7 / 5)
    assert body["expectancy_percent_excluding_expired"] == pytest.approx(3.2 / 4)
    assert body["profit_factor"] == pytest.approx(8.1 / 4.4)
    assert (body["max_consecutive_wins"], body["max_consecutive_losses"]) == (1, 2)
    # Held 4, 1, 26, 27 and 29 hours.
    assert body["average_holding_seconds"] == pytest.approx(87 / 5 * 3600)
    # 10 % staked per signal: the capital moves by 1.0038, 0.9978, 0.9978, 1.0005, 1.0038,
    # one exit a day on days 0 to 4.
    assert body["stake_percent"] == 10.0
    assert body["compounded_return_percent"] == pytest.approx(
        (1.0038**2 * 0.9978**2 * 1.0005 - 1) * 100)
    assert body["max_drawdown_percent"] == pytest.approx((1 - 0.9978**2) * 100)
    daily = [0.0038, -0.0022, -0.0022, 0.0005, 0.0038]
    mean = sum(daily) / 5
    deviation = math.sqrt(sum((r - mean) ** 2 for r in daily) / 4)
    assert body["return_days"] == 5
    assert body["sharpe_annualised"] == pytest.approx(mean / deviation * math.sqrt(365))
    assert body["sortino_annualised"] == pytest.approx(
        mean / math.sqrt(2 * 0.0022**2 / 5) * math.sqrt(365))
    assert body["exposure_percent"] == pytest.approx(84 / 720 * 100)  # hours 1-5 and 30-110
    assert body["best_signal"] == {
        "strategy": "breakout",
        "asset": "BTCUSDT",
        "timeframe": "1h",
        "result": "win",
        "pnl": 3.8,
        "closed_at": "2026-01-01T05:00:00Z",
    }
    assert body["worst_signal"]["closed_at"] == "2026-01-02T07:00:00Z"  # B, the first -2.2
    curve = body["equity_curve"]
    assert len(curve) == 31 and curve[0]["date"] == "2026-01-01"
    assert [p["equity"] for p in curve[:6]] == pytest.approx(
        [1.0038, 1.0038 * 0.9978, 1.0038 * 0.9978**2, 1.0038 * 0.9978**2 * 1.0005,
         1.0038**2 * 0.9978**2 * 1.0005, 1.0038**2 * 0.9978**2 * 1.0005])
    assert curve[2]["drawdown_percent"] == pytest.approx(body["max_drawdown_percent"])
    assert body["period"] == {"from": "2026-01-01T00:00:00Z", "to": "2026-01-31T00:00:00Z"}


def documented_figures() -> dict:
    """`key value` lines of the worked example's figures block in docs/performance.md."""
    block = re.search(r"<!-- worked-example-figures -->\s*```text\n(.*?)```", DOC.read_text(),
                      re.DOTALL)
    assert block, "docs/performance.md lost its worked-example-figures block"
    figures = {}
    for line in block.group(1).splitlines():
        key, value = line.split()
        figures[key] = None if value == "null" else float(value)
    return figures


def test_the_documented_worked_example_is_what_the_endpoint_computes(api_client, example):
    body = get(api_client)
    documented = documented_figures()
    assert len(documented) >= 20
    for key, value in documented.items():
        if value is None:
            assert body[key] is None, key
        else:  # the doc prints 6 significant digits
            assert body[key] == pytest.approx(value, rel=5e-6, abs=1e-12), key


def test_breakdowns_carry_the_same_figures_per_group(api_client, example):
    body = get(api_client)
    assert set(body["by_strategy"]) == {"breakout", "mean_reversion"}
    assert set(body["by_asset"]) == {"BTCUSDT", "ETHUSDT"}
    assert set(body["by_timeframe"]) == {"1h"}
    breakout = body["by_strategy"]["breakout"]
    assert (breakout["total_signals"], breakout["open_signals"]) == (3, 1)
    assert breakout["compounded_return_percent"] == pytest.approx((1.0038 * 0.9978 - 1) * 100)
    assert breakout["max_drawdown_percent"] == pytest.approx(0.22)
    mean_reversion = body["by_strategy"]["mean_reversion"]
    assert mean_reversion["compounded_return_percent"] == pytest.approx(
        (0.9978 * 1.0005 * 1.0038 - 1) * 100)
    assert mean_reversion["max_drawdown_percent"] == pytest.approx(0.22)  # from the start
    assert mean_reversion["cancelled_signals"] == 1
    assert body["by_asset"]["BTCUSDT"]["max_consecutive_losses"] == 2
    assert body["by_timeframe"]["1h"] == {key: value for key, value in body.items()
                                          if key in body["by_timeframe"]["1h"]}
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


def test_no_signals_gives_nulls_not_zeros(api_client):
    body = get(api_client)
    assert body["total_signals"] == 0
    for key in ("win_rate", "profit_factor", "expectancy_r", "median_r",
                "compounded_return_percent", "max_drawdown_percent", "sharpe_annualised",
                "exposure_percent", "average_holding_seconds", "best_signal"):
        assert body[key] is None, key
    assert body["equity_curve"] == []
    assert body["by_strategy"] == {}


def test_only_wins_gives_a_null_profit_factor_and_valid_json(api_client):
    make_signal("A", "breakout", "BTCUSDT", "long", "closed", "win", 3.8, 1.9, 0, 5)
    make_signal("E", "breakout", "BTCUSDT", "long", "closed", "win", 3.8, 1.9, 80, 110)
    response = api_client.get("/api/signals/performance/", PERIOD)
    body = json.loads(response.content)  # strict JSON: NaN or Infinity would not parse back
    assert body["profit_factor"] is None
    assert body["sortino_annualised"] is None  # no losing day
    assert body["max_drawdown_percent"] == 0.0
    assert body["win_rate"] == 1.0
    assert not any(
        isinstance(v, float) and not math.isfinite(v) for v in body.values()
    )


def test_the_same_signals_over_a_longer_period_keep_their_ratios(api_client, example):
    narrow = get(api_client)
    wide = api_client.get("/api/signals/performance/", {
        "from": (START - timedelta(days=60)).isoformat(), "to": END.isoformat()}).json()
    for key in ("sharpe_annualised", "sortino_annualised", "compounded_return_percent",
                "max_drawdown_percent"):
        assert wide[key] == narrow[key], key
    assert wide["exposure_percent"] == pytest.approx(narrow["exposure_percent"] * 30 / 90)


def test_long_equity_curves_are_sampled_but_end_at_the_last_day(api_client, monkeypatch):
    monkeypatch.setattr(performance, "EQUITY_CURVE_POINTS", 3)
    for i in range(5):
        make_signal(str(i), "breakout", "BTCUSDT", "long", "closed", "win", 1.0, 0.5,
                    24 * i, 24 * i + 2)
    curve = get(api_client)["equity_curve"]
    assert [p["date"] for p in curve] == ["2026-01-01", "2026-01-16", "2026-01-31"]
    assert curve[-1]["equity"] == pytest.approx(1.001**5)


def test_schema_shows_the_real_performance_response(anon_client):
    schema = anon_client.get("/api/schema/", {"format": "json"}).json()
    fields = schema["components"]["schemas"]["Performance"]["properties"]
    for key in ("sharpe_annualised", "by_strategy", "equity_curve", "max_drawdown_percent",
                "best_signal", "expectancy_r_excluding_expired"):
        assert key in fields


@pytest.mark.integration
def test_worked_example_on_postgresql_through_database_arrays(api_client, example, monkeypatch):
    """PostgreSQL reads grouped binary arrays; the figures match the row-by-row reading."""
    body = get(api_client)
    assert body["sharpe_annualised"] == pytest.approx(4.70785, abs=1e-5)
    assert body["max_drawdown_percent"] == pytest.approx((1 - 0.9978**2) * 100)
    assert body["average_holding_seconds"] == pytest.approx(87 / 5 * 3600)
    monkeypatch.setattr(performance, "load_postgresql", performance.load_rows)
    assert get(api_client) == body
