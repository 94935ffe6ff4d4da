"""manage.py drift --strategy mean_reversion --asset BTCUSDT --timeframe 5m --from ... [--to]"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

import collectors
from backtests import drift, services
from strategies.drift import IDENTICAL

BAD_INPUT = 2


class Command(BaseCommand):
    help = (
        "The live-versus-backtest drift report: each candle of the period on which the live "
        "record or the backtest fired, identical or with the cause of the difference (missed, "
        "config_change, revised_data, different_ending, unexplained). Prints the counts and "
        "every difference (--all: every candle), or the whole report with --json. Bad input "
        "exits with 2; unexplained differences exit with 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", required=True)
        parser.add_argument("--asset", required=True)
        parser.add_argument("--timeframe", required=True)
        parser.add_argument("--from", dest="start", required=True, help="ISO 8601")
        parser.add_argument("--to", dest="end", help="ISO 8601; default now")
        parser.add_argument("--all", action="store_true", help="list identical candles too")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options) -> None:
        try:
            result = drift.drift_report(
                strategy=options["strategy"], asset=options["asset"],
                timeframe=options["timeframe"], start=options["start"], end=options["end"])
        except services.BacktestInputError as exc:
            raise CommandError(f"--{exc.field}: {exc.reason}", returncode=BAD_INPUT) from None
        except (services.NoCandlesError, collectors.MarketDataError) as exc:
            raise CommandError(str(exc)) from None

        if options["json"]:
            self.stdout.write(json.dumps(drift.drift_to_dict(result), indent=2))
        else:
            self.stdout.write(summary(result, every_candle=options["all"]))
        if result.report.unexplained:
            raise CommandError(f"{result.report.unexplained} unexplained difference(s)")


def summary(result: drift.Drift, *, every_candle: bool = False) -> str:
    spec, report = result.spec, result.report
    parameters = ", ".join(f"{name}={value}" for name, value in spec.strategy.params.items())
    lines = [
        f"{spec.strategy.name} on {spec.asset} {spec.timeframe} ({result.run.source}) from "
        f"{spec.start.isoformat()} to {spec.end.isoformat()}",
        f"backtest: every signal, {parameters}, fee {spec.fee_percent}% a side"
        + ("" if result.enabled else " (the strategy is disabled now)"),
        f"live signals: {result.live_signals}, candles analysed live: "
        f"{result.analysed_candles}",
    ]
    counts = report.counts()
    width = max(len(cause) for cause in counts)
    lines += [f"  {cause:<{width}}  {count:>6}" for cause, count in counts.items()]
    shown = [c for c in report.comparisons if every_candle or c.cause != IDENTICAL]
    if shown:
        lines.append("")
    for comparison in shown:
        detail = f"  {comparison.detail}" if comparison.detail else ""
        lines.append(f"{comparison.candle_time.isoformat()}  {comparison.cause:<{width}}{detail}")
    return "\n".join(lines)
