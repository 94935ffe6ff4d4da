from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("signals", "0006_signal_source"),
    ]

    operations = [
        migrations.AddField(
            model_name="signal",
            name="fee_percent",
            field=models.FloatField(
                blank=True,
                help_text="Percent charged on entry and on exit, from the fee schedule when settled.",
                null=True,
            ),
        ),
    ]
