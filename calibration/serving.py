"""Scoring new signals with the active model version, if any.

The fitted model is loaded once per process and version (a pickle read is milliseconds, the
score itself microseconds). A model that fails to score must not stop signals: the signal is
stored without a probability and the failure logged.
"""

from __future__ import annotations

import logging
import threading

import pandas as pd

from calibration.models import ModelStatus, ModelVersion
from strategies import SignalCandidate, calibration

log = logging.getLogger(__name__)

_loaded: dict[int, calibration.CalibratedModel] = {}
_lock = threading.Lock()


def active_model() -> tuple[int, calibration.CalibratedModel] | None:
    """(version id, model) of the active version, loaded once per process; None if none."""
    version_id = ModelVersion.objects.filter(status=ModelStatus.ACTIVE).values_list(
        "pk", flat=True).first()
    if version_id is None:
        return None
    model = _loaded.get(version_id)
    if model is None:
        with _lock:
            model = _loaded.get(version_id)
            if model is None:
                model = ModelVersion.objects.get(pk=version_id).load_model()
                _loaded.clear()  # one version serves at a time: drop the retired one
                _loaded[version_id] = model
    return version_id, model


def probability_fields(candidate: SignalCandidate, timeframe: str,
                       candles: pd.DataFrame | None) -> dict:
    """The new signal's probability and model_version_id while a version is active, from the
    candles it was found on (its bar last); {} otherwise."""
    if candles is None or not len(candles):
        return {}
    try:
        active = active_model()
        if active is None:
            return {}
        version_id, model = active
        columns = calibration.candidate_signals(candidate, timeframe,
                                                candles["close"].to_numpy())
        probability = float(model.predict_signals(columns)[0])
    except Exception:
        log.exception("scoring a %s signal failed; stored without a probability",
                      candidate.strategy)
        return {}
    return {"probability": probability, "model_version_id": version_id}
