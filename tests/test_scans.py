"""Scheduled work: the beat schedules, the watchlist scan and its API, pruning, the heartbeat."""

from datetime import timedelta

import pytest
from celery.utils.imports import symbol_by_name
from django.db import transaction
from django.utils import timezone

from botsinais.celery import app
from signals import health, scans, tasks
from signals.api import serializers
from signals.models import AnalysisRequest, Heartbeat, Signal, Watchlist
from tests.conftest import lose_the_race, wait_until
from tests.fake_binance import INTERVAL_MS, oversold_candles

# name: (task, interval seconds, expire_seconds)
SCHEDULES = {
    "scan watchlist": ("signals.tasks.scan_watchlist", 300, 280),
    "evaluate open signals": ("signals.tasks.evaluate_open_signals", 60, 55),
    "prune analysis requests": ("signals.tasks.prune_analysis_requests", 86_400, 86_000),
    "worker heartbeat": ("signals.tasks.publish_heartbeat", 30, 25),
}


# ---- beat schedules ----


@pytest.mark.django_db  # not transactional: a flush would remove the migration's rows
def test_migrated_database_holds_the_default_schedules_as_beat_reads_them():
    scheduler_class = symbol_by_name(app.conf.beat_scheduler)
    assert scheduler_class.__module__ == "django_celery_beat.schedulers"
    entries = scheduler_class(app=app, lazy=True).all_as_schedule()  # the enabled ones

    for name, (task, seconds, expire_seconds) in SCHEDULES.items():
        entry = entries[name]
        assert entry.task == task and task in app.tasks
        assert entry.schedule.run_every == timedelta(seconds=seconds)
        # Just under the interval: a run not picked up in time makes way for the next.
        assert entry.options["expires"] == expire_seconds < seconds


# ---- the scan ----


@pytest.fixture
def watchlist(binance):
    """Two enabled entries (one narrowed to mean_reversion) and a disabled one; all three
    pairs are served oversold candles, on which breakout and mean_reversion both fire."""
    for asset in ("SCANAUSDT", "SCANBUSDT", "SCANCUSDT"):
        binance[(asset, "5m")] = oversold_candles(INTERVAL_MS["5m"])
    Watchlist.objects.create(asset="SCANAUSDT", timeframe="5m")
    Watchlist.objects.create(asset="SCANBUSDT", timeframe="5m", strategies=["mean_reversion"])
    Watchlist.objects.create(asset="SCANCUSDT", timeframe="5m", enabled=False)


EXPECTED_SIGNALS = {
    ("SCANAUSDT", "breakout"),
    ("SCANAUSDT", "mean_reversion"),
    ("SCANBUSDT", "mean_reversion"),
}


def scanned() -> set[tuple]:
    """(asset, timeframe, source, strategies, status) of every analysis request."""
    rows = AnalysisRequest.objects.values_list(
        "asset", "timeframe", "source", "strategies", "status"
    )
    return {(*row[:3], tuple(row[3]), row[4]) for row in rows}


@pytest.mark.django_db(transaction=True)  # the analyses are sent on commit
def test_scan_analyses_each_enabled_entry_once_committed(watchlist):
    with transaction.atomic():
        assert tasks.scan_watchlist() == 2
        assert {status for *_, status in scanned()} == {"pending"}  # nothing sent yet

    assert scanned() == {
        ("SCANAUSDT", "5m", "schedule", (), "completed"),
        ("SCANBUSDT", "5m", "schedule", ("mean_reversion",), "completed"),
    }
    assert set(Signal.objects.values_list("asset", "strategy")) == EXPECTED_SIGNALS


@pytest.mark.django_db(transaction=True)
def test_scanning_twice_never_duplicates_a_signal(watchlist):
    scans.scan_watchlist()
    scans.scan_watchlist()

    assert AnalysisRequest.objects.filter(status="completed").count() == 4
    assert sorted(AnalysisRequest.objects.values_list("signals_generated", flat=True)) == [
        0, 0, 1, 2,
    ]  # fmt: skip
    assert Signal.objects.count() == len(EXPECTED_SIGNALS)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_worker_runs_the_scan_for_every_enabled_entry(watchlist, celery_worker_process):
    tasks.scan_watchlist.delay()

    finished = wait_until(
        lambda: (
            AnalysisRequest.objects.filter(finished_at__isnull=False).count() >= 2 and scanned()
        ),
        timeout=60,
    )
    assert finished == {
        ("SCANAUSDT", "5m", "schedule", (), "completed"),
        ("SCANBUSDT", "5m", "schedule", ("mean_reversion",), "completed"),
    }, list(AnalysisRequest.objects.values_list("asset", "error"))
    assert set(Signal.objects.values_list("asset", "strategy")) == EXPECTED_SIGNALS


# ---- the watchlist API ----


@pytest.fixture
def staff_client(staff_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(staff_user)
    return client


@pytest.mark.django_db
def test_any_user_reads_the_watchlist_but_only_staff_writes(api_client, staff_client):
    entry = Watchlist.objects.create(asset="BTCUSDT", timeframe="1h", strategies=["breakout"])
    body = api_client.get("/api/watchlist/").json()
    assert [(e["asset"], e["timeframe"], e["strategies"]) for e in body["results"]] == [
        ("BTCUSDT", "1h", ["breakout"])
    ]

    new = {"asset": "ETHUSDT", "timeframe": "5m"}
    assert api_client.post("/api/watchlist/", new, format="json").status_code == 403
    assert api_client.delete(f"/api/watchlist/{entry.pk}/").status_code == 403
    assert list(Watchlist.objects.values_list("asset", flat=True)) == ["BTCUSDT"]

    response = staff_client.post(
        "/api/watchlist/", {**new, "asset": "ethusdt", "enabled": False}, format="json"
    )
    assert response.status_code == 201, response.json()
    created = Watchlist.objects.get(pk=response.json()["id"])
    assert (created.asset, created.timeframe, created.enabled, created.strategies) == (
        "ETHUSDT", "5m", False, [],
    )  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"asset": "BTC/USDT", "timeframe": "5m"}, "asset"),
        ({"asset": "BTCUSDT", "timeframe": "7m"}, "timeframe"),
        ({"asset": "BTCUSDT", "timeframe": "5m", "strategies": ["breakout", "nope"]},
         "strategies"),
    ],
    ids=["asset", "timeframe", "strategy"],
)  # fmt: skip
def test_invalid_watchlist_entry_is_a_400_naming_the_field(staff_client, entry, field):
    response = staff_client.post("/api/watchlist/", entry, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Watchlist.objects.exists()


@pytest.mark.django_db
def test_duplicate_watchlist_pair_is_a_400(staff_client):
    Watchlist.objects.create(asset="BTCUSDT", timeframe="5m")
    response = staff_client.post(
        "/api/watchlist/", {"asset": "btcusdt", "timeframe": "5m"}, format="json"
    )
    assert response.status_code == 400
    assert "unique" in str(response.json()).lower()
    assert Watchlist.objects.count() == 1


@pytest.mark.django_db
def test_losing_a_race_to_the_same_watchlist_pair_is_a_400(staff_client, monkeypatch):
    rival = lose_the_race(monkeypatch, serializers.WatchlistSerializer,
                          lambda: Watchlist.objects.create(asset="BTCUSDT", timeframe="5m"))
    response = staff_client.post(
        "/api/watchlist/", {"asset": "BTCUSDT", "timeframe": "5m"}, format="json"
    )
    assert response.status_code == 400
    assert "unique" in str(response.json()).lower()
    assert list(Watchlist.objects.values_list("pk", flat=True)) == [rival[0].pk]


# ---- pruning ----


@pytest.mark.django_db
def test_prune_deletes_requests_past_retention_and_keeps_their_signals(settings):
    settings.ANALYSIS_RETENTION_DAYS = 7
    now = timezone.now()
    ages = {"old": 8, "recent": 6}
    requests = {}
    for label, days in ages.items():
        requests[label] = AnalysisRequest.objects.create(asset="BTCUSDT", timeframe="5m")
        AnalysisRequest.objects.filter(pk=requests[label].pk).update(
            created_at=now - timedelta(days=days)
        )
    signal = Signal.objects.create(
        asset="BTCUSDT", direction="long", confidence=0.5, entry_price=100.0, stop_loss=95.0,
        take_profit=110.0, strategy="breakout", timeframe="5m", candle_time=now,
        correlation_id=requests["old"].correlation_id,
    )  # fmt: skip

    assert tasks.prune_analysis_requests() == 1

    assert list(AnalysisRequest.objects.all()) == [requests["recent"]]
    assert Signal.objects.get(pk=signal.pk).correlation_id == requests["old"].correlation_id


# ---- the worker heartbeat ----


@pytest.fixture
def no_heartbeat(db):
    # A heartbeat left behind would change /api/health/ for later tests on the same database.
    Heartbeat.objects.all().delete()
    yield
    Heartbeat.objects.all().delete()


@pytest.mark.django_db
def test_embedded_health_reports_the_worker_in_process(anon_client, no_heartbeat):
    health.record_heartbeat()
    response = anon_client.get("/api/health/")
    assert response.status_code == 200
    assert response.json()["worker"] == {
        "status": "in-process", "last_heartbeat": None, "age_seconds": None,
    }  # fmt: skip


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_health_reports_the_worker_heartbeat_and_its_age(anon_client, no_heartbeat):
    beat = health.record_heartbeat(timezone.now() - timedelta(seconds=30))
    response = anon_client.get("/api/health/")
    assert response.status_code == 200
    worker = response.json()["worker"]
    assert (worker["status"], worker["last_heartbeat"]) == ("up", beat.isoformat())
    assert 30 <= worker["age_seconds"] < 40


def test_no_heartbeat_is_unknown_just_after_start_up_and_down_after_the_maximum_age(
    settings, no_heartbeat
):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # as on the full stack: a worker should beat
    started = timezone.now()
    max_age = timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE)
    fresh = health.worker_status(now=started + max_age / 2, up_since=started)
    assert fresh["status"] == "unknown"  # a fresh deployment has had no chance to beat yet
    late = health.worker_status(now=started + max_age + timedelta(seconds=1), up_since=started)
    assert late["status"] == "down"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_stale_heartbeat_fails_health_naming_the_worker(anon_client, settings, no_heartbeat):
    too_old = timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE + 5)
    health.record_heartbeat(timezone.now() - too_old)
    response = anon_client.get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["worker"]
    assert body["worker"]["status"] == "down"
    assert body["worker"]["age_seconds"] > settings.WORKER_HEARTBEAT_MAX_AGE


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_heartbeat_task_on_the_worker_marks_it_up(anon_client, no_heartbeat, celery_worker_process):
    tasks.publish_heartbeat.delay()

    def reported():
        worker = anon_client.get("/api/health/").json()["worker"]
        return worker if worker["last_heartbeat"] else None

    worker = wait_until(reported, timeout=30)
    assert worker["status"] == "up"
    assert worker["age_seconds"] < 30
