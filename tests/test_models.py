"""Database constraints keep impossible signals out, whatever code writes them."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

from signals.models import Signal

pytestmark = pytest.mark.django_db

CANDLE = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def signal(**fields) -> Signal:
    values = dict(
        asset="BTCUSDT",
        direction="long",
        confidence=0.5,
        entry_price=100.0,
        stop_loss=95.0,
        take_profit=110.0,
        strategy="breakout",
        timeframe="1h",
        candle_time=CANDLE,
    )
    values.update(fields)
    return Signal(**values)


@pytest.mark.parametrize(
    "fields",
    [
        {"confidence": 1.5},
        {"confidence": -0.1},
        {"stop_loss": 101.0},  # long with the stop above entry
        {"take_profit": 99.0},  # long with the target below entry
        {"direction": "short"},  # short with long geometry
        {"direction": "short", "stop_loss": 105.0, "take_profit": 101.0},
    ],
)
def test_impossible_signals_are_rejected_by_the_database(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        signal(**fields).save()


def test_short_with_mirrored_levels_is_stored():
    signal(direction="short", stop_loss=105.0, take_profit=90.0).save()
    assert Signal.objects.get().direction == "short"


def test_same_strategy_on_the_same_candle_is_one_row():
    signal().save()
    with pytest.raises(IntegrityError), transaction.atomic():
        signal(confidence=0.9).save()
    signal(strategy="mean_reversion").save()
    signal(timeframe="5m").save()
    assert Signal.objects.count() == 3
