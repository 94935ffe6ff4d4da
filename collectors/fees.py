"""Trading fees per market: a schedule parsed from one setting and a plain lookup.

FEE_SCHEDULE is a comma-separated list of `key:percent`, for example
`crypto:0.1,stock:0.05,forex:0.005,binance:0.075,EURUSD:0.002,default:0.1`. A key is an asset
symbol, a source name (binance, alphavantage, demo, ...), an asset class (crypto, stock,
forex) or `default`; the most specific one that matches an asset wins, in that order. The
percent is charged on entry and again on exit (a round trip costs twice it).
"""

from __future__ import annotations

import re

from collectors.assets import is_crypto_pair

ASSET_CLASSES = ("crypto", "forex", "stock")
# ISO codes of the currencies whose six-letter pairs (EURUSD, USDJPY) count as forex.
CURRENCIES = frozenset({
    "USD", "EUR", "GBP", "JPY", "CHF", "AUD", "CAD", "NZD", "SEK", "NOK", "DKK", "PLN", "CZK",
    "HUF", "TRY", "ZAR", "MXN", "BRL", "CNH", "HKD", "SGD", "INR", "KRW",
})
_ENTRY = re.compile(r"^\s*([A-Za-z0-9.\-]+)\s*:\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*$")


def asset_class(asset: str) -> str:
    """forex (two currency codes: EURUSD), crypto (a Binance-style pair: BTCUSDT) or stock."""
    if len(asset) == 6 and asset[:3] in CURRENCIES and asset[3:] in CURRENCIES:
        return "forex"
    return "crypto" if is_crypto_pair(asset) else "stock"


def parse_fee_schedule(text: str) -> dict[str, float]:
    """{key: percent} from `key:percent,...`; ValueError naming the bad entry.

    Asset symbols keep their case; classes, sources and `default` are lower-cased.
    """
    schedule: dict[str, float] = {}
    for entry in filter(str.strip, text.split(",")):
        match = _ENTRY.match(entry)
        if not match:
            raise ValueError(f"fee schedule entry {entry.strip()!r} is not key:percent "
                             "(e.g. crypto:0.1), percent a number of at least 0")
        key, percent = match.group(1), float(match.group(2))
        if key.lower() == key or key.lower() in (*ASSET_CLASSES, "default"):
            key = key.lower()
        if key in schedule:
            raise ValueError(f"fee schedule names {key!r} twice")
        schedule[key] = percent
    return schedule


def fee_percent(asset: str, schedule: dict[str, float], default: float,
                source: str | None = None) -> float:
    """The fee for one side of a trade in `asset` (served by `source`), in percent."""
    for key in (asset, source, asset_class(asset), "default"):
        if key is not None and key in schedule:
            return schedule[key]
    return default
