"""The analysis task: candles in, signals stored once, failures recorded with their reason."""

import pytest

from signals import services
from signals.models import AnalysisRequest, AnalysisStatus, Signal

pytestmark = pytest.mark.django_db(transaction=True)


def pending(asset="BTCUSDT", timeframe="5m") -> AnalysisRequest:
    return AnalysisRequest.objects.create(asset=asset, timeframe=timeframe)


def test_run_analysis_stores_signals_with_their_context(binance):
    analysis = services.run_analysis(str(pending().correlation_id))
    assert analysis.status == AnalysisStatus.COMPLETED
    assert analysis.started_at and analysis.finished_at
    signals = list(Signal.objects.all())
    assert len(signals) == analysis.signals_generated >= 1
    for signal in signals:
        assert signal.correlation_id == analysis.correlation_id
        assert signal.timeframe == "5m"
        assert signal.candle_time == max(s.candle_time for s in signals)


def test_second_run_of_the_same_request_adds_nothing(binance):
    correlation_id = str(pending().correlation_id)
    services.run_analysis(correlation_id)
    count = Signal.objects.count()
    AnalysisRequest.objects.filter(correlation_id=correlation_id).update(
        status=AnalysisStatus.RUNNING
    )
    services.run_analysis(correlation_id)
    assert Signal.objects.count() == count


def test_new_request_on_the_same_candle_does_not_duplicate(binance):
    services.run_analysis(str(pending().correlation_id))
    count = Signal.objects.count()
    again = services.run_analysis(str(pending().correlation_id))
    assert again.status == AnalysisStatus.COMPLETED
    assert again.signals_generated == 0
    assert Signal.objects.count() == count


def test_finished_request_is_not_run_again(binance):
    analysis = pending()
    AnalysisRequest.objects.filter(pk=analysis.pk).update(status=AnalysisStatus.FAILED, error="x")
    assert services.run_analysis(str(analysis.correlation_id)).error == "x"
    assert Signal.objects.count() == 0


def test_unsupported_interval_upstream_is_recorded(binance):
    analysis = services.run_analysis(str(pending(timeframe="3m").correlation_id))
    assert analysis.status == AnalysisStatus.FAILED
    assert analysis.error
    assert Signal.objects.count() == 0


def test_unreachable_market_data_is_recorded(settings):
    settings.MARKET_DATA_MODE = "live"
    settings.BINANCE_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.MARKET_DATA_TIMEOUT = 1
    settings.ANALYSIS_MAX_ATTEMPTS = 1  # transient: retried until the attempts run out
    analysis = services.run_analysis(str(pending().correlation_id))
    assert analysis.status == AnalysisStatus.FAILED
    assert analysis.error.startswith("gave up after 1 attempt; last: UpstreamUnavailable")


def test_only_the_strategies_new_on_the_candle_are_stored_and_announced(binance, monkeypatch):
    first = services.run_analysis(str(pending().correlation_id))
    fired = list(Signal.objects.order_by("strategy"))
    assert len(fired) >= 2, "the stand-in's candles should make two strategies fire"
    kept = fired[0]
    Signal.objects.exclude(pk=kept.pk).delete()
    announced = []
    monkeypatch.setattr(
        "signals.events.send_now", lambda message, groups: announced.append(message)
    )

    again = services.run_analysis(str(pending().correlation_id))

    new = Signal.objects.exclude(pk=kept.pk)
    assert again.signals_generated == new.count() == len(fired) - 1
    assert set(new.values_list("correlation_id", flat=True)) == {again.correlation_id}
    assert Signal.objects.get(pk=kept.pk).correlation_id == first.correlation_id
    generated = [e["data"]["id"] for e in announced if e["event_type"] == "SignalGenerated"]
    assert sorted(generated) == sorted(str(pk) for pk in new.values_list("pk", flat=True))
