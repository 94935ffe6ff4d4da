"""manage.py import_candles PATH --asset BTCUSDT --timeframe 1h [--provider NAME]"""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

import collectors
from market import importer
from signals import validation


class Command(BaseCommand):
    help = (
        "Import candles from a Binance kline CSV (no header, 12 columns; open time in ms or us) "
        "or a plain OHLCV CSV (header: open_time/timestamp/time/date/datetime, open, high, low, "
        "close, volume), optionally zipped. Bad rows are rejected with their reason; candles "
        "already stored are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--asset", required=True)
        parser.add_argument("--timeframe", required=True)
        parser.add_argument(
            "--provider",
            help='Who made the file; default "binance" for Binance kline files, "csv" for '
            'plain CSV. Imported candles are stored under the data source "import", apart from '
            "the demo and live candles analyses read.",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(
        self, *args, path: Path, asset: str, timeframe: str, provider: str | None, **options
    ):
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            asset = validation.asset(asset)  # any market's history may be imported
        except ValidationError as exc:
            raise validation.command_error("--asset", exc) from None
        try:
            validation.timeframe(timeframe)
        except ValidationError as exc:
            raise validation.command_error("--timeframe", exc) from None
        try:
            total = importer.total_bytes(path)
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc=f"{asset} {timeframe}",
                disable=options["no_progress"],
                file=self.stderr,
            ) as bar:
                summary = importer.import_file(
                    path, asset=asset, timeframe=timeframe, provider=provider, progress=bar.update
                )
        except (importer.ImportFormatError, collectors.MarketDataError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{path.name}: {summary.layout or 'empty'} file, stored as source {summary.source!r} "
            f"(provider {summary.provider!r})\n"
            f"  rows read              {summary.rows_read}\n"
            f"  inserted               {summary.inserted}\n"
            f"  skipped as duplicates  {summary.duplicates}\n"
            f"  rejected               {summary.rejected_total}"
        )
        for reason, count in summary.rejected.most_common():
            self.stdout.write(f"    {reason}: {count}")
