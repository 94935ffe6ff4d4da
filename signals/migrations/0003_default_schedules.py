"""The default beat schedules, so they exist after `migrate` and can be edited in the admin.

Each entry expires just under its interval: a run the workers could not pick up in time is
dropped instead of piling up behind the next one.
"""

from django.db import migrations
from django.utils import timezone

# name: (task, every, period, expire_seconds)
SCHEDULES = {
    "scan watchlist": ("signals.tasks.scan_watchlist", 5, "minutes", 280),
    "evaluate open signals": ("signals.tasks.evaluate_open_signals", 1, "minutes", 55),
    "prune analysis requests": ("signals.tasks.prune_analysis_requests", 1, "days", 86_000),
    "worker heartbeat": ("signals.tasks.publish_heartbeat", 30, "seconds", 25),
}


def create_schedules(apps, schema_editor):
    interval_schedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_tasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for name, (task, every, period, expire_seconds) in SCHEDULES.items():
        interval, _ = interval_schedule.objects.get_or_create(every=every, period=period)
        periodic_task.objects.get_or_create(
            name=name,
            defaults={"task": task, "interval": interval, "expire_seconds": expire_seconds},
        )
    # A running beat reloads its schedule when this timestamp moves.
    periodic_tasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_schedules(apps, schema_editor):
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_task.objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("signals", "0002_strategy_configs_watchlist_and_subsets"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, delete_schedules)]
