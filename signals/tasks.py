from celery import shared_task

from signals import services


@shared_task
def run_analysis(correlation_id: str) -> str:
    return services.run_analysis(correlation_id).status
