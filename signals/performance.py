"""Performance figures of the signals created in a period: one query, one pandas pass.

Every figure of the ended signals comes from strategies/stats.py (the same code backtests
use); this module reads the signals, adds the status counts and the best and worst signal, and
groups. Definitions and a worked example are in docs/performance.md. Every figure is
JSON-safe: an undefined one is None, never NaN, infinity or 0.
"""

import dataclasses
import math
import struct
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import psycopg
import psycopg.adapt
from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connections, transaction
from django.db.models import Count, F, FloatField, Func

import collectors
from signals.models import SignalResult, SignalStatus
from strategies import stats

KEYS = ["strategy", "asset", "timeframe", "status", "result"]
BREAKDOWNS = ("strategy", "asset", "timeframe")
# A longer curve is sampled down to this many points for the response; metrics use all of it.
EQUITY_CURVE_POINTS = 500


def summarize(signals, start: datetime, end: datetime) -> dict:
    frame = load(signals.filter(created_at__gte=start, created_at__lte=end))
    trades = ended_trades(frame)
    codes = {key: frame[key].cat.codes.to_numpy() for key in BREAKDOWNS}

    moments = start.timestamp(), end.timestamp()
    opened, cancelled = frame["open"].to_numpy(), frame["cancelled"].to_numpy()
    summary, statistics = metrics(
        (len(frame), int(opened.sum()), int(cancelled.sum())), trades, frame, *moments
    )
    for key in BREAKDOWNS:
        categories = frame[key].cat.categories
        counts = [np.bincount(codes[key], weights, minlength=len(categories)).astype(int)
                  for weights in (None, opened, cancelled)]
        # Trades grouped into contiguous runs, each still in booking order: slices, not masks.
        trade_codes = codes[key][trades.position]
        order = np.argsort(trade_codes, kind="stable")
        grouped = trades.subset(order)
        bounds = np.searchsorted(trade_codes[order], np.arange(len(categories) + 1))
        summary[f"by_{key}"] = {
            str(name): metrics(
                tuple(int(count[code]) for count in counts),
                grouped.subset(slice(bounds[code], bounds[code + 1])), frame, *moments,
            )[0]
            for code, name in enumerate(categories)
            if counts[0][code]
        }
    summary["equity_curve"] = equity_curve(statistics.equity)
    summary["calibration"] = live_calibration(signals.filter(created_at__gte=start,
                                                             created_at__lte=end))
    summary["period"] = {"from": start, "to": end}
    return summary


def live_calibration(signals) -> dict:
    """The stated probabilities of the ended signals against how they ended (reached the
    target or not): the check, on signals no model was trained on, that they are calibrated.
    The figures are strategies/stats.py's, as on a model version's held-out slice."""
    rows = signals.filter(
        probability__isnull=False,
        status__in=[SignalStatus.CLOSED, SignalStatus.EXPIRED],
        pnl__isnull=False,
    ).order_by().values_list("probability", "result")
    pairs = np.array(list(rows), dtype=object).reshape(-1, 2)
    probabilities = pairs[:, 0].astype(float)
    won = (pairs[:, 1] == SignalResult.WIN).astype(float)
    table = stats.reliability_table(probabilities, won)
    return {
        "ended_signals": len(won),
        "brier": stats.brier_score(probabilities, won),
        "ece": stats.expected_calibration_error(table),
        "reliability": table,
    }


def ended_trades(frame: pd.DataFrame) -> stats.BookedTrades:
    """The ended signals as strategies.stats trades, in the order they are booked; position
    is the signal's row in frame."""
    ended = np.flatnonzero(frame["ended"].to_numpy())
    closed, held = frame["closed"].to_numpy()[ended], frame["held"].to_numpy()[ended]
    win, loss = frame["win"].to_numpy()[ended], frame["loss"].to_numpy()[ended]
    trades = stats.book({
        "entry_time": closed - held,
        "exit_time": closed,
        "pnl_percent": frame["pnl"].to_numpy()[ended],
        "r_multiple": frame["r_multiple"].to_numpy()[ended],
        "result": pd.Categorical.from_codes(np.select([win, loss], [0, 1], 2), stats.RESULTS),
    })
    return dataclasses.replace(trades, position=ended[trades.position])


def metrics(counts: tuple[int, int, int], trades: stats.BookedTrades, frame: pd.DataFrame,
            start: float, end: float) -> tuple[dict, stats.Statistics]:
    """The figures of some signals: their (total, open, cancelled) counts and their ended
    trades (best and worst looked up in frame), over start..end (epoch seconds)."""
    statistics = stats.Statistics(stats.signal_figures(trades),
                                  *stats.portfolio_figures(trades, start, end))
    pnl, positions = trades.pnl, trades.position
    figures = {
        "total_signals": counts[0],
        "open_signals": counts[1],
        "cancelled_signals": counts[2],
        **statistics.as_dict(),
        "best_signal": signal_summary(frame, positions[pnl.argmax()]) if len(pnl) else None,
        "worst_signal": signal_summary(frame, positions[pnl.argmin()]) if len(pnl) else None,
    }
    return figures, statistics


def load(signals) -> pd.DataFrame:
    """One row per signal, ended signals first in the order they closed.

    Columns: the KEYS (categorical); pnl, r_multiple, closed (epoch seconds) and held
    (seconds from entry to exit) as floats; ended, win, loss, expired, open and cancelled as
    booleans.
    """
    if connections[signals.db].vendor == "postgresql":
        frame = load_postgresql(signals)
    else:
        frame = load_rows(signals)
    # Held from the entry (the close of the signal's candle), not from its open.
    timeframe = frame["timeframe"].cat
    bar_seconds = [collectors.TIMEFRAMES.get(name, 0) for name in timeframe.categories]
    frame["held"] -= np.array(bar_seconds, dtype=float)[timeframe.codes.to_numpy()]
    status, result = frame["status"], frame["result"]
    frame["ended"] = status.isin([SignalStatus.CLOSED, SignalStatus.EXPIRED]) & frame[
        "pnl"
    ].notna()
    frame["win"] = frame["ended"] & (result == SignalResult.WIN)
    frame["loss"] = frame["ended"] & (result == SignalResult.LOSS)
    frame["expired"] = status == SignalStatus.EXPIRED
    frame["open"] = status == SignalStatus.ACTIVE
    frame["cancelled"] = status == SignalStatus.CANCELLED
    # Ended signals in closing order (one without a closing time last), then the others.
    order = np.where(frame["ended"] & frame["closed"].notna(), frame["closed"], np.inf)
    order[~frame["ended"].to_numpy()] = np.nan
    return frame.take(np.argsort(order, kind="stable")).reset_index(drop=True)


def load_rows(signals) -> pd.DataFrame:
    """The KEYS, pnl, r_multiple, closed and held (from the candle's open) of each signal."""
    rows = signals.order_by().values_list(*KEYS, "pnl", "r_multiple", "candle_time", "closed_at")
    frame = pd.DataFrame.from_records(
        list(rows), columns=[*KEYS, "pnl", "r_multiple", "candle", "closed"]
    )
    for column in ("candle", "closed"):
        times = pd.to_datetime(frame[column], utc=True)
        frame[column] = (times - pd.Timestamp(0, tz=UTC)).dt.total_seconds()
    frame["held"] = frame["closed"] - frame["candle"]
    return frame.drop(columns="candle").astype(
        {key: "category" for key in KEYS} | {"pnl": float, "r_multiple": float}
    )


def load_postgresql(signals) -> pd.DataFrame:
    """The same rows, as one array per column and group, aggregated by the database.

    Building 100,000 Python tuples (values_list) takes longer than the whole 200 ms budget;
    binary float arrays read straight into numpy take a few milliseconds.
    """
    grouped = signals.order_by().values(*KEYS).annotate(
        count=Count("id"),
        pnls=ArrayAgg(NaNIfNull(F("pnl"))),
        r_multiples=ArrayAgg(NaNIfNull(F("r_multiple"))),
        closed=ArrayAgg(NaNIfNull(Epoch(F("closed_at")))),
        held=ArrayAgg(NaNIfNull(Epoch(F("closed_at") - F("candle_time")))),
    )
    sql, params = grouped.query.sql_with_params()
    connection = connections[signals.db]
    with transaction.atomic(using=signals.db):
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.adapters.register_loader(FLOAT8_ARRAY_OID, Float8ArrayLoader)
            # Room to aggregate in memory rather than sort on disk.
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute(sql, params, binary=True)
            rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [()] * 10
    counts = np.array(columns[5], dtype=np.int64)
    frame = pd.DataFrame({key: categorical(columns[i], counts) for i, key in enumerate(KEYS)})
    for name, arrays in zip(["pnl", "r_multiple", "closed", "held"], columns[6:], strict=True):
        frame[name] = np.concatenate(arrays) if arrays else np.empty(0)
    return frame


class Epoch(Func):
    """Seconds since the epoch of a timestamp, or in an interval (PostgreSQL's date_part)."""

    template = "date_part('epoch', %(expressions)s)"
    output_field = FloatField()


class NaNIfNull(Func):
    template = "coalesce(%(expressions)s, 'NaN')"
    output_field = FloatField()


FLOAT8_ARRAY_OID = psycopg.postgres.types["float8"].array_oid
# PostgreSQL's binary array: ndim, has-nulls flag, element type, (size, lower bound) per
# dimension, then (length, value) per element; without NULLs every element is 12 bytes.
ARRAY_ELEMENT = np.dtype([("length", ">i4"), ("value", ">f8")])


class Float8ArrayLoader(psycopg.adapt.Loader):
    """A one-dimensional float8[] without NULLs as a numpy array, without a Python float each."""

    format = psycopg.pq.Format.BINARY

    def load(self, data) -> np.ndarray:
        dimensions, has_nulls = struct.unpack_from(">ii", data)
        if dimensions != 1 or has_nulls:
            raise ValueError("expected a one-dimensional float8[] without NULLs")
        values = np.frombuffer(data, dtype=ARRAY_ELEMENT, offset=20)["value"]
        return values.astype(np.float64)


def categorical(group_values, counts: np.ndarray) -> pd.Categorical:
    """A column of per-group values, each repeated for the rows of its group."""
    codes, names = pd.factorize(np.array(group_values, dtype=object))
    return pd.Categorical.from_codes(np.repeat(codes, counts), names)


def moment(epoch_seconds: float) -> datetime | None:
    if not math.isfinite(epoch_seconds):
        return None
    return pd.Timestamp(round(epoch_seconds * 1e6), unit="us", tz=UTC).to_pydatetime()


def signal_summary(frame: pd.DataFrame, position) -> dict:
    row = frame.iloc[int(position)]
    return {
        "strategy": str(row["strategy"]),
        "asset": str(row["asset"]),
        "timeframe": str(row["timeframe"]),
        "result": str(row["result"]),
        "pnl": float(row["pnl"]),
        "closed_at": moment(row["closed"]),
    }


def equity_curve(curve: stats.EquityCurve) -> list[dict]:
    """The daily capital curve, sampled down to EQUITY_CURVE_POINTS, always ending at its
    last day."""
    positions = np.arange(len(curve.days))
    if len(positions) > EQUITY_CURVE_POINTS:
        positions = np.linspace(0, len(positions) - 1, EQUITY_CURVE_POINTS).round().astype(int)
    return [
        {"date": curve.days[i].date(), "equity": curve.equity[i],
         "drawdown_percent": curve.drawdown_percent[i]}
        for i in positions
    ]
