"""Serving: while a version is active each new signal stores its probability and version and
keeps the strategy's strength; without one the API and the pages show the strength as a
strength, never as a probability."""

import pytest

from calibration import serving
from calibration.models import ModelVersion
from signals import services
from signals.models import Signal
from strategies import calibration
from tests.calibration.conftest import candidate, candles

pytestmark = pytest.mark.django_db


def stored(found, analysis, frame) -> Signal:
    """The one new signal store_signals made of a candidate."""
    (signal,) = services.store_signals([found], analysis, frame)
    return signal


def test_an_active_version_scores_each_new_signal(active_version, analysis):
    frame = candles()
    found = candidate(frame)
    signal = stored(found, analysis, frame)
    signal.refresh_from_db()
    model = active_version.load_model()
    expected = model.predict_signals(
        calibration.candidate_signals(found, "1h", frame["close"].to_numpy()))[0]
    assert signal.model_version == active_version
    assert signal.probability == pytest.approx(expected)
    assert 0 < signal.probability < 1
    assert signal.confidence == 0.8  # the heuristic is kept


def test_the_model_follows_the_trend_it_learnt(active_version, analysis):
    frame = candles()  # a climbing market: a long goes with it, a short against it
    long_signal = stored(candidate(frame, "long"), analysis, frame)
    other = candles().iloc[:-1]
    short_signal = stored(candidate(other, "short"), analysis, other)
    assert long_signal.probability > short_signal.probability


def test_without_an_active_version_signals_keep_only_their_strength(analysis, noise_signals,
                                                                  api_client):
    from calibration import services as calibration_services

    rejected = calibration_services.retrain(signals=noise_signals).version
    assert rejected.status == "rejected"
    frame = candles()
    signal = stored(candidate(frame), analysis, frame)
    assert signal.probability is None and signal.model_version is None
    data = api_client.get(f"/api/signals/{signal.pk}/").json()
    assert data["strength"] == data["confidence"] == 0.8
    assert data["probability"] is None and data["model_version"] is None


def test_a_model_that_fails_to_score_leaves_the_signal_without_a_probability(
        active_version, analysis, monkeypatch, caplog):
    monkeypatch.setattr(calibration, "candidate_signals", lambda *args: 1 / 0)
    frame = candles()
    signal = stored(candidate(frame), analysis, frame)
    assert signal.probability is None and Signal.objects.filter(pk=signal.pk).exists()
    assert "scoring a trend_following signal failed" in caplog.text


def test_the_loaded_model_is_cached_per_process_and_version(active_version, monkeypatch):
    serving._loaded.clear()
    loads = []
    original = ModelVersion.load_model
    monkeypatch.setattr(ModelVersion, "load_model",
                        lambda self: loads.append(self.pk) or original(self))
    for _ in range(3):
        version_id, _model = serving.active_model()
    assert version_id == active_version.pk and loads == [active_version.pk]


def test_the_api_shows_probability_version_and_strength(active_version, analysis, api_client):
    frame = candles()
    signal = stored(candidate(frame), analysis, frame)
    data = api_client.get(f"/api/signals/{signal.pk}/").json()
    assert data["probability"] == pytest.approx(signal.probability)
    assert data["model_version"] == active_version.pk
    assert data["strength"] == 0.8
    ordered = api_client.get("/api/signals/?ordering=-probability").json()["results"]
    assert ordered[0]["id"] == str(signal.pk)


def test_the_detail_page_shows_the_probability_with_its_held_out_calibration(
        active_version, analysis, client, user):
    frame = candles()
    signal = stored(candidate(frame), analysis, frame)
    client.force_login(user)
    html = client.get(f"/signals/{signal.pk}/").content.decode()
    assert f'<strong id="probability">{round(100 * signal.probability)}%</strong>' in html
    assert f"from model version {active_version.pk}" in html
    assert 'id="held-out-reliability"' in html
    assert f"{active_version.held_out_ece:.3f}" in html


def test_the_detail_page_explains_the_strength_when_there_is_no_probability(analysis, client,
                                                                          user):
    frame = candles()
    signal = stored(candidate(frame), analysis, frame)
    client.force_login(user)
    html = client.get(f"/signals/{signal.pk}/").content.decode()
    assert 'id="strength">0.80<' in html
    assert "It is not a probability" in html and "no calibrated model was active" in html
    assert "Probability of reaching the target" not in html and ">80%<" not in html
