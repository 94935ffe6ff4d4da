"""The scheduled scan: one analysis per enabled watchlist entry, each its own task."""

from django.db import transaction

from signals import services
from signals.models import AnalysisRequest, AnalysisSource, Watchlist


def scan_watchlist() -> list[AnalysisRequest]:
    """Create a scheduled AnalysisRequest per enabled entry and publish each once committed."""
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
        # Each analysis is a separate message any worker may take; one the broker does not
        # take stays pending for the sweeper.
        for correlation_id in ids:
            transaction.on_commit(
                lambda correlation_id=correlation_id: services.dispatch_analysis(correlation_id)
            )
    return analyses
