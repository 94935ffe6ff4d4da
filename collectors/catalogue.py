"""The demo market's assets: plausible price bands, volatilities, volumes and trading hours.

Crypto pairs trade around the clock; stocks only in their exchange's regular session (holidays
are not modelled: every weekday is a session). Prices stay inside each asset's band.
"""

from dataclasses import dataclass
from datetime import time

from collectors.errors import UnknownSymbol

CRYPTO = "crypto"
STOCK = "stock"


@dataclass(frozen=True)
class Session:
    """Regular trading hours in the exchange's time zone (DST included), on these weekdays."""

    timezone: str
    opens: time
    closes: time
    weekdays: frozenset[int] = frozenset(range(5))  # Monday = 0

    @property
    def minutes(self) -> int:
        return (self.closes.hour - self.opens.hour) * 60 + self.closes.minute - self.opens.minute


# NYSE and Nasdaq share these hours.
US_EQUITIES = Session("America/New_York", time(9, 30), time(16, 0))


@dataclass(frozen=True)
class DemoAsset:
    symbol: str
    kind: str  # CRYPTO or STOCK
    name: str
    price_low: float  # every price of the asset stays in [price_low, price_high]
    price_high: float
    daily_volatility: float  # standard deviation of daily log returns
    daily_notional: float  # quote currency traded on an average day
    # Volumes are whole multiples of this power of two, so sums of them are exact floats.
    volume_unit: float = 1.0
    session: Session | None = None  # None: trades around the clock


def _crypto(symbol, name, low, high, volatility, notional, unit) -> DemoAsset:
    return DemoAsset(symbol, CRYPTO, name, low, high, volatility, notional, unit)


def _stock(symbol, name, low, high, volatility, notional) -> DemoAsset:
    return DemoAsset(symbol, STOCK, name, low, high, volatility, notional, 1.0, US_EQUITIES)


CATALOGUE: dict[str, DemoAsset] = {
    asset.symbol: asset
    for asset in (
        _crypto("BTCUSDT", "Bitcoin / Tether", 55_000, 115_000, 0.030, 2.0e9, 2.0**-10),
        _crypto("ETHUSDT", "Ether / Tether", 2_000, 4_500, 0.038, 1.2e9, 2.0**-8),
        _crypto("SOLUSDT", "Solana / Tether", 90, 260, 0.050, 6.0e8, 2.0**-6),
        _crypto("BNBUSDT", "BNB / Tether", 450, 750, 0.030, 2.0e8, 2.0**-6),
        _crypto("XRPUSDT", "XRP / Tether", 0.45, 3.0, 0.050, 4.0e8, 1.0),
        _crypto("DOGEUSDT", "Dogecoin / Tether", 0.08, 0.40, 0.055, 3.0e8, 1.0),
        _stock("AAPL", "Apple", 165, 260, 0.017, 1.0e10),
        _stock("MSFT", "Microsoft", 370, 520, 0.015, 8.0e9),
        _stock("NVDA", "NVIDIA", 90, 190, 0.030, 3.0e10),
        _stock("AMZN", "Amazon", 160, 240, 0.020, 7.0e9),
        _stock("GOOGL", "Alphabet", 140, 210, 0.018, 5.0e9),
        _stock("TSLA", "Tesla", 170, 420, 0.035, 2.5e10),
    )
}


def demo_asset(symbol: str) -> DemoAsset:
    """The catalogue entry; UnknownSymbol naming the symbol and listing the catalogue if none."""
    try:
        return CATALOGUE[symbol]
    except (KeyError, TypeError):
        raise UnknownSymbol(
            "%(symbol)r is not in the demo market; demo assets: %(assets)s",
            symbol=symbol, assets=", ".join(CATALOGUE),
        ) from None
