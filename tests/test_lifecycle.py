"""Signal endings on the Django side: stored active signals settled against candles served by
the local Binance stand-in, recorded once, announced once.

Levels used throughout: a long at 100 with stop 95 and target 110 (5% risk), a short at 100
with stop 105 and target 90; SIGNAL_FEE_PERCENT is 0.5, so pnl is net of 1 point.
"""

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.db import connection

from market import store
from signals import lifecycle, services
from signals.models import AnalysisRequest, Signal, SignalStatus
from strategies.lifecycle import Outcome
from tests.fake_binance import INTERVAL_MS, oversold_candles

FLAT = (100.0, 100.0, 100.0, 100.0)
WIN_PATH = [(100, 104, 99, 103), (103, 111, 102, 108)]  # the long's target inside bar 2
STEP = pd.Timedelta(minutes=5)
OHLC = ["open", "high", "low", "close"]


@pytest.fixture(autouse=True)
def fee(settings):
    settings.FEE_SCHEDULE = {}  # every market pays SIGNAL_FEE_PERCENT
    settings.SIGNAL_FEE_PERCENT = 0.5


def serve(frames: dict, asset: str, path: list, timeframe: str = "5m") -> pd.Timestamp:
    """Serve a signal bar closing at 100, then the (open, high, low, close) path bars, then flat
    bars at 100 past the open bar (whichever bar is open when evaluated); returns the signal
    bar's open time."""
    step = pd.Timedelta(milliseconds=INTERVAL_MS[timeframe])
    signal_bar = pd.Timestamp.now(tz="UTC").floor(step) - (len(path) + 4) * step
    rows = [FLAT, *path, *[FLAT] * 6]
    index = pd.date_range(signal_bar, periods=len(rows), freq=step, name="open_time")
    frame = pd.DataFrame(rows, index=index, columns=OHLC, dtype=float)
    frame["volume"] = 1.0
    # The binance fixture's handler serves whatever this dict holds.
    frames[(asset, timeframe)] = frame
    return signal_bar


def active_signal(asset: str, candle_time, direction="long", expiry_bars=48, **fields) -> Signal:
    stop, target = (95.0, 110.0) if direction == "long" else (105.0, 90.0)
    values = dict(
        asset=asset, direction=direction, confidence=0.5, entry_price=100.0, stop_loss=stop,
        take_profit=target, strategy="trend_following", timeframe="5m", candle_time=candle_time,
        parameters={"expiry_bars": expiry_bars},
    )  # fmt: skip
    return Signal.objects.create(**{**values, **fields})


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("direction", "expiry_bars", "path", "ending"),
    [
        ("long", 48, WIN_PATH, ("closed", "win", 110.0, 3, 9.0, 1.8)),
        ("short", 48, [(100, 102, 98, 101), (101, 106, 100, 104)],
         ("closed", "loss", 105.0, 3, -6.0, -1.2)),
        # Three bars without a hit: expires at the close of the third (bar close: 4 steps).
        ("long", 3, [(100, 101, 99, 101), (101, 102, 100, 102), (102, 104, 101, 103)],
         ("expired", "none", 103.0, 4, 2.0, 0.4)),
    ],
    ids=["win", "loss", "expired"],
)  # fmt: skip
def test_evaluation_records_the_ending_net_of_fees(binance, direction, expiry_bars, path, ending):
    candle_time = serve(binance, "LIFEUSDT", path)
    signal = active_signal("LIFEUSDT", candle_time, direction, expiry_bars)

    assert lifecycle.evaluate_open_signals() == 1

    signal.refresh_from_db()
    status, result, close_price, steps, pnl, r_multiple = ending
    assert (signal.status, signal.result, signal.close_price) == (status, result, close_price)
    assert signal.closed_at == candle_time + steps * STEP
    assert signal.pnl == pytest.approx(pnl, abs=1e-9)
    assert signal.r_multiple == pytest.approx(r_multiple, abs=1e-9)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stored_minutes", "ending"),
    [
        # The 1m bars of the 5m bar that reached both levels: the target came first.
        ([(100, 105, 99, 104), (104, 111, 103, 108), (108, 108, 94, 95), (95, 99, 95, 98),
          (98, 101, 97, 100)],
         ("win", 110.0, pd.Timedelta(minutes=2), 9.0)),
        ([], ("loss", 95.0, STEP, -6.0)),  # no finer candles stored: the stop counts
        # 1m bars that do not add up to the 5m bar (they close at 95, it closed at 100) are
        # another path: not believed, the stop counts.
        ([(100, 105, 99, 104), (104, 111, 103, 108), *[(108, 108, 94, 95)] * 3],
         ("loss", 95.0, STEP, -6.0)),
    ],
    ids=["finer-candles-stored", "none-stored", "inconsistent-finer-candles-stored"],
)  # fmt: skip
def test_bar_reaching_both_levels_is_settled_on_stored_finer_candles(
    binance, stored_minutes, ending
):
    candle_time = serve(binance, "BOTHUSDT", [(100, 111, 94, 100)])
    signal = active_signal("BOTHUSDT", candle_time)
    if stored_minutes:
        index = pd.date_range(candle_time + STEP, periods=5, freq="1min", name="open_time")
        minutes = pd.DataFrame(stored_minutes, index=index, columns=OHLC)
        store.insert_candles(
            minutes.assign(volume=1.0), source="live", asset="BOTHUSDT", timeframe="1m"
        )

    assert lifecycle.evaluate_open_signals() == 1

    signal.refresh_from_db()
    result, close_price, after_bar_open, pnl = ending
    assert (signal.result, signal.close_price, signal.pnl) == (result, close_price, pnl)
    assert signal.closed_at == candle_time + STEP + after_bar_open


@pytest.mark.django_db
def test_signal_not_yet_settled_stays_active_and_other_pairs_are_untouched(binance):
    still = active_signal("STILLUSDT", serve(binance, "STILLUSDT", [(100, 104, 96, 102)] * 3))
    other = active_signal("OTHERUSDT", serve(binance, "OTHERUSDT", WIN_PATH))

    assert lifecycle.evaluate_open_signals("STILLUSDT", "5m") == 0
    still.refresh_from_db()
    other.refresh_from_db()
    assert (still.status, still.pnl, still.closed_at) == ("active", None, None)
    assert other.status == SignalStatus.ACTIVE

    # The other pair was settleable all along: evaluating everything closes it alone.
    assert lifecycle.evaluate_open_signals() == 1
    assert Signal.objects.get(pk=other.pk).result == "win"
    assert Signal.objects.get(pk=still.pk).status == SignalStatus.ACTIVE


@pytest.fixture
def fresh_channel_layer():
    # The in-memory layer outlives a test (and its event loop): start and end empty.
    channel_layers.backends.clear()
    yield get_channel_layer()
    channel_layers.backends.clear()


def run_and_listen(layer, group: str, *actions) -> list[tuple]:
    """Run each sync action in turn; after each, (its result, the events it pushed to group)."""

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        batches = []
        for action in actions:
            result = await sync_to_async(action)()
            received = []
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), 0.3)
                except TimeoutError:
                    break
                received.append(json.loads(message["text"]))
            batches.append((result, received))
        return batches

    return async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)  # events are pushed on commit
def test_closing_publishes_one_signal_closed_and_a_later_close_nothing(
    binance, fresh_channel_layer
):
    signal = active_signal("EVTUSDT", serve(binance, "EVTUSDT", WIN_PATH))
    stale = Signal.objects.get(pk=signal.pk)  # loaded by an evaluator that lost the race
    late = Outcome("closed", "loss", 95.0, pd.Timestamp.now(tz="UTC"), -6.0, -1.2, 2)

    first, second, third = run_and_listen(
        fresh_channel_layer,
        "asset.EVTUSDT",
        lifecycle.evaluate_open_signals,
        lifecycle.evaluate_open_signals,
        lambda: lifecycle.close_signal(stale, late),
    )

    closed, pushed = first
    assert closed == 1
    assert [event["event_type"] for event in pushed] == ["SignalClosed"]
    data = pushed[0]["data"]
    assert (data["id"], data["status"], data["result"]) == (str(signal.id), "closed", "win")
    assert (data["close_price"], data["pnl"]) == (110.0, pytest.approx(9.0))
    assert second == (0, [])
    assert third == (False, [])


@pytest.mark.django_db
def test_second_close_of_a_signal_returns_false_and_keeps_the_first_ending():
    signal = active_signal("ONCEUSDT", pd.Timestamp("2026-01-01", tz="UTC"))
    stale = Signal.objects.get(pk=signal.pk)  # a second evaluator loaded it while still active
    at = pd.Timestamp("2026-01-01 01:00", tz="UTC")

    assert signal.close(Outcome("closed", "win", 110.0, at, 9.0, 1.8, 12)) is True
    assert stale.close(Outcome("closed", "loss", 95.0, at, -6.0, -1.2, 12)) is False

    stored = Signal.objects.get(pk=signal.pk)
    assert (stored.status, stored.result, stored.close_price, stored.pnl) == (
        "closed", "win", 110.0, 9.0,
    )  # fmt: skip
    assert stale.status == SignalStatus.ACTIVE  # the loser's copy is not dressed up as closed


def run_at_once(work, arguments: list) -> list:
    """work(argument) in one thread each, released together; each closes its DB connection."""
    barrier = threading.Barrier(len(arguments))

    def run(argument):
        try:
            return work(argument, barrier)
        finally:
            connection.close()

    with ThreadPoolExecutor(len(arguments)) as pool:
        return list(pool.map(run, arguments))


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_concurrent_closes_of_one_signal_record_one_ending():
    signal = active_signal("RACEUSDT", pd.Timestamp("2026-01-01", tz="UTC"))
    at = pd.Timestamp("2026-01-01 01:00", tz="UTC")
    outcomes = [Outcome("closed", "win", 110.0 + i, at, 9.0 + i, 1.8, 12) for i in range(4)]

    def close(outcome, barrier):
        loaded = Signal.objects.get(pk=signal.pk)
        barrier.wait()
        return lifecycle.close_signal(loaded, outcome)

    succeeded = run_at_once(close, outcomes)

    assert succeeded.count(True) == 1
    winner = outcomes[succeeded.index(True)]
    stored = Signal.objects.get(pk=signal.pk)
    assert (stored.close_price, stored.pnl) == (winner.close_price, winner.pnl)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_concurrent_evaluators_close_a_signal_once(binance):
    signal = active_signal("RACEUSDT", serve(binance, "RACEUSDT", WIN_PATH))

    def evaluate(_, barrier):
        barrier.wait()
        return lifecycle.evaluate_open_signals("RACEUSDT")

    assert sum(run_at_once(evaluate, range(4))) == 1
    stored = Signal.objects.get(pk=signal.pk)
    assert (stored.status, stored.result, stored.close_price) == ("closed", "win", 110.0)


@pytest.mark.django_db(transaction=True)  # the evaluation is queued on commit
def test_completed_analysis_settles_earlier_signals_of_its_pair_only(binance):
    frame = oversold_candles(INTERVAL_MS["5m"])
    binance[("ANAUSDT", "5m")] = frame
    # Before the sell-off into the last bar; it falls through 97 within one bar, without a gap.
    earlier = active_signal("ANAUSDT", frame.index[-30], stop_loss=97.0)
    other_timeframe = active_signal(
        "ANAUSDT", serve(binance, "ANAUSDT", WIN_PATH, "15m"), timeframe="15m"
    )
    pending = AnalysisRequest.objects.create(asset="ANAUSDT", timeframe="5m")

    analysis = services.run_analysis(str(pending.correlation_id))

    assert analysis.status == "completed"

    earlier.refresh_from_db()
    assert (earlier.status, earlier.result, earlier.close_price) == ("closed", "loss", 97.0)
    assert earlier.pnl == pytest.approx(-4.0)
    new = Signal.objects.filter(correlation_id=analysis.correlation_id)
    assert new.count() == analysis.signals_generated >= 1
    assert set(new.values_list("status", flat=True)) == {"active"}
    assert Signal.objects.get(pk=other_timeframe.pk).status == SignalStatus.ACTIVE
    assert lifecycle.evaluate_open_signals("ANAUSDT", "15m") == 1  # it was settleable


@pytest.mark.django_db(transaction=True)
def test_an_analysis_queues_an_evaluation_only_when_its_pair_has_other_open_signals(
    binance, monkeypatch
):
    from signals import tasks

    queued = []
    monkeypatch.setattr(tasks.evaluate_open_signals, "delay", lambda *pair: queued.append(pair))
    binance[("NEWUSDT", "5m")] = oversold_candles(INTERVAL_MS["5m"])
    first = services.run_analysis(
        str(AnalysisRequest.objects.create(asset="NEWUSDT", timeframe="5m").correlation_id)
    )
    assert first.signals_generated >= 1
    assert queued == []  # only its own signals are open, on the newest candle

    second = services.run_analysis(
        str(AnalysisRequest.objects.create(asset="NEWUSDT", timeframe="5m").correlation_id)
    )
    assert second.status == "completed"
    assert queued == [("NEWUSDT", "5m")]  # the first run's signals are open
