"""Fees per market: the schedule, its lookup, and the fee a settled signal pays and stores."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from collectors import fees
from signals import lifecycle
from tests.test_lifecycle import WIN_PATH, active_signal, serve

SCHEDULE = fees.parse_fee_schedule("crypto:0.1, stock:0.05,forex:0.005,binance:0.075,"
                                   "EURUSD:0.002")


@pytest.mark.parametrize(("asset", "kind"), [
    ("BTCUSDT", "crypto"), ("ETHBTC", "crypto"), ("BTCEUR", "crypto"), ("EURUSD", "forex"),
    ("USDJPY", "forex"), ("AAPL", "stock"), ("BRK.B", "stock"), ("NVDA", "stock"),
])
def test_asset_classes(asset, kind):
    assert fees.asset_class(asset) == kind


def test_the_most_specific_entry_wins():
    assert SCHEDULE == {"crypto": 0.1, "stock": 0.05, "forex": 0.005, "binance": 0.075,
                        "EURUSD": 0.002}
    assert fees.fee_percent("EURUSD", SCHEDULE, 0.3) == 0.002  # the asset itself
    assert fees.fee_percent("GBPUSD", SCHEDULE, 0.3) == 0.005  # its class
    assert fees.fee_percent("BTCUSDT", SCHEDULE, 0.3, source="binance") == 0.075  # its source
    assert fees.fee_percent("BTCUSDT", SCHEDULE, 0.3, source="demo") == 0.1
    assert fees.fee_percent("AAPL", SCHEDULE, 0.3) == 0.05
    assert fees.fee_percent("AAPL", {"default": 0.2}, 0.3) == 0.2
    assert fees.fee_percent("AAPL", {}, 0.3) == 0.3  # nothing matches: the default setting


@pytest.mark.parametrize("text", ["crypto", "crypto:-1", "crypto:abc", "crypto:0.1,crypto:0.2"])
def test_a_bad_schedule_is_refused_naming_the_entry(text):
    with pytest.raises(ValueError, match="crypto"):
        fees.parse_fee_schedule(text)


def test_a_bad_schedule_stops_start_up(monkeypatch):
    import importlib

    import botsinais.settings

    monkeypatch.setenv("FEE_SCHEDULE", "crypto=0.1")
    with pytest.raises(ImproperlyConfigured, match="FEE_SCHEDULE"):
        importlib.reload(botsinais.settings)
    monkeypatch.delenv("FEE_SCHEDULE")
    importlib.reload(botsinais.settings)


def test_forex_pays_less_than_crypto_by_default(settings):
    assert fees.fee_percent("EURUSD", settings.FEE_SCHEDULE, settings.SIGNAL_FEE_PERCENT) < (
        fees.fee_percent("BTCUSDT", settings.FEE_SCHEDULE, settings.SIGNAL_FEE_PERCENT))


@pytest.mark.django_db
def test_a_settled_signal_pays_and_stores_its_markets_fee(binance, settings):
    # The long at 100 wins at 110: +10 % less the fee on both sides.
    settings.SIGNAL_FEE_PERCENT = 0.5
    settings.FEE_SCHEDULE = {"crypto": 0.1, "FEEUSDT": 0.25}
    special = active_signal("FEEUSDT", serve(binance, "FEEUSDT", WIN_PATH))
    plain = active_signal("PLAINUSDT", serve(binance, "PLAINUSDT", WIN_PATH))

    assert lifecycle.evaluate_open_signals() == 2

    special.refresh_from_db()
    plain.refresh_from_db()
    assert (special.fee_percent, special.pnl) == (0.25, pytest.approx(9.5))
    assert (plain.fee_percent, plain.pnl) == (0.1, pytest.approx(9.8))
    assert plain.r_multiple == pytest.approx(9.8 / 5)
