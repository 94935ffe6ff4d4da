"""Attempt counting for analyses, and the sweeper's default beat schedule.

The sweeper republishes pending requests whose message was lost and takes back running ones
whose worker is gone (signals/services.py sweep_analysis_requests). Its entry expires just under
its interval, like the schedules of 0003.
"""

import django.utils.timezone
from django.db import migrations, models
from django.utils import timezone

SWEEPER = "sweep analysis requests"
SWEEPER_TASK = "signals.tasks.sweep_analysis_requests"
SWEEP_EVERY_SECONDS = 30


def create_schedule(apps, schema_editor):
    interval_schedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_tasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval, _ = interval_schedule.objects.get_or_create(
        every=SWEEP_EVERY_SECONDS, period="seconds"
    )
    periodic_task.objects.get_or_create(
        name=SWEEPER,
        defaults={
            "task": SWEEPER_TASK,
            "interval": interval,
            "expire_seconds": SWEEP_EVERY_SECONDS - 5,
        },
    )
    # A running beat reloads its schedule when this timestamp moves.
    periodic_tasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_schedule(apps, schema_editor):
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_task.objects.filter(name=SWEEPER).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("signals", "0003_default_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="analysisrequest",
            name="attempts",
            field=models.PositiveIntegerField(
                default=0, help_text="Runs started; the request fails after ANALYSIS_MAX_ATTEMPTS."
            ),
        ),
        migrations.AddField(
            model_name="analysisrequest",
            name="last_dispatched_at",
            field=models.DateTimeField(
                db_index=True,
                default=django.utils.timezone.now,
                help_text="When its latest task message was published (or is due, when delayed).",
            ),
        ),
        migrations.AlterField(
            model_name="analysisrequest",
            name="error",
            field=models.TextField(
                blank=True, help_text="Why it failed; while it is retried, the last transient error."
            ),
        ),
        migrations.RunPython(create_schedule, delete_schedule),
    ]
