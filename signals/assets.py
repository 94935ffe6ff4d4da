"""The assets the platform serves in its market data mode, for autocomplete and the API.

demo: the demo market's catalogue, nothing else (any other symbol is a 400).
live: any well-formed symbol is served (crypto pairs from Binance, the rest from Alpha
Vantage); the list offered is the watchlist's assets plus those with signals, the ones
this platform already follows.
"""

from django.conf import settings

import collectors
from signals.models import Signal, Watchlist

LIVE_RULE = (
    "any symbol of 1-20 uppercase letters or digits ('.' or '-' inside): crypto pairs such as "
    "BTCUSDT from Binance, other symbols such as AAPL from Alpha Vantage"
)
DEMO_RULE = "the demo market's catalogue only"


def served_assets() -> dict:
    """{"mode", "rule", "assets": [{"symbol", "kind", "name"}]} sorted by symbol."""
    mode = settings.MARKET_DATA_MODE
    catalogue = collectors.served_catalogue(mode)
    if catalogue is not None:
        assets = [{"symbol": s, "kind": kind, "name": name} for s, kind, name in catalogue]
        return {"mode": mode, "rule": DEMO_RULE, "assets": sorted(assets, key=symbol_of)}
    followed = set(Watchlist.objects.values_list("asset", flat=True).distinct())
    followed |= set(Signal.objects.order_by().values_list("asset", flat=True).distinct())
    assets = [{"symbol": s, "kind": collectors.asset_kind(s), "name": ""} for s in followed]
    return {"mode": mode, "rule": LIVE_RULE, "assets": sorted(assets, key=symbol_of)}


def symbol_of(asset: dict) -> str:
    return asset["symbol"]
