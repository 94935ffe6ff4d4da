"""How open signals end: hand-built candle paths after the signal's bar."""

import pandas as pd
import pytest

from strategies.lifecycle import Outcome, refine, settle

START = pd.Timestamp("2024-03-01 00:00", tz="UTC")
HOUR = 3600


def candles(*bars: tuple[float, float, float, float]) -> pd.DataFrame:
    """Hourly bars from (open, high, low, close) tuples, starting at START."""
    index = pd.date_range(START, periods=len(bars), freq="h")
    frame = pd.DataFrame(bars, index=index, columns=["open", "high", "low", "close"])
    frame["volume"] = 1.0
    return frame


def long_trade(path: pd.DataFrame, **options) -> Outcome | None:
    # entry 100, stop 95 (5% risk), target 110
    return settle("long", 100.0, 95.0, 110.0, path, options.pop("expiry_bars", 10), **options)


def short_trade(path: pd.DataFrame, **options) -> Outcome | None:
    # entry 100, stop 105 (5% risk), target 90
    return settle("short", 100.0, 105.0, 90.0, path, options.pop("expiry_bars", 10), **options)


def test_long_wins_when_the_high_reaches_the_target():
    outcome = long_trade(candles((100, 104, 99, 103), (103, 111, 102, 108)))
    assert outcome == Outcome("closed", "win", 110.0, START + pd.Timedelta(hours=1), 10.0, 2.0, 2)


def test_long_loses_when_the_low_reaches_the_stop():
    outcome = long_trade(candles((100, 101, 96, 97), (97, 98, 94, 96)))
    assert (outcome.status, outcome.result, outcome.close_price) == ("closed", "loss", 95.0)
    assert outcome.pnl == pytest.approx(-5.0)
    assert outcome.r_multiple == pytest.approx(-1.0)
    assert outcome.bars == 2


def test_stop_loss_wins_when_both_levels_hit_in_one_bar():
    outcome = long_trade(candles((100, 112, 94, 105)))
    assert (outcome.result, outcome.close_price) == ("loss", 95.0)


def test_expires_at_the_close_of_the_last_bar_without_a_hit():
    path = candles((100, 102, 98, 101), (101, 103, 99, 102), (102, 104, 100, 103),
                   (103, 109, 101, 108))
    outcome = long_trade(path, expiry_bars=3)
    assert (outcome.status, outcome.result, outcome.close_price) == ("expired", "none", 103.0)
    assert outcome.closed_at == START + pd.Timedelta(hours=2)
    assert outcome.pnl == pytest.approx(3.0)
    assert outcome.bars == 3


def test_a_hit_on_the_expiry_bar_still_counts():
    outcome = long_trade(candles((100, 102, 98, 101), (101, 110, 99, 109)), expiry_bars=2)
    assert (outcome.status, outcome.result) == ("closed", "win")


def test_gap_through_the_stop_fills_at_the_open():
    outcome = long_trade(candles((100, 101, 99, 100), (92, 93, 90, 91)))
    assert (outcome.result, outcome.close_price) == ("loss", 92.0)
    assert outcome.pnl == pytest.approx(-8.0)
    assert outcome.r_multiple == pytest.approx(-1.6)


def test_gap_through_the_target_fills_at_the_open():
    outcome = long_trade(candles((100, 101, 99, 100), (113, 115, 112, 114)))
    assert (outcome.result, outcome.close_price) == ("win", 113.0)
    assert outcome.pnl == pytest.approx(13.0)


def test_short_is_mirrored():
    assert short_trade(candles((100, 101, 95, 96), (96, 97, 89, 90))).result == "win"
    assert short_trade(candles((100, 106, 99, 104))).close_price == 105.0
    both = short_trade(candles((100, 106, 89, 95)))
    assert (both.result, both.close_price) == ("loss", 105.0)
    gap = short_trade(candles((108, 109, 107, 108)))
    assert (gap.result, gap.close_price, gap.pnl) == ("loss", 108.0, pytest.approx(-8.0))
    win = short_trade(candles((100, 100, 90, 91)))
    assert win.pnl == pytest.approx(10.0)
    assert win.r_multiple == pytest.approx(2.0)


def test_still_open_returns_none():
    assert long_trade(candles((100, 102, 98, 101), (101, 103, 99, 102)), expiry_bars=3) is None
    assert long_trade(candles()) is None


def test_fee_is_charged_on_both_sides():
    outcome = long_trade(candles((100, 111, 99, 108)), fee_percent=0.1)
    assert outcome.pnl == pytest.approx(9.8)
    assert outcome.r_multiple == pytest.approx(9.8 / 5.0)


def test_r_multiple_divides_net_pnl_by_the_planned_risk():
    # entry 200, stop 190 (5% risk), target 230 (15%): 3R before fees
    outcome = settle("long", 200.0, 190.0, 230.0, candles((200, 231, 199, 229)), 5)
    assert outcome.pnl == pytest.approx(15.0)
    assert outcome.r_multiple == pytest.approx(3.0)


def test_closed_at_is_the_bar_close_when_the_timeframe_is_known():
    path = candles((100, 101, 99, 100), (100, 111, 99, 108))
    inside = long_trade(path, timeframe_seconds=HOUR)
    assert inside.closed_at == START + pd.Timedelta(hours=2)
    gap = long_trade(candles((100, 101, 99, 100), (92, 93, 90, 91)), timeframe_seconds=HOUR)
    assert gap.closed_at == START + pd.Timedelta(hours=1)  # filled at the open


def test_levels_in_the_wrong_order_are_rejected():
    with pytest.raises(ValueError, match="out of order"):
        settle("long", 100.0, 105.0, 110.0, candles((100, 101, 99, 100)), 5)
    with pytest.raises(ValueError, match="direction"):
        settle("sideways", 100.0, 95.0, 110.0, candles((100, 101, 99, 100)), 5)


def quarter_hours(bar_start: pd.Timestamp, *bars) -> pd.DataFrame:
    """15-minute bars inside the hour starting at bar_start."""
    frame = candles(*bars)
    frame.index = pd.date_range(bar_start, periods=len(bars), freq="15min")
    return frame


def refine_long(outcome: Outcome, finer: pd.DataFrame) -> Outcome:
    return refine(outcome, "long", 100.0, 95.0, 110.0, finer, 0.0, 900, HOUR)


AMBIGUOUS_BAR = candles((100, 104, 99, 103), (103, 112, 94, 105))
BAR_OPEN = START + pd.Timedelta(hours=1)


def test_finer_candles_that_reach_the_target_first_make_an_ambiguous_bar_a_win():
    outcome = long_trade(AMBIGUOUS_BAR, timeframe_seconds=HOUR)
    assert (outcome.result, outcome.ambiguous) == ("loss", True)
    finer = quarter_hours(
        BAR_OPEN, (103, 106, 102, 105), (105, 112, 104, 108), (108, 108, 94, 96), (96, 106, 95, 105)
    )
    refined = refine_long(outcome, finer)
    assert (refined.status, refined.result, refined.close_price) == ("closed", "win", 110.0)
    assert refined.closed_at == BAR_OPEN + pd.Timedelta(minutes=30)  # the close of the 2nd
    assert refined.bars == 2  # still counted in the signal's own bars
    assert refined.pnl == pytest.approx(10.0)


def test_finer_candles_that_reach_the_stop_first_keep_the_loss():
    outcome = long_trade(AMBIGUOUS_BAR, timeframe_seconds=HOUR)
    finer = quarter_hours(
        BAR_OPEN, (103, 104, 94, 96), (96, 112, 95, 108), (108, 109, 104, 105), (105, 106, 104, 105)
    )
    refined = refine_long(outcome, finer)
    assert (refined.result, refined.close_price, refined.ambiguous) == ("loss", 95.0, False)
    assert refined.closed_at == BAR_OPEN + pd.Timedelta(minutes=15)


def test_incomplete_or_still_ambiguous_finer_candles_keep_the_conservative_stop():
    outcome = long_trade(AMBIGUOUS_BAR, timeframe_seconds=HOUR)
    missing_one = quarter_hours(BAR_OPEN, (103, 106, 102, 105), (105, 112, 104, 108))
    both_in_one = quarter_hours(
        BAR_OPEN, (103, 112, 94, 105), (105, 106, 104, 105), (105, 106, 104, 105),
        (105, 106, 104, 105),
    )
    assert refine_long(outcome, missing_one) is outcome
    assert refine_long(outcome, both_in_one) is outcome


def test_an_outcome_with_one_level_hit_is_not_refined():
    outcome = long_trade(candles((100, 111, 99, 108)), timeframe_seconds=HOUR)
    assert not outcome.ambiguous
    assert refine_long(outcome, quarter_hours(START, *[(100, 101, 99, 100)] * 4)) is outcome


CONSISTENT_QUARTERS = (
    (103, 106, 102, 105), (105, 112, 104, 108), (108, 108, 94, 96), (96, 106, 95, 105)
)


def test_finer_candles_of_another_path_are_not_believed_and_the_reason_is_recorded():
    outcome = long_trade(AMBIGUOUS_BAR, timeframe_seconds=HOUR)
    # The same shape 7% higher: it reaches the target first, but it is not this bar's data.
    elsewhere = quarter_hours(BAR_OPEN, *CONSISTENT_QUARTERS)
    elsewhere[["open", "high", "low", "close"]] *= 1.07
    refined = refine_long(outcome, elsewhere)
    assert (refined.result, refined.close_price, refined.ambiguous) == ("loss", 95.0, True)
    assert "do not aggregate to the bar" in refined.refine_rejected
    assert refine_long(outcome, quarter_hours(BAR_OPEN, *CONSISTENT_QUARTERS)).result == "win"


@pytest.mark.parametrize("column", ["open", "high", "low", "close"])
def test_each_of_open_high_low_close_must_match_within_the_tolerance(column):
    outcome = long_trade(AMBIGUOUS_BAR, timeframe_seconds=HOUR)
    finer = quarter_hours(BAR_OPEN, *CONSISTENT_QUARTERS).astype(float)
    row = {"open": 0, "close": 3, "high": 1, "low": 2}[column]
    finer.iloc[row, finer.columns.get_loc(column)] *= 1 + 1e-12  # rounding: believed
    assert refine_long(outcome, finer).refine_rejected == ""
    finer.iloc[row, finer.columns.get_loc(column)] *= 1 + 1e-6  # another price: not
    assert column in refine_long(outcome, finer).refine_rejected
    loose = refine(outcome, "long", 100.0, 95.0, 110.0, finer, 0.0, 900, HOUR, tolerance=1e-5)
    assert loose.refine_rejected == "" and loose.result == "win"


def test_finer_candles_of_another_source_are_not_believed():
    path = AMBIGUOUS_BAR.copy()
    path.attrs["source"] = "demo"
    outcome = long_trade(path, timeframe_seconds=HOUR)
    finer = quarter_hours(BAR_OPEN, *CONSISTENT_QUARTERS)
    finer.attrs["source"] = "binance"
    refined = refine_long(outcome, finer)
    assert refined.ambiguous and "binance" in refined.refine_rejected
    finer.attrs["source"] = "demo"
    assert refine_long(outcome, finer).result == "win"
