"""The embedded default runs its schedules and its tasks by itself (botsinais/embedded.py):
the periodic tasks stored in the database run in a thread of the web process, an analysis a
request queues runs after the response, and the compiled kernels are warmed at start-up."""

import subprocess
import sys
import threading
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.authtoken.models import Token

from botsinais import embedded
from botsinais.asgi import application
from signals import events
from signals.models import AnalysisRequest, AnalysisSource, AnalysisStatus, Signal, Watchlist
from tests.conftest import wait_until
from tests.fake_binance import INTERVAL_MS, klines_handler, oversold_candles

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def embedded_worker(settings):
    settings.EMBEDDED_WORKER = True
    yield
    embedded.stop()


def every(seconds: int, name: str, task: str) -> None:
    interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
    PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "interval": interval})


@pytest.mark.django_db(transaction=True)
def test_the_embedded_scheduler_scans_and_evaluates_without_any_request(embedded_worker, user):
    # Only the stored schedules: a scan and an evaluation, due every few seconds here.
    PeriodicTask.objects.all().delete()
    every(2, "scan watchlist", "signals.tasks.scan_watchlist")
    every(1, "evaluate open signals", "signals.tasks.evaluate_open_signals")
    Watchlist.objects.create(asset="BTCUSDT", timeframe="1m")
    # An open demo signal whose levels no price reaches: it expires after two bars.
    signal = Signal.objects.create(
        asset="ETHUSDT", strategy="breakout", timeframe="1m", direction="long", confidence=0.5,
        entry_price=1e9, stop_loss=1.0, take_profit=2e9, parameters={"expiry_bars": 2},
        candle_time=timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=10),
    )  # fmt: skip
    token = Token.objects.create(user=user).key

    async def scenario():
        client = WebsocketCommunicator(
            application, f"/ws/signals/?token={token}", headers=[(b"origin", b"http://127.0.0.1")]
        )
        assert (await client.connect())[0]
        embedded.start()
        seen = {}
        while not {events.SIGNAL_CLOSED, events.ANALYSIS_COMPLETED} <= set(seen):
            event = await client.receive_json_from(timeout=120)
            seen.setdefault(event["event_type"], event)
        await client.disconnect()
        return seen

    seen = async_to_sync(scenario)()
    assert seen[events.SIGNAL_CLOSED]["data"]["id"] == str(signal.id)
    assert seen[events.ANALYSIS_COMPLETED]["data"]["asset"] == "BTCUSDT"
    signal.refresh_from_db()
    assert signal.status == "expired"
    scheduled = AnalysisRequest.objects.filter(source=AnalysisSource.SCHEDULE, asset="BTCUSDT")
    assert scheduled.filter(status=AnalysisStatus.COMPLETED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_requested_analysis_is_pending_while_it_runs_after_the_response(
    embedded_worker, api_client, httpserver, settings
):
    # The exchange stand-in answers only once the test has seen the analysis pending.
    answer = threading.Event()
    serve = klines_handler({("BTCUSDT", "5m"): oversold_candles(INTERVAL_MS["5m"])})

    def held(request):
        answer.wait(15)
        return serve(request)

    httpserver.expect_request("/api/v3/klines").respond_with_handler(held)
    settings.MARKET_DATA_MODE = "live"
    settings.BINANCE_BASE_URL = httpserver.url_for("").rstrip("/")

    response = api_client.post(
        "/api/signals/request-analysis/", {"asset": "BTCUSDT", "timeframe": "5m"}, format="json"
    )
    assert response.status_code == 202
    status_url = f"/api/analyses/{response.json()['correlation_id']}/"

    def read_status():
        # The test database is in-memory SQLite, whose table lock does not wait: a read that
        # meets the analysis thread's write is a 503 with Retry-After, so it asks again.
        reply = api_client.get(status_url)
        if reply.status_code == 503:
            assert reply["Retry-After"]
            return None
        assert reply.status_code == 200, reply.content
        return reply.json()

    assert wait_until(read_status)["status"] in ("pending", "running")
    answer.set()
    wait_until(lambda: (read_status() or {}).get("status") == "completed", timeout=60)
    assert wait_until(read_status)["signals_generated"] >= 1


def test_warm_up_compiles_every_kernel_an_analysis_uses():
    # A fresh interpreter: after warm_up(), analysing another market compiles nothing more.
    check = """
import numba.core.registry, strategies
from strategies import indicators
from strategies.warmup import synthetic_candles, warm_up

def compiled():
    return {name: len(f.signatures) for name, f in vars(indicators).items()
            if isinstance(f, numba.core.registry.CPUDispatcher)}

warm_up()
warm = compiled()
frame = synthetic_candles(bars=777, seed=3)
for strategy_class in strategies.available().values():
    strategy_class().signals(frame)
    strategy_class().latest(frame.iloc[:500])
assert sum(warm.values()) > 0, warm
assert compiled() == warm, (warm, compiled())
"""
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_demo_watchlist_fills_an_empty_watchlist_once(settings):
    settings.MARKET_DATA_MODE = "demo"
    call_command("ensure_demo_watchlist", stdout=StringIO())
    pairs = set(Watchlist.objects.values_list("asset", "timeframe"))
    assert {("BTCUSDT", "1m"), ("BTCUSDT", "5m"), ("ETHUSDT", "5m")} <= pairs

    Watchlist.objects.exclude(asset="BTCUSDT").delete()  # the user's own choice since
    call_command("ensure_demo_watchlist", stdout=StringIO())
    assert set(Watchlist.objects.values_list("asset", flat=True)) == {"BTCUSDT"}


@pytest.mark.django_db
def test_demo_watchlist_is_left_alone_on_live_data(settings):
    settings.MARKET_DATA_MODE = "live"
    call_command("ensure_demo_watchlist", stdout=StringIO())
    assert not Watchlist.objects.exists()


def test_make_run_starts_the_embedded_worker_with_the_demo_watchlist():
    run = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "ensure_demo_watchlist" in run
    assert "EMBEDDED_WORKER=true" in run and "uvicorn" in run

