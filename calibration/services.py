"""Retraining: the labelled history from stored candles, training, the stored version.

Data flows one way: API, command or beat -> request_retrain / retrain -> strategies.calibration
-> ModelVersion. A version is activated only when strategies.calibration.decide() says it
earned it; activating retires the one before, in one transaction.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import collectors
from calibration.models import ModelStatus, ModelVersion
from market import store
from market.models import Candle, running_data_source
from signals import lifecycle, retries
from signals.models import Watchlist
from signals.services import enabled_strategies
from strategies import calibration

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


class RetrainNotQueued(Exception):  # noqa: N818 (a state the API reports as 503)
    """The broker did not take the retrain message."""


@dataclass(frozen=True)
class RetrainOutcome:
    version: ModelVersion | None  # the new version; the existing one when skipped
    skipped: bool
    message: str


def training_series() -> list[tuple[str, str]]:
    """(asset, timeframe) pairs to learn from: the enabled watchlist's, else every stored
    series of the running data source."""
    pairs = list(Watchlist.objects.filter(enabled=True).values_list("asset", "timeframe"))
    if pairs:
        return sorted(pairs)
    stored = Candle.objects.filter(source=running_data_source()).values_list(
        "asset", "timeframe").distinct()
    return sorted(set(stored))


def labelled_history(progress: Progress | None = None) -> pd.DataFrame:
    """Every ended signal of an every_signal backtest over the stored history of each series,
    with the strategies (and configs) the live analyses run there."""
    source = running_data_source()
    series = training_series()
    tables = []
    for done, (asset, timeframe) in enumerate(series, start=1):
        candles = store.stored_candles(source, asset, timeframe)
        if len(candles) >= calibration.REGIME_BARS:
            seconds = collectors.timeframe_seconds(timeframe)
            fee = lifecycle.fee_percent(asset)
            for strategy in enabled_strategies(asset, timeframe):
                tables.append(calibration.labelled_signals(
                    strategy, candles, asset=asset, timeframe=timeframe,
                    timeframe_seconds=seconds, fee_percent=fee))
        if progress is not None:
            progress(done, len(series), f"backtesting {asset} {timeframe}")
    return calibration.combine(tables)


def retrain(*, user=None, force: bool = False, progress: Progress | None = None,
            signals: pd.DataFrame | None = None) -> RetrainOutcome:
    """Train on the labelled history (or the given signals) and store the version; skipped
    when a version was already trained on exactly this data, unless force."""
    if signals is None:
        signals = labelled_history(progress)
    digest = calibration.data_hash(signals)
    existing = ModelVersion.objects.filter(data_hash=digest).first()
    if existing is not None and not force:
        return RetrainOutcome(existing, True, f"skipped: the data is unchanged since version "
                                              f"{existing.pk} ({existing.status})")
    result = calibration.train(signals, progress=progress)
    version = store_version(result, user=user)
    log.info("model version %s: %s", version.pk, version.reason)
    return RetrainOutcome(version, False, version.reason)


def store_version(result: calibration.TrainingResult, *, user=None) -> ModelVersion:
    """The trained version, active (retiring the one before) or rejected."""
    try:
        return _store_version(result, user)
    except IntegrityError:
        # Another retrain activated its version between our lock and our insert (the lock
        # holds only rows active when taken): now we see it, retire it, and go again.
        return _store_version(result, user)


def _store_version(result: calibration.TrainingResult, user) -> ModelVersion:
    now = timezone.now()
    windows = {name: moment.to_pydatetime() if moment is not None else None
               for name, moment in result.windows.items()}
    with transaction.atomic():
        if result.activate:
            # Locked: two retrains activating at once must not both pass the one-active rule.
            current = list(ModelVersion.objects.select_for_update().filter(
                status=ModelStatus.ACTIVE))
            ModelVersion.objects.filter(pk__in=[v.pk for v in current]).update(
                status=ModelStatus.RETIRED, retired_at=now)
        return ModelVersion.objects.create(
            status=ModelStatus.ACTIVE if result.activate else ModelStatus.REJECTED,
            reason=result.reason,
            requested_by=user,
            model_name=result.model_name,
            calibration_method=result.calibration_method,
            training_start=windows["training_start"],
            training_end=windows["training_end"],
            held_out_start=windows["held_out_start"],
            held_out_end=windows["held_out_end"],
            counts=result.counts,
            features=result.features,
            data_hash=result.data_hash,
            metrics=result.metrics,
            model_blob=pickle.dumps(result.model) if result.model is not None else None,
            activated_at=now if result.activate else None,
        )


def request_retrain(*, user=None, force: bool = False) -> None:
    """Publish a retrain on the models queue (embedded: run after the response); raises
    RetrainNotQueued when the broker does not take it."""
    from botsinais import embedded
    from calibration import tasks

    user_id = user.pk if user is not None else None
    if embedded.runs_tasks_after_response():
        embedded.run_later(tasks.retrain_model, user_id, force)
        return
    timeout = settings.BROKER_PUBLISH_TIMEOUT
    try:
        tasks.retrain_model.apply_async((user_id, force), timeout=timeout,
                                        confirm_timeout=timeout, time_limit=None,
                                        soft_time_limit=None)
    except retries.BROKER_ERRORS as exc:
        log.warning("retrain not published (%s: %s)", type(exc).__name__, exc)
        raise RetrainNotQueued(_("the task queue did not take it (%(error)s); try again")
                               % {"error": type(exc).__name__}) from exc
