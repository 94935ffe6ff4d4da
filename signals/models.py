"""Signals and the analyses that produce them.

Prices are stored as double-precision floats: 15 significant digits, far finer than any
exchange tick, and the same type pandas computes in. Percent figures (pnl) likewise.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q


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
    confidence = models.FloatField(help_text="0 to 1: how strongly the strategy's conditions held.")
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
    indicators = models.JSONField(default=dict, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    correlation_id = models.UUIDField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                name="signal_confidence_0_1",
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
            # One strategy firing on one candle is one signal, however often it is analysed.
            models.UniqueConstraint(
                fields=["strategy", "asset", "timeframe", "candle_time"],
                name="signal_once_per_candle",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.asset} {self.timeframe} ({self.strategy})"


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
    signals_generated = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.asset} {self.timeframe} {self.status} ({self.correlation_id})"

    @property
    def is_finished(self) -> bool:
        return self.status in (AnalysisStatus.COMPLETED, AnalysisStatus.FAILED)
