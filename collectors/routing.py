"""Which source serves an asset."""

from functools import lru_cache

from collectors.alphavantage import AlphaVantageSource
from collectors.assets import is_crypto_pair, validate_asset
from collectors.base import CandleSource
from collectors.binance import BinanceSource
from collectors.catalogue import CATALOGUE, CRYPTO, STOCK, demo_asset
from collectors.demo import DemoSource

MODES = ("demo", "live")
SOURCE_NAMES = ("demo", "binance", "alphavantage")


def check_served(asset: str, mode: str) -> str:
    """The asset if the mode serves it, else UnknownSymbol saying why.

    demo serves the demo catalogue only; live serves any well-formed symbol (crypto pairs
    from Binance, the rest from Alpha Vantage, which report symbols they do not list).
    """
    if mode not in MODES:
        raise ValueError(f"unknown market data mode {mode!r}; expected one of {MODES}")
    validate_asset(asset)
    if mode == "demo":
        demo_asset(asset)
    return asset


def served_catalogue(mode: str) -> list[tuple[str, str, str]] | None:
    """(symbol, kind, name) of every asset the mode serves; None when a rule, not a list."""
    if mode == "demo":
        return [(a.symbol, a.kind, a.name) for a in CATALOGUE.values()]
    return None


def asset_kind(asset: str) -> str:
    """"crypto" for a crypto pair, "stock" for anything else (how live mode routes it)."""
    return CRYPTO if is_crypto_pair(asset) else STOCK


def source_for(
    asset: str,
    mode: str,
    *,
    binance_base_url: str,
    alphavantage_base_url: str,
    alphavantage_api_key: str | None,
    overrides: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> CandleSource:
    """The source for an asset.

    "demo" mode serves everything from DemoSource and ignores overrides, so demo mode never
    touches the network. "live" mode sends crypto pairs (BTCUSDT, ETHBTC, ...) to Binance and
    everything else (stock tickers) to Alpha Vantage; overrides (asset -> source name) win.
    A missing Alpha Vantage key is reported by fetch_candles (MissingApiKey), not here.
    timeout is the seconds each HTTP call may take.
    """
    if mode not in MODES:
        raise ValueError(f"unknown market data mode {mode!r}; expected one of {MODES}")
    validate_asset(asset)
    if mode == "demo":
        return _shared_source("demo", "", None, timeout)
    name = (overrides or {}).get(asset) or ("binance" if is_crypto_pair(asset) else "alphavantage")
    if name not in SOURCE_NAMES:
        raise ValueError(f"unknown source {name!r} for {asset}; expected one of {SOURCE_NAMES}")
    if name == "binance":
        return _shared_source(name, binance_base_url, None, timeout)
    if name == "alphavantage":
        return _shared_source(name, alphavantage_base_url, alphavantage_api_key, timeout)
    return _shared_source(name, "", None, timeout)


@lru_cache(maxsize=32)
def _shared_source(name: str, base_url: str, api_key: str | None, timeout: float) -> CandleSource:
    # One instance per configuration per process: keeps the HTTP connection pool and
    # Binance's used-weight reading alive between calls.
    if name == "binance":
        return BinanceSource(base_url=base_url, timeout=timeout)
    if name == "alphavantage":
        return AlphaVantageSource(api_key, base_url=base_url, timeout=timeout)
    return DemoSource()
