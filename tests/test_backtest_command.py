"""manage.py backtest: stored candles, the engine, a summary, --json, --plot and bad input."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from django.core.management import CommandError, call_command, execute_from_command_line

from backtests.services import BacktestInputError, check_spec
from market import store
from strategies.backtest import run_backtest
from strategies.mean_reversion import MeanReversion
from tests.fake_binance import INTERVAL_MS, oversold_candles

pytestmark = pytest.mark.django_db

HOUR_MS = INTERVAL_MS["1h"]
END = "2026-01-20T00:00:00+00:00"
START = "2026-01-01T00:00:00+00:00"


@pytest.fixture
def history(binance):
    """BTCUSDT 1h on the Binance stand-in, closed bars up to END."""
    frame = oversold_candles(HOUR_MS, bars=24 * 30, now=pd.Timestamp(END))
    binance[("BTCUSDT", "1h")] = frame
    return frame


def backtest(*args: str) -> str:
    out = io.StringIO()
    call_command("backtest", *args, "--no-progress", stdout=out)
    return out.getvalue()


BASE = ("--strategy", "mean_reversion", "--asset", "BTCUSDT", "--timeframe", "1h",
        "--from", START, "--to", END)


def test_json_is_the_engine_on_the_stored_candles(history):
    result = json.loads(backtest(*BASE, "--param", "expiry_bars=6", "--param", "rsi_period=10",
                                 "--mode", "one_position", "--fee-percent", "0.05", "--json"))
    stored = store.stored_candles("live", "BTCUSDT", "1h")
    assert stored.index[0] == pd.Timestamp(START)
    assert stored.index[-1] == pd.Timestamp(END) - pd.Timedelta(hours=1)
    expected = run_backtest(MeanReversion(expiry_bars=6, rsi_period=10), stored,
                            fee_percent=0.05, mode="one_position")
    assert (result["source"], result["candles"], result["mode"]) == (
        "live", len(stored), "one_position")
    assert result["parameters"]["expiry_bars"] == 6
    assert result["statistics"] == expected.statistics
    assert len(result["trades"]) == len(expected.trades) > 0
    first = result["trades"][0]
    assert first["exit_price"] == expected.trades["exit_price"].iloc[0]
    assert first["exit_time"] == expected.trades["exit_time"].iloc[0].isoformat()
    assert first["exit_reason"] == expected.trades["exit_reason"].iloc[0]


def test_the_summary_shows_the_metrics_and_the_trade_count(history):
    output = backtest(*BASE, "--mode", "one_position")
    stored = store.stored_candles("live", "BTCUSDT", "1h")
    expected = run_backtest(MeanReversion(), stored, fee_percent=0.1, mode="one_position")
    assert f"trades: {len(expected.trades):,}" in output
    assert "win_rate" in output and "expectancy_r" in output and "max_drawdown_percent" in output


def test_plot_writes_an_equity_and_drawdown_png(history, tmp_path):
    path = tmp_path / "equity.png"
    output = backtest(*BASE, "--plot", str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(path) in output


@pytest.mark.parametrize(("args", "message"), [
    (("--strategy", "nope"), "--strategy: unknown strategy 'nope'"),
    (("--param", "bb_period=1"), "--param bb_period: 1 is below the minimum"),
    (("--param", "window=30"), "--param window: unknown parameter"),
    (("--param", "bb_period"), "--param: expected NAME=VALUE"),
    (("--param", "bb_period=ten"), "--param bb_period: expected int"),
    (("--from", "2026-02-01", "--to", "2026-01-01"), "--to: "),
    (("--from", "yesterday-ish"), "--from: Not an ISO 8601 timestamp"),
    (("--from", "1990-01-01"), "--to: the period holds about"),
    (("--timeframe", "7h"), "--timeframe: use one of"),
    (("--asset", "NOT A COIN"), "--asset: malformed asset symbol"),
    (("--mode", "all_in"), "--mode: use one of every_signal, one_position"),
    (("--fee-percent", "-1"), "--fee-percent: must be a number >= 0"),
    (("--plot", "/no/such/dir/out.png"), "--plot: no directory"),
])
def test_bad_input_names_the_flag_and_exits_with_2(args, message, settings):
    settings.BACKTEST_MAX_BARS = 100_000
    overridden = dict(zip(BASE[::2], BASE[1::2], strict=True))
    overridden.update(zip(args[::2], args[1::2], strict=True))
    with pytest.raises(CommandError) as raised:
        backtest(*[part for pair in overridden.items() for part in pair])
    assert str(raised.value).startswith(message)
    assert raised.value.returncode == 2


def test_a_period_without_candles_fails_with_that_reason(binance):
    binance[("BTCUSDT", "1h")] = oversold_candles(HOUR_MS, bars=10, now=pd.Timestamp(START))
    with pytest.raises(CommandError, match="no live candles for BTCUSDT 1h") as raised:
        backtest(*BASE)
    assert raised.value.returncode == 1


def test_the_command_line_exits_with_2_on_bad_input(capsys):
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "backtest", "--strategy", "mean_reversion",
                                   "--asset", "BTCUSDT", "--timeframe", "1h",
                                   "--param", "rsi_oversold=99"])
    assert exited.value.code == 2
    assert "--param rsi_oversold: 99.0 is above the maximum 50.0" in capsys.readouterr().err


@pytest.mark.parametrize("fee", [True, "0.1", float("nan"), float("inf")])
def test_a_fee_that_is_not_a_finite_number_is_refused(fee):
    with pytest.raises(BacktestInputError) as raised:
        check_spec(strategy="mean_reversion", asset="BTCUSDT", timeframe="1h", fee_percent=fee)
    assert raised.value.field == "fee_percent"
