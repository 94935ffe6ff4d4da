"""strategies.stats: hand-computed figures and invariants that hold for any trades."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import stats

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=30)
HOUR = timedelta(hours=1)

# The worked example of docs/performance.md: (entry hour, exit hour, pnl %, R, result).
EXAMPLE = [
    (1, 5, 3.8, 1.9, "win"),
    (30, 31, -2.2, -1.1, "loss"),
    (31, 57, -2.2, -1.1, "loss"),
    (56, 83, 0.5, 0.25, "expired"),
    (81, 110, 3.8, 1.9, "win"),
]


def trades_of(rows, start=START):
    return [
        {"entry_time": start + entry * HOUR, "exit_time": start + exit_ * HOUR,
         "pnl_percent": pnl, "r_multiple": r, "result": result}
        for entry, exit_, pnl, r, result in rows
    ]


def test_per_signal_figures_of_the_worked_example():
    figures = stats.summarize(trades_of(EXAMPLE), START, END).signals
    assert (figures.ended_signals, figures.winning_signals, figures.losing_signals,
            figures.expired_signals) == (5, 2, 2, 1)
    assert figures.win_rate == 0.5
    assert figures.expectancy_r == pytest.approx((1.9 - 1.1 - 1.1 + 0.25 + 1.9) / 5)
    assert figures.expectancy_r_excluding_expired == pytest.approx((1.9 - 1.1 - 1.1 + 1.9) / 4)
    assert figures.median_r == 0.25
    assert figures.expectancy_percent == pytest.approx(3.7 / 5)
    assert figures.expectancy_percent_excluding_expired == pytest.approx(3.2 / 4)
    assert figures.profit_factor == pytest.approx(8.1 / 4.4)
    assert (figures.max_consecutive_wins, figures.max_consecutive_losses) == (1, 2)
    assert figures.average_holding_seconds == pytest.approx((4 + 1 + 26 + 27 + 29) / 5 * 3600)


def test_portfolio_figures_of_the_worked_example():
    result = stats.summarize(trades_of(EXAMPLE), START, END)
    portfolio, curve = result.portfolio, result.equity
    # 10% of the capital on each signal: factors 1.0038, 0.9978, 0.9978, 1.0005, 1.0038.
    assert portfolio.stake_percent == 10.0
    assert portfolio.compounded_return_percent == pytest.approx(
        (1.0038**2 * 0.9978**2 * 1.0005 - 1) * 100)
    assert portfolio.max_drawdown_percent == pytest.approx((1 - 0.9978**2) * 100)
    # One exit a day on days 0..4: daily returns are the factors less 1.
    daily = np.array([0.0038, -0.0022, -0.0022, 0.0005, 0.0038])
    assert portfolio.return_days == 5
    assert portfolio.sharpe_annualised == pytest.approx(
        daily.mean() / daily.std(ddof=1) * math.sqrt(365))
    assert portfolio.sharpe_annualised == pytest.approx(4.70785, abs=1e-5)
    assert portfolio.sortino_annualised == pytest.approx(
        0.00074 / math.sqrt(2 * 0.0022**2 / 5) * math.sqrt(365))
    assert portfolio.exposure_percent == pytest.approx((4 + 80) / 720 * 100)  # 1-5 h, 30-110 h
    assert len(curve.days) == 31 and curve.days[0] == START
    assert curve.equity[:5] == pytest.approx(np.cumprod(1 + daily))
    assert curve.equity[-1] == pytest.approx(1 + portfolio.compounded_return_percent / 100)
    assert curve.drawdown_percent[2] == pytest.approx(portfolio.max_drawdown_percent)


def test_no_trades_gives_nulls_not_zeros():
    result = stats.summarize([], START, END)
    assert result.signals.ended_signals == 0
    assert result.signals.win_rate is None
    assert result.signals.expectancy_r is None
    assert result.signals.profit_factor is None
    assert result.portfolio.compounded_return_percent is None
    assert result.portfolio.max_drawdown_percent is None
    assert result.portfolio.sharpe_annualised is None
    assert result.equity.equity == []


def test_only_expired_signals_have_no_win_rate_but_an_expectancy():
    rows = [(0, 10, 0.4, 0.2, "expired"), (20, 30, -0.6, -0.3, "expired")]
    figures = stats.summarize(trades_of(rows), START, END).signals
    assert figures.win_rate is None
    assert figures.expectancy_r == pytest.approx(-0.05)
    assert figures.expectancy_r_excluding_expired is None
    assert figures.profit_factor == pytest.approx(0.4 / 0.6)


def test_only_wins_have_no_profit_factor_and_one_day_no_sharpe():
    rows = [(0, 2, 3.8, 1.9, "win"), (1, 3, 3.8, 1.9, "win")]
    result = stats.summarize(trades_of(rows), START, END)
    assert result.signals.profit_factor is None
    assert result.portfolio.sharpe_annualised is None  # one day of returns
    assert result.portfolio.max_drawdown_percent == 0.0


def test_a_loss_beyond_the_whole_stake_empties_the_capital_but_no_more():
    # A short whose price quadrupled: -300 % of its stake, with all the capital staked.
    rows = [(0, 5, 2.0, 1.0, "win"), (30, 40, -300.0, -150.0, "loss"), (50, 60, 5.0, 2.5, "win")]
    portfolio = stats.summarize(trades_of(rows), START, END, stake_fraction=1.0).portfolio
    assert portfolio.max_drawdown_percent == 100.0
    assert portfolio.compounded_return_percent == -100.0


def test_datetimes_and_epoch_seconds_give_the_same_figures():
    frame = pd.DataFrame(trades_of(EXAMPLE))
    seconds = frame.assign(
        entry_time=[t.timestamp() for t in frame["entry_time"]],
        exit_time=[t.timestamp() for t in frame["exit_time"]],
    )
    assert stats.summarize(frame, START, END).as_dict() == stats.summarize(
        seconds, START.timestamp(), END.timestamp()).as_dict()


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="result"):
        stats.summarize(trades_of([(0, 1, 1.0, 1.0, "won")]), START, END)
    with pytest.raises(ValueError, match="pnl_percent"):
        stats.summarize([{"entry_time": START, "exit_time": END, "result": "win",
                          "r_multiple": 1.0}], START, END)
    with pytest.raises(ValueError, match="stake_fraction"):
        stats.summarize(trades_of(EXAMPLE), START, END, stake_fraction=1.5)


# ---- invariants ----

trade_rows = st.lists(
    st.tuples(
        st.integers(0, 24 * 60),  # entry hour within 60 days
        st.integers(0, 24 * 10),  # hours held: many trades end at the same hour
        st.floats(-400, 400, allow_nan=False),
        st.sampled_from(["win", "loss", "expired"]),
    ),
    min_size=0, max_size=40,
)


def random_trades(rows):
    return trades_of([(entry, entry + held, pnl, pnl / 2, result)
                      for entry, held, pnl, result in rows])


@settings(max_examples=60, deadline=None)
@given(rows=trade_rows, stake=st.floats(0.01, 1.0))
def test_drawdown_and_exposure_are_percentages(rows, stake):
    result = stats.summarize(random_trades(rows), START, START + timedelta(days=70), stake)
    portfolio = result.portfolio
    if rows:
        assert 0.0 <= portfolio.max_drawdown_percent <= 100.0
        assert 0.0 <= portfolio.exposure_percent <= 100.0
        assert portfolio.compounded_return_percent >= -100.0
        assert all(0.0 <= d <= 100.0 for d in result.equity.drawdown_percent)
        assert result.equity.equity[-1] == pytest.approx(
            1 + portfolio.compounded_return_percent / 100, abs=1e-12)
    counts = result.signals
    assert counts.winning_signals + counts.losing_signals + counts.expired_signals == len(rows)
    assert counts.win_rate is None or 0.0 <= counts.win_rate <= 1.0


@settings(max_examples=60, deadline=None)
@given(rows=trade_rows, before=st.integers(0, 400), after=st.integers(0, 400))
def test_a_longer_period_around_the_same_trades_changes_no_ratio(rows, before, after):
    trades = random_trades(rows)
    end = START + timedelta(days=70)
    narrow = stats.summarize(trades, START, end).portfolio
    wide = stats.summarize(trades, START - timedelta(days=before),
                           end + timedelta(days=after)).portfolio
    for name in ("compounded_return_percent", "max_drawdown_percent", "sharpe_annualised",
                 "sortino_annualised", "return_days"):
        assert getattr(wide, name) == getattr(narrow, name), name
    if rows:  # exposure is a share of the period: the same open time over a longer period
        assert wide.exposure_percent * (70 + before + after) == pytest.approx(
            narrow.exposure_percent * 70)


@settings(max_examples=40, deadline=None)
@given(rows=trade_rows, seed=st.integers(0, 1000))
def test_the_order_trades_are_given_in_does_not_matter(rows, seed):
    trades = random_trades(rows)
    shuffled = [trades[i] for i in np.random.default_rng(seed).permutation(len(trades))]
    ours, theirs = (stats.summarize(t, START, END).as_dict() for t in (trades, shuffled))
    assert ours.keys() == theirs.keys()
    for key in ours:
        if isinstance(ours[key], float):
            assert theirs[key] == pytest.approx(ours[key], rel=1e-12, abs=1e-12), key
        else:
            assert theirs[key] == ours[key], key


def test_trades_ending_together_are_booked_in_one_order_whatever_the_input_order():
    rows = [(0, 10, 5.0, 2.5, "win"), (2, 10, -5.0, -2.5, "loss")]
    forward = stats.summarize(trades_of(rows), START, END, stake_fraction=1.0)
    backward = stats.summarize(trades_of(rows[::-1]), START, END, stake_fraction=1.0)
    assert forward.as_dict() == backward.as_dict()
