"""What a Backtest keeps: trades as compressed column arrays, a sampled equity curve; and the
admin's detail with its metrics and chart."""

import numpy as np
import pandas as pd
import pytest

from backtests.models import EQUITY_POINTS, Backtest, BacktestStatus, TradeTable, sampled_equity


def equity_frame(size: int) -> pd.DataFrame:
    index = pd.date_range("2026-01-01", periods=size, freq="min", tz="UTC")
    equity = np.cumprod(1 + np.sin(np.arange(size) / 50) * 0.001)
    equity[0] = 1.0
    peak = np.maximum.accumulate(equity)
    return pd.DataFrame({"equity": equity, "drawdown_percent": (equity / peak - 1) * 100},
                        index=index)


def test_a_long_equity_curve_is_sampled_keeping_ends_and_the_deepest_drawdown():
    frame = equity_frame(50_000)
    points = sampled_equity(frame)
    assert len(points) <= EQUITY_POINTS
    assert points[0] == {"time": frame.index[0].isoformat(), "equity": 1.0,
                         "drawdown_percent": 0.0}
    assert points[-1]["time"] == frame.index[-1].isoformat()
    assert min(p["drawdown_percent"] for p in points) == frame["drawdown_percent"].min()
    assert [p["time"] for p in points] == sorted(p["time"] for p in points)


def test_25000_trades_round_trip_in_a_small_blob():
    count = 25_000
    times = pd.date_range("2020-01-01", periods=count, freq="h", tz="UTC")
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "signal_time": times, "direction": np.where(rng.random(count) < 0.5, "long", "short"),
        "entry": rng.random(count) * 100, "stop_loss": rng.random(count) * 100,
        "take_profit": rng.random(count) * 100, "exit_time": times + pd.Timedelta(hours=3),
        "exit_price": rng.random(count) * 100, "result": "win",
        "pnl_percent": rng.normal(size=count), "r": rng.normal(size=count),
        "bars_held": rng.integers(1, 50, count), "exit_reason": "target",
    })
    blob = TradeTable.from_frame(frame).encode()
    assert len(blob) < 2_000_000  # vs about 25,000 rows of a dozen columns as a table
    table = TradeTable.decode(blob)
    assert len(table) == count
    row = table[12_345]
    assert row["exit_price"] == frame["exit_price"].iloc[12_345]
    assert row["r"] == frame["r"].iloc[12_345]
    assert pd.Timestamp(row["signal_time"]) == times[12_345]


@pytest.mark.django_db
def test_the_admin_detail_shows_the_metrics_and_the_equity_chart(admin_client, admin_user):
    backtest = Backtest.objects.create(
        requested_by=admin_user, strategy="breakout", asset="BTCUSDT", timeframe="1h",
        start=pd.Timestamp("2026-01-01", tz="UTC"), end=pd.Timestamp("2026-02-01", tz="UTC"),
        fee_percent=0.1, status=BacktestStatus.COMPLETED,
        metrics={"win_rate": 0.5, "sharpe_annualised": None, "trades": 4},
        equity_curve=sampled_equity(equity_frame(300)),
    )
    page = admin_client.get(f"/admin/backtests/backtest/{backtest.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<th>win_rate</th><td>0.5</td>" in html
    assert 'src="data:image/png;base64,iVBORw0KGgo' in html  # a PNG's signature
    listing = admin_client.get("/admin/backtests/backtest/", {"status__exact": "completed"})
    assert listing.status_code == 200 and "breakout" in listing.content.decode()
