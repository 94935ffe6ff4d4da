"""market 0002: stored candles move from provider names to data sources, keeping who served
them; a bar that would repeat one already stored under the new source is dropped."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("market", "0001_initial")]
AFTER = [("market", "0002_candle_data_source")]
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_stored_candles_get_their_data_source_and_keep_their_provider():
    old = migrate(BEFORE).get_model("market", "Candle")
    bar = dict(open=1.0, high=1.0, low=1.0, close=1.0, volume=1.0, timeframe="1h")
    for source, asset, hours in [
        ("binance", "BTCUSDT", [0, 1]),
        ("alphavantage", "AAPL", [0]),
        ("demo", "BTCUSDT", [0]),
        ("import", "BTCUSDT", [0]),
        ("archive", "BTCUSDT", [0, 1]),  # its bar at hour 0 repeats the one of "import"
    ]:
        for hour in hours:
            old.objects.create(source=source, asset=asset, open_time=T0 + timedelta(hours=hour),
                               **bar)  # fmt: skip

    new = migrate(AFTER).get_model("market", "Candle")
    rows = set(new.objects.values_list("source", "provider", "asset", "open_time"))
    assert rows == {
        ("live", "binance", "BTCUSDT", T0),
        ("live", "binance", "BTCUSDT", T0 + timedelta(hours=1)),
        ("live", "alphavantage", "AAPL", T0),
        ("demo", "demo", "BTCUSDT", T0),
        ("import", "import", "BTCUSDT", T0),
        ("import", "archive", "BTCUSDT", T0 + timedelta(hours=1)),
    }
