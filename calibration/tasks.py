"""Celery tasks of calibration: on the models queue (CELERY_TASK_ROUTES), thin."""

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model

from calibration import services
from signals import retries


@shared_task(
    soft_time_limit=settings.RETRAIN_SOFT_TIME_LIMIT,
    time_limit=settings.RETRAIN_TIME_LIMIT,
    autoretry_for=retries.DATABASE_CONNECTION_ERRORS,
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
)
def retrain_model(user_id: int | None = None, force: bool = False) -> dict:
    """Retrain (skipped on unchanged data unless force); the weekly schedule calls it bare."""
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    outcome = services.retrain(user=user, force=force)
    return {"version": outcome.version.pk if outcome.version else None,
            "skipped": outcome.skipped, "message": outcome.message}
