# ruff: noqa: E501  (generated field definitions)
"""Model versions, and the weekly retrain's default beat schedule (editable in the admin).

The retrain runs on Sunday at 03:00 UTC, a quiet hour; on unchanged data it is skipped.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

WEEKLY_RETRAIN = "retrain the signal probability model"
WEEKLY_RETRAIN_TASK = "calibration.tasks.retrain_model"


def create_schedule(apps, schema_editor):
    crontab_schedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_tasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    weekly, _ = crontab_schedule.objects.get_or_create(
        minute="0", hour="3", day_of_week="0", day_of_month="*", month_of_year="*",
        timezone="UTC",
    )
    periodic_task.objects.get_or_create(
        name=WEEKLY_RETRAIN, defaults={"task": WEEKLY_RETRAIN_TASK, "crontab": weekly}
    )
    # A running beat reloads its schedule when this timestamp moves.
    periodic_tasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_schedule(apps, schema_editor):
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_task.objects.filter(name=WEEKLY_RETRAIN).delete()


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name='ModelVersion',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('status', models.CharField(choices=[('active', 'Active'), ('rejected', 'Rejected'), ('retired', 'Retired')], db_index=True, max_length=8)),
                ('reason', models.TextField(help_text='Why it was activated or rejected, with the numbers.')),
                ('model_name', models.CharField(blank=True, help_text='The chosen classifier.', max_length=80)),
                ('calibration_method', models.CharField(blank=True, help_text='isotonic or sigmoid', max_length=10)),
                ('training_start', models.DateTimeField(blank=True, help_text='Oldest signal fitted.', null=True)),
                ('training_end', models.DateTimeField(blank=True, help_text='Latest outcome fitted or calibrated on.', null=True)),
                ('held_out_start', models.DateTimeField(blank=True, help_text='Oldest signal of the held-out slice.', null=True)),
                ('held_out_end', models.DateTimeField(blank=True, null=True)),
                ('counts', models.JSONField(blank=True, default=dict, help_text='Signals in all, fitted, calibrating, held out, purged.')),
                ('features', models.JSONField(blank=True, default=list)),
                ('data_hash', models.CharField(db_index=True, max_length=64)),
                ('metrics', models.JSONField(blank=True, default=dict, help_text='Held-out metrics of the model, the base rate and the heuristic; model selection; bootstrap of the Brier margins.')),
                ('model_blob', models.BinaryField(blank=True, null=True)),
                ('activated_at', models.DateTimeField(blank=True, null=True)),
                ('retired_at', models.DateTimeField(blank=True, null=True)),
                ('requested_by', models.ForeignKey(blank=True, help_text='null when the weekly schedule or the command retrained.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
                'constraints': [models.UniqueConstraint(condition=models.Q(('status', 'active')), fields=('status',), name='one_active_model_version')],
            },
        ),
        migrations.RunPython(create_schedule, delete_schedule),
    ]
