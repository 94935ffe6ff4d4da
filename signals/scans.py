"""The scheduled scan: one analysis per enabled watchlist entry, each its own task."""

from celery import group
from django.db import transaction

from signals.models import AnalysisRequest, AnalysisSource, Watchlist


def scan_watchlist() -> list[AnalysisRequest]:
    """Create a scheduled AnalysisRequest per enabled entry and fan them out once committed."""
    from signals import tasks

    with transaction.atomic():
        analyses = [
            AnalysisRequest.objects.create(
                asset=entry.asset,
                timeframe=entry.timeframe,
                source=AnalysisSource.SCHEDULE,
                strategies=entry.strategies,
            )
            for entry in Watchlist.objects.filter(enabled=True)
        ]
        ids = [str(analysis.correlation_id) for analysis in analyses]
        if ids:
            # A group: each analysis is a separate message any worker may take.
            transaction.on_commit(
                lambda: group(tasks.run_analysis.s(i) for i in ids).apply_async()
            )
    return analyses
