"""Every signal records its data source. Existing signals get the source the platform runs on
when migrating (MARKET_DATA_MODE): the candles that produced them. One signal per strategy and
candle becomes one per strategy and candle of a source."""

from django.db import migrations, models

import market.models


class Migration(migrations.Migration):
    dependencies = [("signals", "0005_worker_heartbeat")]

    operations = [
        migrations.RemoveConstraint(model_name="signal", name="signal_once_per_candle"),
        migrations.AddField(
            model_name="signal",
            name="source",
            field=models.CharField(
                choices=[
                    ("demo", "Demo"),
                    ("live", "Live"),
                    ("import", "Import"),
                    ("external", "External"),
                ],
                db_index=True,
                default=market.models.running_data_source,
                help_text="The data source whose candles produced the signal and settle it.",
                max_length=8,
            ),
        ),
        migrations.AddConstraint(
            model_name="signal",
            constraint=models.UniqueConstraint(
                fields=("source", "strategy", "asset", "timeframe", "candle_time"),
                name="signal_once_per_source_candle",
            ),
        ),
    ]
