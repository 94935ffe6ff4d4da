"""Retraining: versions stored active or rejected with the reason, the previous active one
retired, unchanged data skipped, the labelled history from the stored candles of the
watchlist, the command, the weekly schedule and the admin's reliability diagram."""

import io

import pytest
from django.conf import settings
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

import strategies
from calibration import services
from calibration.models import ModelStatus, ModelVersion
from market import store
from signals.models import Watchlist
from strategies import calibration
from strategies.warmup import synthetic_candles
from tests.calibration.synthetic import synthetic_signals

pytestmark = pytest.mark.django_db


def test_a_learnable_history_gives_an_active_version_with_its_held_out_record(active_version):
    version = ModelVersion.objects.get(pk=active_version.pk)
    assert version.reason.startswith("activated") and version.activated_at
    assert version.held_out_ece < 0.05
    assert version.model_name.startswith("logistic_regression")
    assert {"model", "base_rate", "heuristic", "selection", "bootstrap"} <= set(version.metrics)
    assert len(version.reliability) == 10
    assert version.counts["held_out"] == sum(row["count"] for row in version.reliability)
    assert version.training_start < version.training_end < version.held_out_start
    assert "trend_with_side" in version.features and len(version.data_hash) == 64
    assert version.load_model() is not None


def test_a_new_active_version_retires_the_previous_one(active_version):
    newer = services.retrain(signals=synthetic_signals(6_000, learnable=True, seed=31))
    active_version.refresh_from_db()
    assert newer.version.status == ModelStatus.ACTIVE
    assert active_version.status == ModelStatus.RETIRED and active_version.retired_at
    assert ModelVersion.objects.filter(status=ModelStatus.ACTIVE).count() == 1


def test_a_version_activated_behind_another_retrains_lock_is_retired_all_the_same(
        active_version, monkeypatch):
    # This retrain locked the active rows before the other's version committed: it saw none,
    # and its insert breaks the one-active rule; it goes again, seeing and retiring that one.
    lock, locks = ModelVersion.objects.select_for_update, []

    def lock_taken_too_early(*args, **kwargs):
        locks.append(1)
        return lock(*args, **kwargs).none() if len(locks) == 1 else lock(*args, **kwargs)

    monkeypatch.setattr(ModelVersion.objects, "select_for_update", lock_taken_too_early)
    newer = services.retrain(signals=synthetic_signals(6_000, learnable=True, seed=31))
    active_version.refresh_from_db()
    assert len(locks) == 2
    assert newer.version.status == ModelStatus.ACTIVE
    assert active_version.status == ModelStatus.RETIRED
    assert ModelVersion.objects.filter(status=ModelStatus.ACTIVE).count() == 1


def test_noise_is_stored_rejected_and_nothing_changes_for_users(active_version, noise_signals):
    outcome = services.retrain(signals=noise_signals)
    assert outcome.version.status == ModelStatus.REJECTED
    assert "does not beat the base rate" in outcome.version.reason
    active_version.refresh_from_db()
    assert active_version.status == ModelStatus.ACTIVE  # the earned version still serves


def test_a_retrain_on_unchanged_data_is_skipped_unless_forced(active_version, learnable_signals):
    skipped = services.retrain(signals=learnable_signals)
    assert skipped.skipped and skipped.version == active_version
    assert "unchanged" in skipped.message
    assert ModelVersion.objects.count() == 1
    forced = services.retrain(signals=learnable_signals, force=True)
    assert not forced.skipped and ModelVersion.objects.count() == 2


def test_too_little_history_is_a_rejected_version_with_the_reason():
    outcome = services.retrain()  # no stored candles at all
    assert outcome.version.status == ModelStatus.REJECTED
    assert outcome.version.reason.startswith("too few labelled signals: 0")
    assert outcome.version.load_model() is None


def random_walk_candles(bars: int, seed: int):
    return synthetic_candles(bars, seed, freq="1h", start="2024-10-04")


def test_the_labelled_history_backtests_the_watchlist_series_from_the_store():
    frame = random_walk_candles(1_500, seed=3)
    store.insert_candles(frame, source="demo", asset="BTCUSDT", timeframe="1h", provider="demo")
    Watchlist.objects.create(asset="BTCUSDT", timeframe="1h")
    history = services.labelled_history()
    stored = store.stored_candles("demo", "BTCUSDT", "1h")
    expected = calibration.combine([
        calibration.labelled_signals(cls(), stored, asset="BTCUSDT", timeframe="1h",
                                     timeframe_seconds=3600, fee_percent=0.1)
        for cls in strategies.available().values()])
    assert len(history) > 50
    assert calibration.data_hash(history) == calibration.data_hash(expected)


def test_the_command_prints_the_decision_then_skips_unchanged_data(monkeypatch,
                                                                    learnable_signals):
    monkeypatch.setattr(services, "labelled_history", lambda progress=None: learnable_signals)
    out = io.StringIO()
    call_command("retrain", "--no-progress", stdout=out, stderr=io.StringIO())
    version = ModelVersion.objects.get()
    assert f"version {version.pk}: active" in out.getvalue()
    assert "activated: held-out Brier" in out.getvalue() and "held_out" in out.getvalue()
    again = io.StringIO()
    call_command("retrain", stdout=again, stderr=io.StringIO())
    assert "skipped" in again.getvalue() and ModelVersion.objects.count() == 1


def test_the_command_draws_a_progress_bar(monkeypatch, learnable_signals):
    monkeypatch.setattr(services, "labelled_history", lambda progress=None: learnable_signals)
    err = io.StringIO()
    call_command("retrain", stdout=io.StringIO(), stderr=err)
    assert "calibrating" in err.getvalue() and "steps" in err.getvalue()


def test_a_weekly_retrain_is_scheduled_on_the_models_queue():
    task = PeriodicTask.objects.get(task="calibration.tasks.retrain_model")
    assert task.enabled and task.crontab.day_of_week == "0" and task.crontab.hour == "3"
    from botsinais.celery import app

    queue = app.amqp.router.route({}, "calibration.tasks.retrain_model")["queue"].name
    assert queue == settings.TASK_QUEUE_NAMES["models"]


def test_the_admin_draws_the_reliability_diagram(active_version, staff_user, client):
    client.force_login(staff_user)
    page = client.get(f"/admin/calibration/modelversion/{active_version.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'alt="reliability diagram" src="data:image/png;base64,' in html
    assert "activated: held-out Brier" in html
    listing = client.get("/admin/calibration/modelversion/")
    assert listing.status_code == 200 and "active" in listing.content.decode()
