"""Timestamps from clients (query filters, performance periods, the WebSocket catch-up).

Every one goes through parse_timestamp: ISO 8601, naive meaning UTC, within a range that date
arithmetic and every database can handle, and converted to UTC at once. The conversion is what
keeps an offset PostgreSQL refuses (+23:59 is valid in Python, not in PostgreSQL) out of queries.
"""

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
FORMAT_HINT = gettext_lazy("an ISO 8601 timestamp, e.g. 2024-01-01T00:00:00Z")


def parse_timestamp(value: object) -> datetime:
    """value as an aware datetime in UTC; ValueError saying why it is not usable."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = parse_datetime(value.strip()) if isinstance(value, str) else None
        except ValueError:  # well formed but impossible, e.g. month 13
            moment = None
        if moment is None:
            raise ValueError(_("Not %(hint)s.") % {"hint": FORMAT_HINT})
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    # Compared before converting: converting 0001-01-01T00:00+01:00 would overflow.
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(_("Out of range: use a time between %(earliest)s and %(latest)s.") % {
            "earliest": f"{EARLIEST:%Y-%m-%d}", "latest": f"{LATEST:%Y-%m-%d}"})
    return moment.astimezone(UTC)
