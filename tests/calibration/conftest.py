import pandas as pd
import pytest
from django.utils import timezone

from calibration import services
from calibration.models import ModelVersion
from signals.models import AnalysisRequest
from strategies.base import SignalCandidate
from tests.calibration.synthetic import synthetic_signals


@pytest.fixture(scope="session")
def learnable_signals() -> pd.DataFrame:
    return synthetic_signals(6_000, learnable=True, seed=21)


@pytest.fixture(scope="session")
def noise_signals() -> pd.DataFrame:
    return synthetic_signals(4_000, learnable=False, seed=22)


@pytest.fixture
def active_version(db, learnable_signals) -> ModelVersion:
    outcome = services.retrain(signals=learnable_signals)
    assert outcome.version.status == "active", outcome.version.reason
    return outcome.version


@pytest.fixture
def analysis(db) -> AnalysisRequest:
    return AnalysisRequest.objects.create(asset="BTCUSDT", timeframe="1h")


def candles(bars: int = 300) -> pd.DataFrame:
    """A steady climb, so the regime is defined; the candidate fires on its last bar."""
    close = pd.Series(range(bars), dtype=float) * 0.1 + 100.0
    index = pd.date_range(end=timezone.now().replace(minute=0, second=0, microsecond=0),
                          periods=bars, freq="1h", tz="UTC")
    return pd.DataFrame({"open": close.to_numpy() - 0.05, "high": close.to_numpy() + 0.2,
                         "low": close.to_numpy() - 0.2, "close": close.to_numpy(),
                         "volume": 5.0}, index=index)


def candidate(frame: pd.DataFrame, direction: str = "long") -> SignalCandidate:
    entry = float(frame["close"].iloc[-1])
    side = 1 if direction == "long" else -1
    return SignalCandidate(
        strategy="trend_following", direction=direction, entry=entry,
        stop_loss=entry - side * 1.5, take_profit=entry + side * 3.0, confidence=0.8,
        candle_time=frame.index[-1], indicators={"atr": 1.0, "rsi": 60.0, "adx": 35.0},
        parameters={"expiry_bars": 48})
