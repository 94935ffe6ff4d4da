"""Every published performance figure, from ended trades: one pure module, no Django.

The performance endpoint (signals/performance.py) and backtests (strategies/backtest.py) call
the same functions, so a figure means the same thing everywhere. docs/performance.md defines
each one with a worked example that tests/test_performance.py checks against this code.

API
---
    summarize(trades, start, end, stake_fraction=STAKE_FRACTION) -> Statistics
        .signals    SignalFigures      per-signal figures (counts, win rate, R, expectancy, ...)
        .portfolio  PortfolioFigures   equal stake per signal, overlapping allowed
        .equity     EquityCurve        daily capital curve (days, equity, drawdown_percent)
        .as_dict()  the figures as one flat JSON-safe dict (the curve left out)
    signal_figures(trades) -> SignalFigures
    portfolio_figures(trades, start, end, stake_fraction) -> (PortfolioFigures, EquityCurve)
    book(trades) -> BookedTrades   the trades as numpy columns in booking order; pass it (or
        its .subset(mask)) to the functions above to group without converting again

`trades` is a pandas DataFrame (or anything pd.DataFrame() takes: a list of dicts, a dict of
columns) with one row per *ended* trade and the columns
    entry_time   when the position opened (datetime, tz-aware or UTC, or epoch seconds)
    exit_time    when it ended (same kinds)
    pnl_percent  signed percent of the entry price, net of fees
    r_multiple   pnl over the planned risk (NaN/None when unknown)
    result       "win", "loss" or "expired"
`start` and `end` bound the report period (datetimes, or epoch seconds). Undefined figures are
None, never NaN, infinity or a made-up 0.

The portfolio model (docs/performance.md, "Portfolio"): capital starts at 1; each trade stakes
`stake_fraction` of the capital and its result is booked when it ends:
capital *= 1 + stake_fraction * pnl_percent / 100, compounded in exit order. The factor is
floored at 0 (a short can lose more than its stake), so capital never goes below 0 and a
drawdown never exceeds 100%. Sharpe and Sortino are annualised from daily returns with 365
days a year (crypto trades every day) and a zero risk-free rate, over the days from the first
entry to the last exit: widening the report period around the same trades changes neither.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

# Each signal stakes this fraction of the capital unless told otherwise.
STAKE_FRACTION = 0.1
DAYS_PER_YEAR = 365  # crypto markets trade every day of the year
DAY_SECONDS = 86_400.0
RESULTS = ("win", "loss", "expired")
COLUMNS = ("entry_time", "exit_time", "pnl_percent", "r_multiple", "result")


@dataclass(frozen=True)
class SignalFigures:
    """Figures of the ended trades taken one by one (each is one unit of risk)."""

    ended_signals: int
    winning_signals: int
    losing_signals: int
    expired_signals: int
    win_rate: float | None  # wins / (wins + losses)
    expectancy_r: float | None  # mean R of all ended trades, expired included
    expectancy_r_excluding_expired: float | None  # mean R of wins and losses only
    median_r: float | None  # of all ended trades
    expectancy_percent: float | None  # mean pnl percent of all ended trades
    expectancy_percent_excluding_expired: float | None
    profit_factor: float | None  # sum of positive pnl / -sum of negative pnl
    max_consecutive_wins: int  # in exit order; an expiry breaks a run
    max_consecutive_losses: int
    average_holding_seconds: float | None  # entry to exit


@dataclass(frozen=True)
class PortfolioFigures:
    """Figures of the capital that stakes `stake_fraction` on every trade."""

    stake_percent: float  # the stake of each trade, percent of the capital
    compounded_return_percent: float | None
    max_drawdown_percent: float | None  # largest fall from a peak, percent of that peak
    sharpe_annualised: float | None
    sortino_annualised: float | None
    exposure_percent: float | None  # share of the period with at least one trade open
    return_days: int  # daily returns behind Sharpe and Sortino


@dataclass(frozen=True)
class EquityCurve:
    """Capital at the end of each UTC day, starting at 1, and its drawdown in percent."""

    days: list[datetime]
    equity: list[float]
    drawdown_percent: list[float]


@dataclass(frozen=True)
class Statistics:
    signals: SignalFigures
    portfolio: PortfolioFigures
    equity: EquityCurve

    def as_dict(self) -> dict:
        return asdict(self.signals) | asdict(self.portfolio)


def summarize(trades, start: datetime | float, end: datetime | float,
              stake_fraction: float = STAKE_FRACTION) -> Statistics:
    """All figures of some ended trades over the period start..end."""
    booked = book(trades)
    portfolio, equity = portfolio_figures(booked, start, end, stake_fraction)
    return Statistics(signal_figures(booked), portfolio, equity)


@dataclass(frozen=True)
class BookedTrades:
    """Trades as numpy columns in the order they are booked: position (the row in the input),
    entry and exit (float epoch seconds), pnl (percent), r and outcome (an index into
    RESULTS). signal_figures and portfolio_figures take it, or any subset() of it, as it is."""

    position: np.ndarray
    entry: np.ndarray
    exit: np.ndarray
    pnl: np.ndarray
    r: np.ndarray
    outcome: np.ndarray

    def __len__(self) -> int:
        return len(self.position)

    def subset(self, selector: np.ndarray) -> BookedTrades:
        """The trades a boolean mask, a slice or an array of indexes picks, in that order."""
        return BookedTrades(*(column[selector] for column in (
            self.position, self.entry, self.exit, self.pnl, self.r, self.outcome)))


def book(trades) -> BookedTrades:
    """The trades (see the module docstring) in the order they are booked: by exit time; trades
    ending at the same moment by entry, then the lower pnl first, then by result, so that the
    order they were given in never changes a figure."""
    if isinstance(trades, BookedTrades):
        return trades
    frame = trades if isinstance(trades, pd.DataFrame) else pd.DataFrame(trades)
    if len(frame) == 0:
        frame = pd.DataFrame({name: [] for name in COLUMNS})
    missing = [name for name in COLUMNS if name not in frame.columns]
    if missing:
        raise ValueError(f"trades lack the columns {missing}")
    results = frame["result"]
    if not (isinstance(results.dtype, pd.CategoricalDtype)
            and tuple(results.cat.categories) == RESULTS):
        unknown = set(pd.unique(np.asarray(results, dtype=object))) - set(RESULTS)
        if unknown:
            raise ValueError(f"unknown results {sorted(map(str, unknown))}; "
                             f"expected one of {RESULTS}")
        results = pd.Series(pd.Categorical(np.asarray(results), categories=RESULTS))
    codes = results.cat.codes.to_numpy()
    if (codes < 0).any():
        raise ValueError(f"a result is missing; expected one of {RESULTS}")
    entry, exit_ = epoch_seconds(frame["entry_time"]), epoch_seconds(frame["exit_time"])
    pnl = pd.to_numeric(frame["pnl_percent"]).to_numpy(dtype=float)
    r = pd.to_numeric(frame["r_multiple"]).to_numpy(dtype=float)
    outcome = codes.astype(np.int8)
    order = np.lexsort((outcome, pnl, entry, np.where(np.isnan(exit_), np.inf, exit_)))
    return BookedTrades(order, entry[order], exit_[order], pnl[order], r[order], outcome[order])


def moment_seconds(moment: datetime | float) -> float:
    """Float seconds since the epoch of one datetime (naive is UTC) or number."""
    if isinstance(moment, datetime):
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return float(moment)


def epoch_seconds(values) -> np.ndarray:
    """Float seconds since the epoch of datetimes (naive ones are UTC) or of numbers."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return values.astype(float)
    series = pd.Series(values)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=float)
    times = pd.to_datetime(series, utc=True)
    seconds = (times - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return seconds.to_numpy(dtype=float)


def signal_figures(trades) -> SignalFigures:
    booked = book(trades)
    pnl, r = booked.pnl, booked.r
    is_win, is_loss = booked.outcome == 0, booked.outcome == 1
    decided = is_win | is_loss
    wins, losses = int(is_win.sum()), int(is_loss.sum())
    gross_profit, gross_loss = float(pnl[pnl > 0].sum()), float(-pnl[pnl < 0].sum())
    held = booked.exit - booked.entry
    return SignalFigures(
        ended_signals=len(booked),
        winning_signals=wins,
        losing_signals=losses,
        expired_signals=int((booked.outcome == 2).sum()),
        win_rate=wins / (wins + losses) if wins + losses else None,
        expectancy_r=finite_mean(r),
        expectancy_r_excluding_expired=finite_mean(r[decided]),
        median_r=finite_median(r),
        expectancy_percent=finite_mean(pnl),
        expectancy_percent_excluding_expired=finite_mean(pnl[decided]),
        profit_factor=gross_profit / gross_loss if gross_loss > 0 else None,
        max_consecutive_wins=longest_run(is_win),
        max_consecutive_losses=longest_run(is_loss),
        average_holding_seconds=finite_mean(held),
    )


def portfolio_figures(trades, start: datetime | float, end: datetime | float,
                      stake_fraction: float = STAKE_FRACTION
                      ) -> tuple[PortfolioFigures, EquityCurve]:
    if not 0 < stake_fraction <= 1:
        raise ValueError(f"stake_fraction must be in (0, 1], got {stake_fraction!r}")
    booked = book(trades)
    start_s, end_s = moment_seconds(start), moment_seconds(end)
    timed = booked.subset(np.isfinite(booked.entry) & np.isfinite(booked.exit)
                          & np.isfinite(booked.pnl))
    stake_percent = stake_fraction * 100.0
    if not len(timed):
        empty = PortfolioFigures(stake_percent, None, None, None, None, None, 0)
        return empty, EquityCurve([], [], [])
    entry, exit_ = timed.entry, timed.exit
    # Capital after each exit, in exit order (timed is sorted by exit).
    factors = np.maximum(1.0 + stake_fraction * timed.pnl / 100.0, 0.0)
    capital = np.cumprod(factors)
    path = np.concatenate([[1.0], capital])
    peaks = np.maximum.accumulate(path)
    with np.errstate(invalid="ignore", divide="ignore"):
        drawdowns = np.where(peaks > 0, 1.0 - path / peaks, 0.0)
    # Daily capital: the last exit at or before each day's end.
    first_day = day_index(min(start_s, entry.min()))
    last_day = day_index(max(end_s, exit_.max()))
    days = np.arange(first_day, last_day + 1)
    daily = path[np.searchsorted(exit_, (days + 1) * DAY_SECONDS, side="left")]
    daily_peaks = np.maximum.accumulate(np.concatenate([[1.0], daily]))[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        daily_drawdown = np.where(daily_peaks > 0, 1.0 - daily / daily_peaks, 0.0) * 100.0
    # Returns over the active span: the first entry's day to the last exit's day.
    span = (days >= day_index(entry.min())) & (days <= day_index(exit_.max()))
    before = np.concatenate([[1.0], daily[:-1]])  # the day before's capital
    with np.errstate(invalid="ignore", divide="ignore"):
        returns = np.where(before > 0, daily / before - 1.0, 0.0)[span]
    figures = PortfolioFigures(
        stake_percent=stake_percent,
        compounded_return_percent=float((capital[-1] - 1.0) * 100.0),
        max_drawdown_percent=float(drawdowns.max() * 100.0),
        sharpe_annualised=sharpe(returns),
        sortino_annualised=sortino(returns),
        exposure_percent=exposure_percent(entry, exit_, start_s, end_s),
        return_days=int(len(returns)),
    )
    curve = EquityCurve(
        days=list(pd.to_datetime(days * DAY_SECONDS, unit="s", utc=True).to_pydatetime()),
        equity=daily.tolist(),
        drawdown_percent=daily_drawdown.tolist(),
    )
    return figures, curve


def day_index(epoch: float) -> int:
    """UTC day number since the epoch."""
    return int(math.floor(epoch / DAY_SECONDS))


def sharpe(daily_returns: np.ndarray) -> float | None:
    """mean / sample std of daily returns x sqrt(365); None under two days or without spread."""
    if len(daily_returns) < 2:
        return None
    deviation = float(np.std(daily_returns, ddof=1))
    if not deviation > 0:
        return None
    return finite(np.mean(daily_returns) / deviation * math.sqrt(DAYS_PER_YEAR))


def sortino(daily_returns: np.ndarray) -> float | None:
    """mean / downside deviation x sqrt(365), downside deviation = sqrt(mean(min(r, 0)^2))
    over all days; None under two days or without a losing day."""
    if len(daily_returns) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(daily_returns, 0.0) ** 2)))
    if not downside > 0:
        return None
    return finite(np.mean(daily_returns) / downside * math.sqrt(DAYS_PER_YEAR))


def exposure_percent(entry: np.ndarray, exit_: np.ndarray, start: float,
                     end: float) -> float | None:
    """Percent of start..end during which at least one trade was open (entry to exit)."""
    if not end > start:
        return None
    opened, closed = np.clip(entry, start, end), np.clip(exit_, start, end)
    order = np.argsort(opened, kind="stable")
    opened, closed = opened[order], closed[order]
    # Each interval adds what reaches past the furthest exit of the ones opened before it.
    reach = np.maximum.accumulate(np.concatenate([[start], closed]))[:-1]
    covered = np.maximum(closed - np.maximum(opened, reach), 0.0).sum()
    return float(covered / (end - start) * 100.0)


def longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return int((edges[1::2] - edges[::2]).max())


def finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def finite_mean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return finite(values.mean()) if len(values) else None


def finite_median(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return finite(np.median(values)) if len(values) else None


# ---- probability figures: how well stated probabilities match outcomes ----
# Calibration (strategies/calibration.py) scores its held-out slice with these, and the
# performance endpoint scores the ended signals live with the same ones.

RELIABILITY_BINS = 10
# Log loss clips probabilities this far from 0 and 1: a certain miss costs much, not infinity.
LOG_LOSS_EPSILON = 1e-6


def brier_score(probabilities: np.ndarray, outcomes: np.ndarray) -> float | None:
    """Mean squared distance between the probability and the outcome (1 won, 0 not)."""
    probabilities, outcomes = _probability_pairs(probabilities, outcomes)
    if not len(outcomes):
        return None
    return float(np.mean((probabilities - outcomes) ** 2))


def log_loss(probabilities: np.ndarray, outcomes: np.ndarray) -> float | None:
    """Mean negative log likelihood of the outcomes, probabilities clipped by LOG_LOSS_EPSILON."""
    probabilities, outcomes = _probability_pairs(probabilities, outcomes)
    if not len(outcomes):
        return None
    clipped = np.clip(probabilities, LOG_LOSS_EPSILON, 1.0 - LOG_LOSS_EPSILON)
    return float(-np.mean(outcomes * np.log(clipped) + (1 - outcomes) * np.log1p(-clipped)))


def reliability_table(probabilities: np.ndarray, outcomes: np.ndarray,
                      bins: int = RELIABILITY_BINS) -> list[dict]:
    """One row per equal-width probability bin [k/bins, (k+1)/bins) (the last one includes 1):
    how many signals, their mean probability, the share that won and their Brier score (None
    in an empty bin)."""
    probabilities, outcomes = _probability_pairs(probabilities, outcomes)
    index = np.minimum((probabilities * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    probability_sums = np.bincount(index, probabilities, minlength=bins)
    win_sums = np.bincount(index, outcomes, minlength=bins)
    squared_sums = np.bincount(index, (probabilities - outcomes) ** 2, minlength=bins)
    return [
        {
            "lower": k / bins,
            "upper": (k + 1) / bins,
            "count": int(counts[k]),
            "mean_probability": float(probability_sums[k] / counts[k]) if counts[k] else None,
            "observed_rate": float(win_sums[k] / counts[k]) if counts[k] else None,
            "brier": float(squared_sums[k] / counts[k]) if counts[k] else None,
        }
        for k in range(bins)
    ]


def expected_calibration_error(table: list[dict]) -> float | None:
    """The count-weighted mean of |mean probability - observed rate| over a reliability table."""
    total = sum(row["count"] for row in table)
    if not total:
        return None
    return float(sum(row["count"] * abs(row["mean_probability"] - row["observed_rate"])
                     for row in table if row["count"]) / total)


def _probability_pairs(probabilities, outcomes) -> tuple[np.ndarray, np.ndarray]:
    probabilities = np.asarray(probabilities, dtype=float)
    outcomes = np.asarray(outcomes, dtype=float)
    if probabilities.shape != outcomes.shape:
        raise ValueError("probabilities and outcomes differ in length")
    if len(probabilities) and not (np.all((probabilities >= 0) & (probabilities <= 1))
                                   and np.all((outcomes == 0) | (outcomes == 1))):
        raise ValueError("probabilities must be in [0, 1] and outcomes 0 or 1")
    return probabilities, outcomes
