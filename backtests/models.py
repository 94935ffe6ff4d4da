"""A backtest as a user asked for it, its progress, and what it found.

Trades are stored compactly: one zlib-compressed JSON object of column arrays (times as epoch
milliseconds), so a run with 25,000 trades is one small blob, not 25,000 rows. Prices are floats
(the engine's float64), exact to the stored value.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import models

from strategies.backtest import MODES, ONE_POSITION

# The trade fields the API shows, in this order.
TRADE_FIELDS = (
    "signal_time", "direction", "entry", "stop_loss", "take_profit", "exit_time", "exit_price",
    "result", "pnl_percent", "r", "bars_held", "exit_reason",
)
TIME_FIELDS = ("signal_time", "exit_time")
# The equity curve kept for charts: at most this many points of the per-candle curve.
EQUITY_POINTS = 1000


class BacktestStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


UNFINISHED = (BacktestStatus.QUEUED, BacktestStatus.RUNNING)
MODE_CHOICES = [(mode, mode) for mode in MODES]


class Backtest(models.Model):
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="backtests",
    )
    strategy = models.CharField(max_length=50)
    parameters = models.JSONField(default=dict, help_text="Every parameter, defaults included.")
    asset = models.CharField(max_length=20)
    timeframe = models.CharField(max_length=4)
    start = models.DateTimeField(help_text="First bar opening at or after this moment (UTC).")
    end = models.DateTimeField(help_text="Bars opening before this moment (UTC).")
    mode = models.CharField(
        max_length=12, choices=MODE_CHOICES, default=ONE_POSITION
    )
    fee_percent = models.FloatField(help_text="Charged on entry and on exit.")
    source = models.CharField(max_length=8, blank=True, help_text="The candles' data source.")
    candles = models.PositiveIntegerField(default=0, help_text="Candles backtested.")
    first_candle = models.DateTimeField(null=True, blank=True)
    last_candle = models.DateTimeField(null=True, blank=True)
    gaps = models.JSONField(default=list, blank=True, help_text="[first, last] missing bars.")
    status = models.CharField(
        max_length=9, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED,
        db_index=True,
    )
    progress = models.FloatField(default=0.0, help_text="0 to 1.")
    metrics = models.JSONField(null=True, blank=True, help_text="strategies/stats.py figures.")
    trade_count = models.PositiveIntegerField(default=0)
    trades_blob = models.BinaryField(
        null=True, blank=True, editable=False, help_text="zlib JSON of the trade columns."
    )
    equity_curve = models.JSONField(default=list, blank=True, editable=False)
    error = models.TextField(blank=True, help_text="Why it failed or was cancelled.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.strategy} {self.asset} {self.timeframe} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status not in UNFINISHED

    def trade_table(self) -> TradeTable:
        return TradeTable.decode(self.trades_blob)


class TradeTable(Sequence):
    """The stored trades, decoded once, each row built only when asked for (a page of them)."""

    def __init__(self, columns: dict[str, list]) -> None:
        self.columns = columns
        self.length = len(columns.get(TRADE_FIELDS[0], ()))

    @classmethod
    def from_frame(cls, trades: pd.DataFrame) -> TradeTable:
        columns: dict[str, list] = {}
        for name in TRADE_FIELDS:
            column = trades[name]
            if name in TIME_FIELDS:
                columns[name] = (pd.DatetimeIndex(column).as_unit("ms").asi8).tolist()
            elif column.dtype.kind in "fc":
                columns[name] = [finite(value) for value in column.to_numpy(dtype=np.float64)]
            elif column.dtype.kind in "iu":
                columns[name] = column.to_numpy(dtype=np.int64).tolist()
            else:
                columns[name] = column.astype(str).tolist()
        return cls(columns)

    @classmethod
    def decode(cls, blob: bytes | memoryview | None) -> TradeTable:
        if not blob:
            return cls({name: [] for name in TRADE_FIELDS})
        return cls(json.loads(zlib.decompress(bytes(blob))))

    def encode(self) -> bytes:
        return zlib.compress(json.dumps(self.columns, separators=(",", ":")).encode(), 6)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.row(i) for i in range(*index.indices(self.length))]
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(index)
        return self.row(index)

    def row(self, i: int) -> dict[str, Any]:
        row = {name: self.columns[name][i] for name in TRADE_FIELDS}
        for name in TIME_FIELDS:
            row[name] = datetime.fromtimestamp(row[name] / 1000, tz=UTC).isoformat()
        return row


def finite(value: float) -> float | None:
    """JSON (and PostgreSQL's jsonb) have no NaN or infinity: an undefined figure is null."""
    value = float(value)
    return value if math.isfinite(value) else None


def json_safe(data: Any) -> Any:
    """Statistics as JSON: numpy scalars made plain, non-finite floats null."""
    if isinstance(data, dict):
        return {str(key): json_safe(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(value) for value in data]
    if isinstance(data, (bool, np.bool_)):
        return bool(data)
    if isinstance(data, (int, np.integer)):
        return int(data)
    if isinstance(data, (float, np.floating)):
        return finite(data)
    return data


def sampled_equity(equity: pd.DataFrame, points: int = EQUITY_POINTS) -> list[dict[str, Any]]:
    """At most `points` of the per-candle equity curve, evenly spaced, first and last included,
    each bucket's deepest drawdown kept so the chart shows the worst fall."""
    size = len(equity)
    if size == 0:
        return []
    if size <= points:
        rows = np.arange(size)
    else:
        edges = np.linspace(0, size, points - 1).astype(np.int64)
        drawdown = equity["drawdown_percent"].to_numpy()
        deepest = [start + int(np.argmin(drawdown[start:stop]))
                   for start, stop in zip(edges[:-1], edges[1:], strict=True) if stop > start]
        rows = np.unique(np.array([0, *deepest, size - 1]))
    times = equity.index[rows]
    values = equity["equity"].to_numpy()[rows]
    drawdowns = equity["drawdown_percent"].to_numpy()[rows]
    return [{"time": time.isoformat(), "equity": finite(value), "drawdown_percent": finite(fall)}
            for time, value, fall in zip(times, values, drawdowns, strict=True)]


# ---- research at scale: parameter grids and walk-forward tests (strategies/grid.py) ----


class ResearchRequest(models.Model):
    """What a grid and a walk-forward share: a strategy over a period, the base parameters and
    the grid of values to try, and how sets are ranked."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    strategy = models.CharField(max_length=50)
    parameters = models.JSONField(default=dict, help_text="Base parameters, defaults included.")
    grid = models.JSONField(default=dict, help_text="Each varied parameter's values.")
    asset = models.CharField(max_length=20)
    timeframe = models.CharField(max_length=4)
    start = models.DateTimeField(help_text="First bar opening at or after this moment (UTC).")
    end = models.DateTimeField(help_text="Bars opening before this moment (UTC).")
    mode = models.CharField(max_length=12, choices=MODE_CHOICES, default=ONE_POSITION)
    fee_percent = models.FloatField(help_text="Charged on entry and on exit.")
    metric = models.CharField(max_length=40, help_text="The statistic sets are ranked by.")
    minimum_trades = models.PositiveIntegerField(help_text="Fewer trades: not ranked.")
    source = models.CharField(max_length=8, blank=True, help_text="The candles' data source.")
    candles = models.PositiveIntegerField(default=0, help_text="Candles in the period.")
    status = models.CharField(
        max_length=9, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED,
        db_index=True,
    )
    error = models.TextField(blank=True, help_text="Why it failed or was cancelled, or which "
                                                   "chunks failed.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def is_finished(self) -> bool:
        return self.status not in UNFINISHED


class GridRun(ResearchRequest):
    """A grid run: every parameter set backtested on every series (asset x timeframe), in
    chunks shared by the workers. asset and timeframe are the first series'."""

    assets = models.JSONField(default=list, help_text="Every asset, in the order asked.")
    timeframes = models.JSONField(default=list, help_text="Every timeframe, in the order asked.")
    series = models.JSONField(
        default=list, blank=True,
        help_text="Per series (each asset x each timeframe): its fee a side, candle count and "
                  "version (the newest stored candle's id).")
    set_count = models.PositiveIntegerField(help_text="Parameter sets in the grid.")
    refused = models.PositiveIntegerField(
        default=0, help_text="Combinations the strategy's own rules refused.")
    sets_done = models.PositiveIntegerField(default=0, help_text="Backtests done (sets x series).")
    chunk_count = models.PositiveIntegerField(default=0)
    results = models.JSONField(
        default=list, blank=True, editable=False,
        help_text="Every series x set, series by series in grid order: asset, timeframe, varied "
                  "parameters, signals, figures.")
    ranking = models.JSONField(default=list, blank=True, editable=False,
                               help_text="Indexes into results, best first.")

    class Meta(ResearchRequest.Meta):
        pass

    def __str__(self) -> str:
        return f"grid #{self.pk} {self.strategy} {self.asset} {self.timeframe} {self.status}"

    @property
    def backtest_count(self) -> int:
        return self.set_count * max(1, len(self.series))

    @property
    def progress(self) -> float:
        total = self.backtest_count
        return round(self.sets_done / total, 4) if total else 0.0

    def fee_of(self, asset: str, timeframe: str) -> float:
        """A series' fee a side (the fee schedule's of its asset unless one was given)."""
        for series in self.series:
            if (series["asset"], series["timeframe"]) == (asset, timeframe):
                return series["fee_percent"]
        return self.fee_percent

    @property
    def varied(self) -> list[str]:
        """The varied parameters in the strategy's schema order (jsonb keeps no key order)."""
        import strategies

        try:
            schema = strategies.get(self.strategy).parameters
        except strategies.UnknownStrategy:
            return list(self.grid)
        return [name for name in schema if name in self.grid]


class GridChunk(models.Model):
    """Some of a grid's parameter sets on one of its series: one Celery task of the grid's
    chord, one candle frame."""

    grid = models.ForeignKey(GridRun, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    asset = models.CharField(max_length=20)
    timeframe = models.CharField(max_length=4)
    first_set = models.PositiveIntegerField(help_text="Its first set's place in the grid.")
    parameter_sets = models.JSONField(help_text="Full parameter sets, in grid order.")
    task_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=9, choices=BacktestStatus.choices,
                              default=BacktestStatus.QUEUED)
    results = models.JSONField(default=list, blank=True, editable=False)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="The worker that ran it.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["grid", "number"]
        constraints = [models.UniqueConstraint(fields=["grid", "number"],
                                               name="one_chunk_per_number")]

    def __str__(self) -> str:
        return (f"grid #{self.grid_id} chunk {self.number} {self.asset} {self.timeframe} "
                f"{self.status}")


class WalkForward(ResearchRequest):
    """A walk-forward test: parameters chosen on each training window, traded on the next test
    window only; the stitched out-of-sample trades beside the in-sample figures."""

    train_bars = models.PositiveIntegerField()
    test_bars = models.PositiveIntegerField()
    embargo_bars = models.PositiveIntegerField(
        help_text="Bars between training and test windows (>= expiry_bars).")
    anchored = models.BooleanField(default=False, help_text="Training windows all start at the "
                                                            "first bar (else they roll).")
    progress = models.FloatField(default=0.0, help_text="0 to 1.")
    windows = models.JSONField(default=list, blank=True, editable=False,
                               help_text="Per window: bounds, chosen parameters, figures.")
    in_sample = models.JSONField(null=True, blank=True, editable=False)
    out_of_sample = models.JSONField(null=True, blank=True, editable=False)
    trade_count = models.PositiveIntegerField(default=0)
    trades_blob = models.BinaryField(null=True, blank=True, editable=False,
                                     help_text="zlib JSON of the out-of-sample trades.")

    class Meta(ResearchRequest.Meta):
        pass

    def __str__(self) -> str:
        return (f"walk-forward #{self.pk} {self.strategy} {self.asset} {self.timeframe} "
                f"{self.status}")

    def trade_table(self) -> TradeTable:
        return TradeTable.decode(self.trades_blob)
