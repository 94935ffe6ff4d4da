from django.db import migrations, models


class Migration(migrations.Migration):
    """What each completed analysis evaluated, for the live-versus-backtest drift report."""

    dependencies = [
        ("signals", "0008_signal_probability"),
    ]

    operations = [
        migrations.AddField(
            model_name="analysisrequest",
            name="candle_time",
            field=models.DateTimeField(
                blank=True, help_text="Open time of the last candle it evaluated.", null=True
            ),
        ),
        migrations.AddField(
            model_name="analysisrequest",
            name="candles_digest",
            field=models.CharField(
                blank=True,
                help_text="strategies.drift.candles_digest of those candles.",
                max_length=32,
            ),
        ),
        migrations.AddField(
            model_name="analysisrequest",
            name="candles_read",
            field=models.PositiveIntegerField(default=0, help_text="Candles it read, up to it."),
        ),
        migrations.AddField(
            model_name="analysisrequest",
            name="strategy_parameters",
            field=models.JSONField(
                blank=True, default=dict, help_text="Strategy name -> parameters, for each it ran."
            ),
        ),
        migrations.AddIndex(
            model_name="analysisrequest",
            index=models.Index(
                fields=["asset", "timeframe", "candle_time"], name="analysis_evaluated_candle"
            ),
        ),
    ]
