"""Performance figures of the signals created in a period: one query, one pandas pass.

Definitions (and a worked example) are in docs/performance.md. Every figure is JSON-safe:
an undefined ratio is None, never NaN or infinity.
"""

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

KEYS = ["strategy", "asset", "timeframe", "status", "result"]
NUMBERS = [
    "pnl", "r_multiple", "closed", "held", "ended", "win", "loss", "expired", "open", "cancelled"
]
BREAKDOWNS = ("strategy", "asset", "timeframe")
# A longer curve is sampled down to this many points for the response; metrics use all of it.
EQUITY_CURVE_POINTS = 500
YEAR_SECONDS = 365.25 * 86400


def summarize(signals, start: datetime, end: datetime) -> dict:
    frame = load(signals.filter(created_at__gte=start, created_at__lte=end))
    years = max((end - start).total_seconds(), 1.0) / YEAR_SECONDS
    columns = {name: frame[name].to_numpy() for name in NUMBERS}
    columns["row"] = np.arange(len(frame))

    def figures(positions: np.ndarray | None = None) -> dict:
        rows = columns if positions is None else {k: v[positions] for k, v in columns.items()}
        return metrics(rows, years, frame)

    summary = figures()
    for key in BREAKDOWNS:
        summary[f"by_{key}"] = {
            name: figures(positions) for name, positions in group_positions(frame[key])
        }
    summary["equity_curve"] = equity_curve(frame)
    summary["period"] = {"from": start, "to": end}
    return summary


def group_positions(column: pd.Series):
    """(value, positions of its rows in their order) for each value of a categorical column."""
    codes = column.cat.codes.to_numpy()
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(column.cat.categories) + 1))
    groups = [
        (str(name), order[bounds[i] : bounds[i + 1]])
        for i, name in enumerate(column.cat.categories)
    ]
    return sorted((name, positions) for name, positions in groups if len(positions))


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


def metrics(rows: dict[str, np.ndarray], years: float, frame: pd.DataFrame) -> dict:
    """The figures of some rows of frame (numeric columns, in load()'s order)."""
    ended = rows["ended"]
    pnl = rows["pnl"][ended]
    is_win, is_loss = rows["win"][ended], rows["loss"][ended]
    wins, losses = int(is_win.sum()), int(is_loss.sum())
    decided = wins + losses
    win_rate = wins / decided if decided else None
    average_win = float(pnl[is_win].mean()) if wins else 0.0
    average_loss = float(-pnl[is_loss].mean()) if losses else 0.0
    gross_profit, gross_loss = float(pnl[pnl > 0].sum()), float(-pnl[pnl < 0].sum())
    ended_rows = rows["row"][ended]
    return {
        "total_signals": len(rows["row"]),
        "winning_signals": wins,
        "losing_signals": losses,
        "expired_signals": int(rows["expired"].sum()),
        "open_signals": int(rows["open"].sum()),
        "cancelled_signals": int(rows["cancelled"].sum()),
        "win_rate": win_rate,
        "total_pnl": float(pnl.sum()),
        "average_pnl": mean(pnl),
        "profit_factor": gross_profit / gross_loss if gross_loss > 0 else None,
        "expectancy": (
            win_rate * average_win - (1 - win_rate) * average_loss if decided else None
        ),
        "average_r": mean(rows["r_multiple"][ended]),
        "best_signal": signal_summary(frame, ended_rows[pnl.argmax()]) if len(pnl) else None,
        "worst_signal": signal_summary(frame, ended_rows[pnl.argmin()]) if len(pnl) else None,
        "max_drawdown": max_drawdown(pnl),
        "sharpe": sharpe(pnl, years),
        "sortino": sortino(pnl, years),
        "max_consecutive_wins": longest_run(is_win),
        "max_consecutive_losses": longest_run(is_loss),
        "average_holding_time": mean(rows["held"][ended]),
    }


def mean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return finite(values.mean()) if len(values) else None


def finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


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


def max_drawdown(pnl: np.ndarray) -> float:
    """Largest fall of the cumulative pnl curve (starting at 0) from an earlier peak."""
    if not len(pnl):
        return 0.0
    curve = np.concatenate([[0.0], np.cumsum(pnl)])
    return float((np.maximum.accumulate(curve) - curve).max())


def sharpe(pnl: np.ndarray, years: float) -> float | None:
    """Mean over standard deviation of per-signal returns, times sqrt(signals per year)."""
    if len(pnl) < 2:
        return None
    deviation = pnl.std(ddof=1)
    if not deviation > 0:
        return None
    return finite(pnl.mean() / deviation * math.sqrt(len(pnl) / years))


def sortino(pnl: np.ndarray, years: float) -> float | None:
    """Like sharpe, over the downside deviation: sqrt(mean(min(pnl, 0)^2)) of all signals."""
    if len(pnl) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(pnl, 0.0) ** 2)))
    if not downside > 0:
        return None
    return finite(pnl.mean() / downside * math.sqrt(len(pnl) / years))


def longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return int((edges[1::2] - edges[::2]).max())


def equity_curve(frame: pd.DataFrame) -> list[dict]:
    ended = frame[frame["ended"] & frame["closed"].notna()]
    cumulative = ended["pnl"].cumsum().to_numpy()
    closed = ended["closed"].to_numpy()
    positions = np.arange(len(ended))
    if len(ended) > EQUITY_CURVE_POINTS:
        positions = np.linspace(0, len(ended) - 1, EQUITY_CURVE_POINTS).round().astype(int)
    return [
        {"time": moment(closed[i]), "cumulative_pnl": float(cumulative[i])} for i in positions
    ]
