"""manage.py retrain [--force] [--no-progress]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from calibration import services


class Command(BaseCommand):
    help = (
        "Retrain the signal probability model on the stored history (every_signal backtests "
        "of the watchlist's series), judge it on the newest held-out signals and store the "
        "version: active if it earned it, else rejected with the reason. Skipped when the data "
        "is unchanged since a version, unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true",
                            help="retrain even when the data is unchanged")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, **options) -> None:
        with tqdm(disable=options["no_progress"], file=self.stderr, unit=" steps") as bar:

            def advance(done: int, total: int, stage: str) -> None:
                bar.total = total
                bar.n = done
                bar.set_description(stage)
                bar.refresh()

            outcome = services.retrain(force=options["force"], progress=advance)
        if outcome.skipped:
            self.stdout.write(outcome.message)
            return
        version = outcome.version
        self.stdout.write(f"version {version.pk}: {version.status}")
        self.stdout.write(version.reason)
        counts = ", ".join(f"{name} {count:,}" for name, count in version.counts.items())
        self.stdout.write(f"signals: {counts}")
