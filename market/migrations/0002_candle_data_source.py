"""Candle.source becomes the data source (demo, live, import, external); who served a bar moves
to Candle.provider. Stored rows: binance and alphavantage bars are live, demo bars demo, and
bars imported under any other name import (that name becomes their provider). A bar that
would repeat one already stored under the new source is dropped.
"""

from django.db import migrations, models
from django.db.models import Exists, F, OuterRef

SOURCES = ("demo", "live", "import", "external")
LIVE_PROVIDERS = ("binance", "alphavantage")


def to_data_sources(apps, schema_editor):
    candle = apps.get_model("market", "Candle")
    candle.objects.update(provider=F("source"))
    old_names = set(candle.objects.values_list("source", flat=True).distinct())
    for old in sorted(old_names - set(SOURCES)):
        new = "live" if old in LIVE_PROVIDERS else "import"
        rows = candle.objects.filter(source=old)
        stored = candle.objects.filter(
            source=new,
            asset=OuterRef("asset"),
            timeframe=OuterRef("timeframe"),
            open_time=OuterRef("open_time"),
        )
        rows.filter(Exists(stored)).delete()
        rows.update(source=new)


def to_provider_names(apps, schema_editor):
    candle = apps.get_model("market", "Candle")
    candle.objects.exclude(provider="").exclude(source="demo").update(source=F("provider"))


class Migration(migrations.Migration):
    dependencies = [("market", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="candle",
            name="provider",
            field=models.CharField(
                blank=True,
                default="",
                help_text=(
                    "Who served the bar: binance, alphavantage, demo, or the imported file's "
                    "layout."
                ),
                max_length=20,
            ),
        ),
        migrations.RunPython(to_data_sources, to_provider_names),
        migrations.AlterField(
            model_name="candle",
            name="source",
            field=models.CharField(
                choices=[
                    ("demo", "Demo"),
                    ("live", "Live"),
                    ("import", "Import"),
                    ("external", "External"),
                ],
                help_text="The record the bar belongs to: demo, live, import or external.",
                max_length=20,
            ),
        ),
    ]
