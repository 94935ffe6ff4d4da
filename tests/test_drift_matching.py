"""strategies/drift.py: matching live and backtest signals per candle and naming each cause."""

import pandas as pd
import pytest

from strategies import drift
from strategies.backtest import run_backtest
from strategies.mean_reversion import MeanReversion
from strategies.warmup import synthetic_candles

T0 = pd.Timestamp("2026-03-02T08:00:00Z")
BAR = pd.Timedelta(minutes=5)
PARAMETERS = {"stop_atr": 1.5, "expiry_bars": 48}
START, END = T0, T0 + 12 * BAR


def signal(bar: int = 0, **fields) -> drift.DriftSignal:
    values = dict(candle_time=T0 + bar * BAR, direction="long", entry=100.0, stop_loss=95.0,
                  take_profit=110.0, status="closed", result="win", close_price=110.0,
                  closed_at=T0 + (bar + 3) * BAR, pnl_percent=9.8, fee_percent=0.1)
    values.update(fields)
    return drift.DriftSignal(**values)


def live(bar: int = 0, **fields) -> drift.DriftSignal:
    return signal(bar, **{"parameters": PARAMETERS, **fields})


def compare(live_signals=(), backtest_signals=(), *, analysed=None, revised=None):
    return drift.compare(
        live_signals, backtest_signals, parameters=PARAMETERS,
        analysed={T0 + k * BAR: [PARAMETERS] for k in range(12)} if analysed is None else analysed,
        revised=revised or (lambda first, last: ""), start=START, end=END)


def only(report: drift.DriftReport) -> drift.Comparison:
    (comparison,) = report.comparisons
    return comparison


def test_the_same_signal_and_ending_within_tolerance_is_identical():
    report = compare([live(entry=100.0 + 1e-7)], [signal()])
    assert (only(report).cause, only(report).detail) == ("identical", "")
    assert report.counts() == dict.fromkeys(drift.CAUSES, 0) | {"identical": 1}


def test_levels_beyond_tolerance_with_nothing_to_explain_them_are_unexplained():
    comparison = only(compare([live(stop_loss=95.001)], [signal()]))
    assert comparison.cause == "unexplained"
    assert comparison.detail == "levels differ: stop_loss 95.001 live, 95.0 in the backtest"


def test_opposite_directions_differ():
    comparison = only(compare([live()], [signal(direction="short", stop_loss=105.0,
                                                take_profit=90.0)]))
    assert comparison.cause == "unexplained" and "direction long live" in comparison.detail


def test_a_backtest_signal_on_a_candle_never_analysed_is_missed():
    comparison = only(compare([], [signal(2)], analysed={}))
    assert (comparison.cause, comparison.live) == ("missed", None)


def test_a_backtest_signal_analysed_with_other_parameters_or_disabled_is_a_config_change():
    other = {**PARAMETERS, "stop_atr": 2.0}
    changed = only(compare([], [signal()], analysed={T0: [other]}))
    assert changed.cause == "config_change"
    assert changed.detail == "live ran with stop_atr=2.0 (backtest 1.5)"
    disabled = only(compare([], [signal()], analysed={T0: [None]}))
    assert (disabled.cause, disabled.detail) == ("config_change", "live ran with the strategy "
                                                                  "disabled")


def test_one_analysis_with_todays_parameters_is_enough_to_rule_the_config_out():
    other = {**PARAMETERS, "stop_atr": 2.0}
    comparison = only(compare([], [signal()], analysed={T0: [other, PARAMETERS]}))
    assert comparison.cause == "unexplained"


def test_a_live_signal_fired_with_other_parameters_is_a_config_change():
    comparison = only(compare([live(parameters={**PARAMETERS, "expiry_bars": 24})], []))
    assert comparison.cause == "config_change" and "expiry_bars=24" in comparison.detail


def test_revised_candles_explain_a_difference_the_config_does_not():
    asked = []

    def revised(first, last):
        asked.append((first, last))
        return "the candles changed"

    comparison = only(compare([live(entry=101.0)], [signal()], revised=revised))
    assert comparison.cause == "revised_data"
    assert comparison.detail.startswith("the candles changed; levels differ: entry")
    assert asked == [(T0, T0)]


def test_an_ending_difference_checks_the_candles_up_to_the_later_ending():
    asked = []
    later = T0 + 9 * BAR

    def revised(first, last):
        asked.append((first, last))
        return "changed" if last == later else ""

    backtest = signal(closed_at=later, result="loss", close_price=95.0, pnl_percent=-5.2)
    assert only(compare([live()], [backtest], revised=revised)).cause == "revised_data"
    assert asked == [(T0, later)]


@pytest.mark.parametrize(
    ("live_fields", "backtest_fields", "reason"),
    [
        ({"status": "open", "result": "none", "close_price": None, "closed_at": None,
          "pnl_percent": None}, {}, "not settled live yet"),
        ({"status": "cancelled", "result": "none", "close_price": None}, {}, "cancelled live"),
        ({"fee_percent": 0.2, "pnl_percent": 9.6}, {}, "fee 0.2% a side live, 0.1% in the "
                                                        "backtest"),
        ({}, {"result": "loss", "close_price": 95.0, "pnl_percent": -5.2, "ambiguous": True},
         "its deciding bar reached both levels"),
    ],
)
def test_a_different_ending_with_a_known_reason(live_fields, backtest_fields, reason):
    comparison = only(compare([live(**live_fields)], [signal(**backtest_fields)]))
    assert comparison.cause == "different_ending"
    assert comparison.detail.startswith(reason)


def test_an_ending_without_a_known_reason_is_unexplained():
    backtest = signal(status="open", result="none", close_price=None, closed_at=None,
                      pnl_percent=None)
    assert only(compare([live()], [backtest])).cause == "unexplained"


def test_only_candles_of_the_period_are_compared():
    report = compare([live(-1), live(12)], [signal(-1), signal(12), signal(11)])
    assert [c.candle_time for c in report.comparisons] == [T0 + 11 * BAR]


def test_candles_digest_changes_with_any_price_volume_or_time():
    candles = synthetic_candles(50)
    digest = drift.candles_digest(candles)
    assert digest == drift.candles_digest(candles.copy()) and len(digest) == 32
    for column in ("open", "high", "low", "close", "volume"):
        changed = candles.copy()
        changed.iloc[20, changed.columns.get_loc(column)] *= 1 + 1e-12
        assert drift.candles_digest(changed) != digest, column
    assert drift.candles_digest(candles.shift(freq="5min")) != digest


def test_backtest_signals_are_every_trade_and_every_open_signal_by_candle():
    candles = synthetic_candles(400)
    result = run_backtest(MeanReversion(), candles, fee_percent=0.1)
    signals = drift.backtest_signals(result)

    assert len(signals) == len(result.trades) + len(result.open_trades) == result.signals > 0
    assert [s.candle_time for s in signals] == sorted(s.candle_time for s in signals)
    first = result.trades.iloc[0]
    matched = next(s for s in signals if s.candle_time == first["signal_time"])
    assert (matched.status, matched.result, matched.entry, matched.closed_at) == (
        first["status"], first["result"], first["entry"], first["exit_time"])
    assert matched.fee_percent == 0.1
