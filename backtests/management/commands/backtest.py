"""manage.py backtest --strategy mean_reversion --asset BTCUSDT --timeframe 1h [--from --to]"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

import collectors
from backtests import services
from strategies.backtest import EVERY_SIGNAL, MODES

# The command-line flag of each request field, for messages that name what to fix.
FLAGS = {"strategy": "--strategy", "asset": "--asset", "timeframe": "--timeframe",
         "start": "--from", "end": "--to", "mode": "--mode", "fee_percent": "--fee-percent",
         "parameters": "--param"}
BAD_INPUT = 2


class Command(BaseCommand):
    help = (
        "Backtest a strategy on stored candles (missing history is fetched through the asset's "
        "source first) with the live ending rules; prints the metrics, or the whole result "
        "with --json; --plot writes the equity and drawdown as a PNG. Bad input exits with 2."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", required=True)
        parser.add_argument("--asset", required=True)
        parser.add_argument("--timeframe", required=True)
        parser.add_argument("--from", dest="start", help="ISO 8601; default --to minus 90 days")
        parser.add_argument("--to", dest="end", help="ISO 8601; default now")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                            help="a strategy parameter; repeat for several")
        parser.add_argument("--mode", default=EVERY_SIGNAL, help=" or ".join(MODES))
        parser.add_argument("--fee-percent", type=float, default=None,
                            help="charged on entry and on exit; default the FEE_SCHEDULE's")
        parser.add_argument("--plot", metavar="PNG", help="write equity and drawdown here")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, **options) -> None:
        plot = Path(options["plot"]) if options["plot"] else None
        try:
            spec = services.check_spec(
                strategy=options["strategy"], asset=options["asset"],
                timeframe=options["timeframe"], start=options["start"], end=options["end"],
                parameters=services.parameters_from_text(options["strategy"], options["param"]),
                mode=options["mode"], fee_percent=options["fee_percent"])
            if plot is not None and not plot.parent.is_dir():
                raise services.BacktestInputError("plot", f"no directory {plot.parent}")
            with tqdm(unit=" candles", desc=f"{spec.asset} {spec.timeframe}",
                      disable=options["no_progress"], file=self.stderr) as bar:

                def advance(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done)

                run = services.run_on_stored_candles(spec, progress=advance)
        except services.BacktestInputError as exc:
            raise CommandError(_message(exc), returncode=BAD_INPUT) from None
        except (services.NoCandlesError, collectors.MarketDataError) as exc:
            raise CommandError(str(exc)) from None

        if plot is not None:
            write_plot(run, plot)
        if options["json"]:
            self.stdout.write(json.dumps(services.run_to_dict(run), indent=2))
        else:
            self.stdout.write(summary(run))
        if plot is not None and not options["json"]:
            self.stdout.write(f"equity and drawdown written to {plot}")


def _message(error: services.BacktestInputError) -> str:
    flag, _, parameter = error.field.partition(".")
    named = FLAGS.get(flag, f"--{flag}") + (f" {parameter}" if parameter else "")
    return f"{named}: {error.reason}"


def summary(run: services.BacktestRun) -> str:
    spec, result = run.spec, run.result
    lines = [
        f"{spec.strategy.name} on {spec.asset} {spec.timeframe} ({run.source}), "
        f"{spec.mode}, fee {spec.fee_percent}% per side",
        f"candles: {run.candles:,} from {run.first_candle.isoformat()} to "
        f"{run.last_candle.isoformat()}, {len(run.gaps)} gap(s)",
        f"signals: {result.signals:,}, trades: {len(result.trades):,}, "
        f"still open at the end: {len(result.open_trades):,}",
    ]
    width = max(len(name) for name in result.statistics)
    for name, value in result.statistics.items():
        shown = "-" if value is None else f"{value:,.4f}" if isinstance(value, float) else value
        lines.append(f"  {name:<{width}}  {shown:>14}")
    return "\n".join(lines)


def write_plot(run: services.BacktestRun, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot

    equity = run.result.equity
    figure, (top, bottom) = pyplot.subplots(2, 1, sharex=True, figsize=(10, 6),
                                            height_ratios=(3, 1))
    top.plot(equity.index, equity["equity"], linewidth=1)
    top.set_ylabel("equity (start = 1)")
    top.set_title(f"{run.spec.strategy.name} {run.spec.asset} {run.spec.timeframe} "
                  f"({run.spec.mode})")
    bottom.fill_between(equity.index, equity["drawdown_percent"], 0, color="tab:red",
                        alpha=0.5, linewidth=0)
    bottom.set_ylabel("drawdown %")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    pyplot.close(figure)
