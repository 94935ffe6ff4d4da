"""manage.py backtest --strategy mean_reversion --asset BTCUSDT --timeframe 1h [--from --to]

With --grid NAME=VALUES (repeat; `10:50:5` or `1.5,2,2.5`) it backtests every set of the grid
in this process, on every asset in every timeframe (`--asset BTCUSDT,ETHUSDT --timeframe 1h,4h`,
or repeated), and prints the ranking (--plot: a heatmap of two varied parameters); with
--walk-forward as well it runs a walk-forward test of that grid (one asset and timeframe)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

import collectors
from backtests import research, services
from backtests.charts import heatmap_png
from backtests.models import json_safe
from strategies import grid as grids
from strategies.backtest import EVERY_SIGNAL, MODES
from strategies.base import ParameterError

# The command-line flag of each request field, for messages that name what to fix.
FLAGS = {"strategy": "--strategy", "asset": "--asset", "timeframe": "--timeframe",
         "assets": "--asset", "timeframes": "--timeframe",
         "start": "--from", "end": "--to", "mode": "--mode", "fee_percent": "--fee-percent",
         "parameters": "--param", "grid": "--grid", "metric": "--metric",
         "minimum_trades": "--min-trades", "train_bars": "--train-bars",
         "test_bars": "--test-bars", "embargo_bars": "--embargo-bars"}
BAD_INPUT = 2


class Command(BaseCommand):
    help = (
        "Backtest a strategy on stored candles (missing history is fetched through the asset's "
        "source first) with the live ending rules; prints the metrics, or the whole result "
        "with --json; --plot writes the equity and drawdown as a PNG. Bad input exits with 2."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", required=True)
        parser.add_argument("--asset", required=True, action="append",
                            help="with --grid: several as A,B or repeated")
        parser.add_argument("--timeframe", required=True, action="append",
                            help="with --grid: several as 1h,4h or repeated")
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
        research_options = parser.add_argument_group("parameter grids and walk-forward tests")
        research_options.add_argument(
            "--grid", action="append", default=[], metavar="NAME=VALUES",
            help="values of a parameter: start:stop:step (stop included) or a,b,c; repeat")
        research_options.add_argument("--metric", default=grids.DEFAULT_METRIC,
                                      help="rank sets by this statistic")
        research_options.add_argument("--min-trades", type=int,
                                      default=grids.DEFAULT_MINIMUM_TRADES,
                                      help="sets with fewer trades are not ranked")
        research_options.add_argument("--top", type=int, default=10, help="sets shown")
        research_options.add_argument("--heatmap", metavar="X,Y",
                                      help="the two parameters of --plot; default the first two")
        research_options.add_argument("--walk-forward", action="store_true",
                                      help="choose on each training window, trade the next")
        research_options.add_argument("--train-bars", type=int)
        research_options.add_argument("--test-bars", type=int)
        research_options.add_argument("--embargo-bars", type=int,
                                      help="default: the grid's largest expiry_bars")
        research_options.add_argument("--anchored", action="store_true",
                                      help="training windows all start at the first bar")

    def handle(self, *args, **options) -> None:
        if options["grid"]:
            try:
                self.research(options)
            except services.BacktestInputError as exc:
                raise CommandError(_message(exc), returncode=BAD_INPUT) from None
            except (services.NoCandlesError, collectors.MarketDataError, ValueError) as exc:
                raise CommandError(str(exc)) from None
            return
        if options["walk_forward"]:
            raise CommandError("--walk-forward: needs a --grid to choose from",
                               returncode=BAD_INPUT)
        plot = Path(options["plot"]) if options["plot"] else None
        try:
            for flag in ("asset", "timeframe"):
                if len(options[flag]) > 1 or "," in options[flag][0]:
                    raise services.BacktestInputError(flag, "one for a single backtest; several "
                                                            "need --grid")
            spec = services.check_spec(
                strategy=options["strategy"], asset=options["asset"][0],
                timeframe=options["timeframe"][0], start=options["start"], end=options["end"],
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


    def research(self, options) -> None:
        """A grid (ranking, heatmap) or a walk-forward test of it, in this process."""
        fields = {
            "strategy": options["strategy"], "assets": ",".join(options["asset"]),
            "timeframes": ",".join(options["timeframe"]), "start": options["start"],
            "end": options["end"],
            "parameters": services.parameters_from_text(options["strategy"], options["param"]),
            "mode": options["mode"], "fee_percent": options["fee_percent"],
            "grid": research.grid_from_text(options["grid"]), "metric": options["metric"],
            "minimum_trades": options["min_trades"]}
        plot = Path(options["plot"]) if options["plot"] else None
        if plot is not None and not plot.parent.is_dir():
            raise services.BacktestInputError("plot", f"no directory {plot.parent}")
        if options["walk_forward"]:
            for name in ("train_bars", "test_bars"):
                if options[name] is None:
                    raise services.BacktestInputError(name, "needed with --walk-forward")
            spec = research.check_walk_forward(
                train_bars=options["train_bars"], test_bars=options["test_bars"],
                embargo_bars=options["embargo_bars"], anchored=options["anchored"], **fields)
            candles, source = self.candles(spec.research.backtest)
            with tqdm(unit=" windows", desc="walk-forward", disable=options["no_progress"],
                      file=self.stderr) as bar:

                def advance(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                report = research.walk(spec.research, spec.windows, candles, advance)
            self.stdout.write(walk_forward_summary(spec, report, source, len(candles)))
            return
        spec = research.check_grid(**fields)
        sets = spec.grid.parameter_sets
        rows, source, candle_count = [], "", 0
        with tqdm(total=len(sets) * len(spec.series), unit=" backtests", desc="grid",
                  disable=options["no_progress"], file=self.stderr) as bar:
            for series in spec.series:
                candles, source = self.candles(series)
                candle_count += len(candles)
                results = grids.evaluate_grid(
                    type(series.strategy), sets, candles, varied=spec.grid.varied,
                    fee_percent=series.fee_percent, mode=series.mode,
                    timeframe_seconds=collectors.timeframe_seconds(series.timeframe),
                    after_each=lambda _: bar.update(1))
                rows.extend({"set": place, "asset": series.asset, "timeframe": series.timeframe,
                             **result.to_dict()} for place, result in enumerate(results))
        ranked = grids.rank(rows, spec.metric, spec.minimum_trades)
        if options["json"]:
            place = {id(row): index for index, row in enumerate(rows)}
            self.stdout.write(json.dumps(json_safe({"results": rows,
                                                    "ranking": [place[id(row)]
                                                                for row in ranked]}),
                                         indent=2))
        else:
            self.stdout.write(grid_summary(spec, rows, ranked, source, candle_count,
                                           options["top"]))
        if plot is not None:
            varied = spec.grid.varied
            x, _, y = (options["heatmap"] or ",".join(varied[:2])).partition(",")
            try:
                xs, ys, matrix = grids.heatmap(rows, x, y or x, spec.metric, spec.minimum_trades)
            except ParameterError as exc:
                raise services.BacktestInputError("heatmap", exc.reason) from None
            title = (f"{spec.backtest.strategy.name} {','.join(spec.assets)} "
                     f"{','.join(spec.timeframes)}")
            plot.write_bytes(heatmap_png(xs, ys, matrix, x, y or x, spec.metric, title))
            if not options["json"]:
                self.stdout.write(f"heatmap of {spec.metric} written to {plot}")

    def candles(self, spec: services.BacktestSpec):
        source, _, _ = research.prepare_candles(spec)
        return research.stored_period(source, spec.asset, spec.timeframe, spec.start,
                                      spec.end), source


def grid_summary(spec, rows, ranked, source: str, candles: int, top: int) -> str:
    backtest = spec.backtest
    sets, series = len(spec.grid.parameter_sets), len(spec.series)
    lines = [f"{backtest.strategy.name} on {','.join(spec.assets)} "
             f"{','.join(spec.timeframes)} ({source}), {backtest.mode}, {candles:,} candles: "
             f"{sets} sets x {series} series = {len(rows)} backtests"
             + (f" ({spec.grid.refused} refused by the strategy's rules)"
                if spec.grid.refused else ""),
             f"ranked by {spec.metric}, at least {spec.minimum_trades} trades: "
             f"{len(ranked)} qualify"]
    varied = spec.grid.varied
    header = "  ".join([f"{'#':>4}", f"{'asset':<10}", f"{'tf':<4}",
                        *(f"{name:>14}" for name in varied), f"{'trades':>8}",
                        f"{spec.metric:>16}"])
    lines.append(header)
    for place, row in enumerate(ranked[:top], start=1):
        value = row["statistics"][spec.metric]
        lines.append("  ".join([f"{place:>4}", f"{row['asset']:<10}", f"{row['timeframe']:<4}",
                                *(f"{row['parameters'][name]!s:>14}" for name in varied),
                                f"{row['statistics']['trades']:>8,}", f"{value:>16.4f}"]))
    return "\n".join(lines)


def walk_forward_summary(spec, report, source: str, candles: int) -> str:
    backtest, metric = spec.research.backtest, spec.research.metric
    plan = spec.windows
    lines = [f"walk-forward of {backtest.strategy.name} on {backtest.asset} {backtest.timeframe} "
             f"({source}), {candles:,} candles, {'anchored' if plan.anchored else 'rolling'}: "
             f"train {plan.train_bars}, embargo {plan.embargo_bars}, test {plan.test_bars} bars",
             f"{'window':>6}  {'test from':<25}  {'in-sample':>10}  {'out-of-sample':>13}  "
             f"parameters"]
    for result in report.windows:
        shown = [("-" if figures is None or figures.get(metric) is None
                  else f"{figures[metric]:.4f}")
                 for figures in (result.in_sample, result.out_of_sample)]
        lines.append(f"{result.window.number:>6}  {result.times['test_from'].isoformat():<25}  "
                     f"{shown[0]:>10}  {shown[1]:>13}  {result.parameters or 'none chosen'}")
    for name, figures in (("in-sample (chosen sets)", report.in_sample),
                          ("out-of-sample (stitched)", report.out_of_sample)):
        value = figures.get(metric)
        lines.append(f"{name}: {figures['trades']:,} trades, {metric} "
                     f"{'-' if value is None else f'{value:.4f}'}")
    return "\n".join(lines)


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
