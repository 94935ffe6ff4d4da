"""Signals and the analyses that produce them.

Prices are stored as double-precision floats: 15 significant digits, far finer than any
exchange tick, and the same type pandas computes in. Percent figures (pnl) likewise.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

import strategies
from market.models import DataSource, running_data_source
from signals import validation
from strategies.base import RISK_PARAMETERS


class Direction(models.TextChoices):
    LONG = "long"
    SHORT = "short"


class SignalStatus(models.TextChoices):
    ACTIVE = "active"
    CLOSED = "closed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class SignalResult(models.TextChoices):
    WIN = "win"
    LOSS = "loss"
    NONE = "none"


class Signal(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    asset = models.CharField(max_length=20, db_index=True)
    direction = models.CharField(max_length=5, choices=Direction.choices)
    # The strategy's heuristic strength, kept whatever model serves: the API shows it as
    # `strength` (and, for old clients, `confidence`), never as a probability.
    confidence = models.FloatField(
        help_text="0 to 1: how strongly the strategy's conditions held (its heuristic "
                  "strength); not a probability."
    )
    entry_price = models.FloatField()
    stop_loss = models.FloatField()
    take_profit = models.FloatField()
    strategy = models.CharField(max_length=50, db_index=True)
    timeframe = models.CharField(max_length=4)
    candle_time = models.DateTimeField(help_text="Open time of the candle the signal fired on.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.CharField(
        max_length=9, choices=SignalStatus.choices, default=SignalStatus.ACTIVE, db_index=True
    )
    result = models.CharField(max_length=4, choices=SignalResult.choices, default=SignalResult.NONE)
    pnl = models.FloatField(null=True, blank=True, help_text="Percent, signed, after fees.")
    r_multiple = models.FloatField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_price = models.FloatField(null=True, blank=True)
    fee_percent = models.FloatField(
        null=True, blank=True,
        help_text="Percent charged on entry and on exit, from the fee schedule when settled.",
    )
    probability = models.FloatField(
        null=True, blank=True,
        help_text="Calibrated probability of reaching the target before the stop or expiry, "
                  "from model_version; null when no model version was active.",
    )
    model_version = models.ForeignKey(
        "calibration.ModelVersion", null=True, blank=True, on_delete=models.PROTECT,
        related_name="signals", help_text="The model version that gave the probability.",
    )
    indicators = models.JSONField(default=dict, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    correlation_id = models.UUIDField(null=True, blank=True, db_index=True)
    source = models.CharField(
        max_length=8,
        choices=DataSource.choices,
        default=running_data_source,
        db_index=True,
        help_text="The data source whose candles produced the signal and settle it.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                name="signal_confidence_0_1",
            ),
            models.CheckConstraint(
                condition=Q(probability__isnull=True)
                | (Q(probability__gte=0) & Q(probability__lte=1)),
                name="signal_probability_0_1",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        direction="long",
                        stop_loss__lt=F("entry_price"),
                        take_profit__gt=F("entry_price"),
                    )
                    | Q(
                        direction="short",
                        stop_loss__gt=F("entry_price"),
                        take_profit__lt=F("entry_price"),
                    )
                ),
                name="signal_levels_match_direction",
            ),
            # One strategy firing on one candle of a source is one signal, however often it is
            # analysed; the same candle of another source is another record.
            models.UniqueConstraint(
                fields=["source", "strategy", "asset", "timeframe", "candle_time"],
                name="signal_once_per_source_candle",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.asset} {self.timeframe} ({self.strategy})"

    @property
    def expiry_bars(self) -> int:
        """Bars an open signal lives: its own stored parameter, else its strategy's default."""
        if "expiry_bars" in self.parameters:
            return int(self.parameters["expiry_bars"])
        try:
            return strategies.get(self.strategy).parameters["expiry_bars"].default
        except strategies.UnknownStrategy:
            return RISK_PARAMETERS["expiry_bars"].default

    def close(self, outcome, fee_percent: float | None = None) -> bool:
        """Record how the signal ended (a strategies.lifecycle.Outcome, net of fee_percent a
        side), once.

        Guarded update: of two evaluators settling the same signal at once only one changes
        the row; the other gets False and must not announce the close.
        """
        fields = {
            "fee_percent": fee_percent,
            "status": outcome.status,
            "result": outcome.result,
            "close_price": outcome.close_price,
            "closed_at": outcome.closed_at.to_pydatetime(),
            "pnl": outcome.pnl,
            "r_multiple": outcome.r_multiple,
        }
        changed = Signal.objects.filter(pk=self.pk, status=SignalStatus.ACTIVE).update(**fields)
        if changed:
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(changed)


class AnalysisStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class AnalysisSource(models.TextChoices):
    API = "api"
    SCHEDULE = "schedule"


class AnalysisRequest(models.Model):
    correlation_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    asset = models.CharField(max_length=20)
    timeframe = models.CharField(max_length=4)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    source = models.CharField(
        max_length=8, choices=AnalysisSource.choices, default=AnalysisSource.API
    )
    status = models.CharField(
        max_length=9, choices=AnalysisStatus.choices, default=AnalysisStatus.PENDING, db_index=True
    )
    strategies = models.JSONField(
        default=list, blank=True, help_text="Strategy names to run; empty means all enabled."
    )
    signals_generated = models.PositiveIntegerField(default=0)
    error = models.TextField(
        blank=True, help_text="Why it failed; while it is retried, the last transient error."
    )
    attempts = models.PositiveIntegerField(
        default=0, help_text="Runs started; the request fails after ANALYSIS_MAX_ATTEMPTS."
    )
    last_dispatched_at = models.DateTimeField(
        default=timezone.now,
        db_index=True,
        help_text="When its latest task message was published (or is due, when delayed).",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # What a completed analysis evaluated: the drift report (backtests/drift.py) tells a candle
    # the live scan never analysed, a config change and revised candles apart with these.
    candle_time = models.DateTimeField(
        null=True, blank=True, help_text="Open time of the last candle it evaluated."
    )
    candles_read = models.PositiveIntegerField(default=0, help_text="Candles it read, up to it.")
    candles_digest = models.CharField(
        max_length=32, blank=True, help_text="strategies.drift.candles_digest of those candles."
    )
    strategy_parameters = models.JSONField(
        default=dict, blank=True, help_text="Strategy name -> parameters, for each it ran."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["asset", "timeframe", "candle_time"], name="analysis_evaluated_candle"
            )
        ]

    def __str__(self) -> str:
        return f"{self.asset} {self.timeframe} {self.status} ({self.correlation_id})"

    @property
    def is_finished(self) -> bool:
        return self.status in (AnalysisStatus.COMPLETED, AnalysisStatus.FAILED)


def check_scope(asset: str, timeframe: str, *, served: bool = False) -> None:
    """ValidationError naming asset or timeframe unless each is empty or valid (as stored:
    canonical symbols; served=True: one the market data mode serves)."""
    errors = {}
    check_asset = validation.served_asset if served else validation.asset
    if asset:
        try:
            check_asset(asset, normalise=False)
        except ValidationError as exc:
            errors["asset"] = exc.messages
    if timeframe:
        try:
            validation.timeframe(timeframe)
        except ValidationError as exc:
            errors["timeframe"] = exc.messages
    if errors:
        raise ValidationError(errors)


class StrategyConfig(models.Model):
    """Whether a strategy runs and with which parameters, globally or for an asset/timeframe.

    An empty asset or timeframe means any (empty strings, not NULLs, so the unique constraint
    holds on every database). The most specific config for an analysis wins as a whole:
    asset+timeframe, then asset, then timeframe, then global; with none the strategy runs
    with its defaults.
    """

    strategy = models.CharField(max_length=50)
    asset = models.CharField(max_length=20, blank=True, default="", help_text="Empty: any.")
    timeframe = models.CharField(max_length=4, blank=True, default="", help_text="Empty: any.")
    enabled = models.BooleanField(default=True)
    parameters = models.JSONField(
        default=dict, blank=True, help_text="Overrides of the strategy's defaults."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["strategy", "asset", "timeframe"]
        constraints = [
            models.UniqueConstraint(
                fields=["strategy", "asset", "timeframe"], name="strategy_config_once_per_scope"
            )
        ]

    def __str__(self) -> str:
        scope = " ".join(filter(None, [self.asset, self.timeframe])) or "global"
        return f"{self.strategy} ({scope})"

    @classmethod
    def most_specific(cls, asset: str, timeframe: str) -> dict[str, "StrategyConfig"]:
        """Strategy name -> the config that applies to this asset and timeframe."""
        chosen: dict[str, StrategyConfig] = {}
        for config in cls.objects.filter(asset__in=["", asset], timeframe__in=["", timeframe]):
            current = chosen.get(config.strategy)
            if current is None or config.specificity > current.specificity:
                chosen[config.strategy] = config
        return chosen

    @property
    def specificity(self) -> int:
        return 2 * bool(self.asset) + bool(self.timeframe)

    def build(self) -> strategies.Strategy:
        """The configured strategy; raises UnknownStrategy or ParameterError."""
        return strategies.get(self.strategy)(**self.parameters)

    def clean(self) -> None:
        check_scope(self.asset, self.timeframe)
        try:
            validation.strategy_name(self.strategy)
        except ValidationError as exc:
            raise ValidationError({"strategy": exc.messages}) from None
        validation.strategy_parameters(self.strategy, self.parameters)


class Watchlist(models.Model):
    """An asset and timeframe the scheduled scan analyses."""

    asset = models.CharField(max_length=20)
    timeframe = models.CharField(max_length=4)
    enabled = models.BooleanField(default=True)
    strategies = models.JSONField(
        default=list, blank=True, help_text="Strategy names to run; empty means all enabled."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asset", "timeframe"]
        verbose_name_plural = "watchlist"
        constraints = [
            models.UniqueConstraint(fields=["asset", "timeframe"], name="watchlist_once_per_pair")
        ]

    def __str__(self) -> str:
        return f"{self.asset} {self.timeframe}"

    def clean(self) -> None:
        check_scope(self.asset, self.timeframe, served=True)
        try:
            validation.strategy_names(self.strategies)
        except ValidationError as exc:
            raise ValidationError({"strategies": exc.messages}) from None


class Heartbeat(models.Model):
    """The last time a component (the worker) said it was alive.

    In the database rather than the cache: a Redis restart that loses its data must not make
    a live worker look unknown (signals/health.py).
    """

    component = models.CharField(max_length=50, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.component} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
