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
