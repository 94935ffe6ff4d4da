from django.core.management.base import BaseCommand

from market.models import DataSource, running_data_source
from signals.models import Watchlist

# Pairs whose signals appear within minutes on the demo market and end within the hour.
DEMO_WATCHLIST = [
    ("BTCUSDT", "1m"),
    ("BTCUSDT", "5m"),
    ("BTCUSDT", "15m"),
    ("ETHUSDT", "1m"),
    ("ETHUSDT", "5m"),
    ("ETHUSDT", "15m"),
]


class Command(BaseCommand):
    help = (
        "In demo mode, fill an empty watchlist with a few demo pairs, so the scheduled scan "
        "finds signals without any click. A watchlist with entries is left as it is."
    )

    def handle(self, *args, **options):
        if running_data_source() != DataSource.DEMO:
            self.stdout.write("Not in demo mode: the watchlist is left as it is.")
            return
        if Watchlist.objects.exists():
            self.stdout.write("The watchlist has entries: left as it is.")
            return
        Watchlist.objects.bulk_create(
            Watchlist(asset=asset, timeframe=timeframe) for asset, timeframe in DEMO_WATCHLIST
        )
        pairs = ", ".join(f"{asset} {timeframe}" for asset, timeframe in DEMO_WATCHLIST)
        self.stdout.write(self.style.SUCCESS(f"Demo watchlist: {pairs}."))
