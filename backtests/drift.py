"""The live-versus-backtest drift report: the live record of a strategy on an asset and
timeframe over a period, against the backtest of the same candles (strategies/drift.py).

The backtest is backtests.services' own run on stored candles, in every_signal mode (the live
platform takes every signal, one per candle), with the strategy's configuration as it is now
(StrategyConfig, else its defaults) and the fee schedule. It starts the live analyses' warm-up
before the period, so the first candles are evaluated on as much history as live had, and runs
up to expiry_bars after it (never past now), so a signal of the period can end as it did live.
The live record is the period's signals of the running data source and what each completed
analysis recorded it evaluated (AnalysisRequest.candle_time and the rest; analyses are pruned
after ANALYSIS_RETENTION_DAYS, so older candles show as missed).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pandas as pd
from django.conf import settings
from django.utils.translation import gettext as _

import collectors
from backtests import services
from backtests.services import BacktestInputError, BacktestRun, BacktestSpec
from collectors.timeframes import utc_now
from market import store
from signals.models import AnalysisRequest, AnalysisStatus, Signal, SignalStatus, StrategyConfig
from strategies import drift
from strategies.backtest import EVERY_SIGNAL
from strategies.base import as_utc

# The request's names for check_spec's fields: the API's query and the command's options.
FIELD_NAMES = {"start": "from", "end": "to"}
# A report is computed while the request waits: periods longer than this many bars are refused.
MAX_PERIOD_BARS = 100_000


@dataclass(frozen=True)
class Drift:
    spec: BacktestSpec  # the period asked for, with the strategy as configured now
    enabled: bool  # whether the configuration runs the strategy now
    run: BacktestRun  # the backtest over the period, its warm-up and its endings
    report: drift.DriftReport
    live_signals: int
    analysed_candles: int


def check_request(*, strategy: Any, asset: Any, timeframe: Any, start: Any, end: Any = None,
                  now: datetime | None = None) -> tuple[BacktestSpec, bool]:
    """The request checked, with the strategy built from its configuration now, and whether
    that configuration enables it; BacktestInputError names the field (from, to, ...)."""
    for field, value in (("strategy", strategy), ("asset", asset), ("timeframe", timeframe),
                         ("from", start)):
        if value in (None, ""):
            raise BacktestInputError(field, _("required"))
    asset = str(asset).strip().upper()
    config = (StrategyConfig.most_specific(asset, str(timeframe)).get(str(strategy))
              if isinstance(strategy, str) else None)
    try:
        spec = services.check_spec(
            strategy=strategy, asset=asset, timeframe=timeframe, start=start, end=end or None,
            parameters=config.parameters if config else None, mode=EVERY_SIGNAL, now=now)
    except BacktestInputError as exc:
        raise BacktestInputError(FIELD_NAMES.get(exc.field, exc.field), exc.reason) from None
    bars = (spec.end - spec.start).total_seconds() / collectors.timeframe_seconds(spec.timeframe)
    if bars > MAX_PERIOD_BARS:
        raise BacktestInputError("to", _(
            "the period holds about %(bars)s %(timeframe)s bars; a drift report covers at "
            "most %(maximum)s") % {"bars": f"{bars:,.0f}", "timeframe": spec.timeframe,
                                   "maximum": f"{MAX_PERIOD_BARS:,}"})
    return spec, config is None or config.enabled


def drift_report(*, strategy: Any, asset: Any, timeframe: Any, start: Any, end: Any = None,
                 now: datetime | None = None) -> Drift:
    """The report; BacktestInputError for a bad request, services.NoCandlesError when nothing
    is stored for the period, collectors.MarketDataError when the source fails."""
    spec, enabled = check_request(strategy=strategy, asset=asset, timeframe=timeframe,
                                  start=start, end=end, now=now)
    span = backtest_span(spec, now)
    run = services.run_on_stored_candles(span)
    live = live_signals(spec, run.source)
    analysed, reads = live_analyses(spec, span)
    report = drift.compare(
        live,
        drift.backtest_signals(run.result),
        parameters=spec.strategy.params,
        analysed=analysed,
        revised=CandleRevisions(spec, run.source, reads, {s.candle_time: s for s in live}),
        start=spec.start,
        end=spec.end,
    )
    return Drift(spec=spec, enabled=enabled, run=run, report=report, live_signals=len(live),
                 analysed_candles=len(analysed))


def backtest_span(spec: BacktestSpec, now: datetime | None = None) -> BacktestSpec:
    """The period widened by the live warm-up before it and the signals' lifetime after it."""
    bar = pd.Timedelta(seconds=collectors.timeframe_seconds(spec.timeframe))
    warm_up = min(spec.strategy.latest_window, settings.ANALYSIS_CANDLES)
    last_ending = spec.end + (spec.strategy.expiry_bars + 1) * bar
    return replace(spec, start=spec.start - warm_up * bar,
                   end=min(last_ending, as_utc(now or utc_now())))


def live_signals(spec: BacktestSpec, source: str) -> list[drift.DriftSignal]:
    rows = Signal.objects.filter(
        source=source, strategy=spec.strategy.name, asset=spec.asset, timeframe=spec.timeframe,
        candle_time__gte=spec.start, candle_time__lt=spec.end,
    ).order_by("candle_time")
    return [
        drift.DriftSignal(
            candle_time=as_utc(signal.candle_time), direction=signal.direction,
            entry=signal.entry_price, stop_loss=signal.stop_loss,
            take_profit=signal.take_profit,
            status=drift.OPEN if signal.status == SignalStatus.ACTIVE else signal.status,
            result=signal.result, close_price=signal.close_price,
            closed_at=None if signal.closed_at is None else as_utc(signal.closed_at),
            pnl_percent=signal.pnl, fee_percent=signal.fee_percent,
            parameters=signal.parameters,
        )
        for signal in rows
    ]


def live_analyses(spec: BacktestSpec, span: BacktestSpec) -> tuple[dict, dict]:
    """(candle of the period -> the parameters of each completed analysis that ran the strategy
    on it, None where the strategy was disabled; candle of the span -> the (count, digest) of
    the candles each analysis of it read)."""
    rows = AnalysisRequest.objects.filter(
        asset=spec.asset, timeframe=spec.timeframe, status=AnalysisStatus.COMPLETED,
        candle_time__gte=span.start, candle_time__lt=span.end,
    ).values_list("candle_time", "strategies", "strategy_parameters", "candles_read",
                  "candles_digest")
    analysed: dict[pd.Timestamp, list] = defaultdict(list)
    reads: dict[pd.Timestamp, set] = defaultdict(set)
    name = spec.strategy.name
    for candle_time, only, parameters, candles_read, digest in rows:
        candle = as_utc(candle_time)
        reads[candle].add((candles_read, digest))
        in_period = spec.start <= candle < spec.end
        if in_period and (not only or name in only):  # a watchlist entry may leave it out
            analysed[candle].append(parameters.get(name))
    return dict(analysed), dict(reads)


@dataclass
class CandleRevisions:
    """revised(first, last) for drift.compare: re-reads, only where signals differ, the candles
    each live analysis of a candle from first to last read (newest first), and compares their
    digest with the recorded one."""

    spec: BacktestSpec
    source: str
    reads: dict[pd.Timestamp, set]
    live: dict[pd.Timestamp, drift.DriftSignal]

    def __call__(self, first: pd.Timestamp, last: pd.Timestamp) -> str:
        analysed = sorted((candle for candle in self.reads if first <= candle <= last),
                          reverse=True)
        for candle in analysed:
            for candles_read, digest in sorted(self.reads[candle]):
                now = store.stored_candles(self.source, self.spec.asset, self.spec.timeframe,
                                           end=candle, limit=candles_read)
                if drift.candles_digest(now) != digest:
                    return (f"the {candles_read} candles the live analysis of "
                            f"{candle.isoformat()} read have changed since")
        candle = first
        if analysed or candle not in self.live:
            return ""
        # A signal without a recorded read (older than the record): its entry was the close.
        stored = store.stored_candles(self.source, self.spec.asset, self.spec.timeframe,
                                      start=candle, end=candle)
        entry = self.live[candle].entry
        if stored.empty:
            return "the candle is no longer stored"
        close = float(stored["close"].iloc[0])
        if not drift.agree(close, entry):
            return f"the candle's close is {close!r} now, the live entry was {entry!r}"
        return ""


def drift_to_dict(result: Drift) -> dict[str, Any]:
    """The report as JSON-ready data (the API's answer, the command's --json)."""
    spec, run, report = result.spec, result.run, result.report
    return {
        "strategy": spec.strategy.name,
        "parameters": spec.strategy.params,
        "enabled": result.enabled,
        "asset": spec.asset,
        "timeframe": spec.timeframe,
        "from": spec.start.isoformat(),
        "to": spec.end.isoformat(),
        "source": run.source,
        "fee_percent": spec.fee_percent,
        "tolerance": drift.TOLERANCE,
        "candles": run.candles,
        "first_candle": run.first_candle.isoformat(),
        "last_candle": run.last_candle.isoformat(),
        "live_signals": result.live_signals,
        "analysed_candles": result.analysed_candles,
        "counts": report.counts(),
        "unexplained": report.unexplained,
        "comparisons": [
            {
                "candle_time": comparison.candle_time.isoformat(),
                "cause": comparison.cause,
                "detail": comparison.detail,
                "live": comparison.live.to_dict() if comparison.live else None,
                "backtest": comparison.backtest.to_dict() if comparison.backtest else None,
            }
            for comparison in report.comparisons
        ],
    }
