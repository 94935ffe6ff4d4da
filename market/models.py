"""Stored candles: one row per closed bar of one series (source, asset, timeframe).

source is the data source, the record a bar belongs to: demo (the deterministic demo market),
live (the exchanges, through the collector configured for the asset), import (files loaded
with import_candles) and later external. Series of different sources never mix: an analysis
and a settlement read the source the platform runs on (MARKET_DATA_MODE). provider says who
served the bar (binance, alphavantage, demo, or the file's layout).

Prices and volume are double-precision floats, like Signal prices: about 15 significant
digits, finer than any exchange tick, and the type pandas computes in. Only closed bars are
stored, so a stored row never changes: writes insert new bars and leave existing ones alone.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class DataSource(models.TextChoices):
    DEMO = "demo"
    LIVE = "live"
    IMPORT = "import"
    EXTERNAL = "external"


def running_data_source() -> str:
    """The data source the platform runs on: its MARKET_DATA_MODE (demo or live)."""
    return settings.MARKET_DATA_MODE


class Candle(models.Model):
    source = models.CharField(
        max_length=20,
        choices=DataSource.choices,
        help_text="The record the bar belongs to: demo, live, import or external.",
    )
    provider = models.CharField(
        max_length=20,
        blank=True,
        default="",
        help_text="Who served the bar: binance, alphavantage, demo, or the imported file's layout.",
    )
    asset = models.CharField(max_length=20)
    timeframe = models.CharField(max_length=4)
    open_time = models.DateTimeField(help_text="Bar open time (UTC).")
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()
    volume = models.FloatField()

    class Meta:
        constraints = [
            # Also the index every read uses: a series ordered by open_time.
            models.UniqueConstraint(
                fields=["source", "asset", "timeframe", "open_time"], name="candle_unique_bar"
            ),
            models.CheckConstraint(
                condition=Q(low__gt=0)
                & Q(volume__gte=0)
                & Q(high__gte=F("open"))
                & Q(high__gte=F("close"))
                & Q(low__lte=F("open"))
                & Q(low__lte=F("close")),
                name="candle_prices_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset} {self.timeframe} {self.open_time:%Y-%m-%d %H:%M} ({self.source})"
