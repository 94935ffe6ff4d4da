"""manage.py fetch_candles --asset BTCUSDT --timeframe 1h --days 30"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

import collectors
from collectors.timeframes import utc_now
from market import store
from signals import validation


class Command(BaseCommand):
    help = (
        "Backfill the closed candles of the last DAYS days from the source configured for the "
        "asset (MARKET_DATA_MODE; Binance or Alpha Vantage when live). Stored candles are kept; "
        "ranges already complete are not fetched again. Gaps left are listed, never filled."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--asset", required=True)
        parser.add_argument("--timeframe", required=True)
        parser.add_argument("--days", type=float, required=True)
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, asset: str, timeframe: str, days: float, **options):
        if days <= 0:
            raise CommandError("--days must be positive")
        try:
            asset = validation.served_asset(asset)
        except ValidationError as exc:
            raise validation.command_error("--asset", exc) from None
        try:
            validation.timeframe(timeframe)
        except ValidationError as exc:
            raise validation.command_error("--timeframe", exc) from None
        now = utc_now()
        try:
            with tqdm(
                unit=" candles",
                desc=f"{asset} {timeframe}",
                disable=options["no_progress"],
                file=self.stderr,
            ) as bar:

                def advance(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done)

                result = store.backfill(
                    asset, timeframe, now - timedelta(days=days), now=now, progress=advance
                )
        except collectors.MarketDataError as exc:
            raise CommandError(f"{asset} {timeframe}: {exc}") from None
        self.stdout.write(
            f"{asset} {timeframe} from {result.provider}: {result.bars} bars in range, "
            f"{result.fetched} fetched, {result.inserted} new"
        )
        if result.gaps:
            missing = store.missing_bars(result.gaps, timeframe)
            self.stdout.write(f"  {missing} bar(s) missing in {len(result.gaps)} gap(s):")
            for first, last in result.gaps[:20]:
                self.stdout.write(f"    {first.isoformat()} to {last.isoformat()}")
