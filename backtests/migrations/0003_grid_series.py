"""Grids over several assets and timeframes: the lists on GridRun, each chunk's series.
Grids stored before are a series of one: their own asset and timeframe."""

from django.db import migrations, models


def one_series_each(apps, schema_editor):
    GridRun = apps.get_model("backtests", "GridRun")
    GridChunk = apps.get_model("backtests", "GridChunk")
    for grid in GridRun.objects.only("asset", "timeframe", "fee_percent", "candles", "results"):
        GridRun.objects.filter(pk=grid.pk).update(
            assets=[grid.asset], timeframes=[grid.timeframe],
            series=[{"asset": grid.asset, "timeframe": grid.timeframe,
                     "fee_percent": grid.fee_percent, "candles": grid.candles}],
            results=[{**row, "asset": grid.asset, "timeframe": grid.timeframe}
                     for row in grid.results])
        GridChunk.objects.filter(grid_id=grid.pk).update(asset=grid.asset,
                                                         timeframe=grid.timeframe)


class Migration(migrations.Migration):
    dependencies = [
        ("backtests", "0002_grid"),
    ]

    operations = [
        migrations.AddField(
            model_name="gridrun",
            name="assets",
            field=models.JSONField(default=list, help_text="Every asset, in the order asked."),
        ),
        migrations.AddField(
            model_name="gridrun",
            name="timeframes",
            field=models.JSONField(default=list,
                                   help_text="Every timeframe, in the order asked."),
        ),
        migrations.AddField(
            model_name="gridrun",
            name="series",
            field=models.JSONField(
                blank=True, default=list,
                help_text="Per series (each asset x each timeframe): its fee a side, candle "
                          "count and version (the newest stored candle's id)."),
        ),
        migrations.AlterField(
            model_name="gridrun",
            name="sets_done",
            field=models.PositiveIntegerField(default=0,
                                              help_text="Backtests done (sets x series)."),
        ),
        migrations.AlterField(
            model_name="gridrun",
            name="results",
            field=models.JSONField(
                blank=True, default=list, editable=False,
                help_text="Every series x set, series by series in grid order: asset, "
                          "timeframe, varied parameters, signals, figures."),
        ),
        migrations.AddField(
            model_name="gridchunk",
            name="asset",
            field=models.CharField(default="", max_length=20),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="gridchunk",
            name="timeframe",
            field=models.CharField(default="", max_length=4),
            preserve_default=False,
        ),
        migrations.RunPython(one_series_each, migrations.RunPython.noop),
    ]
