"""Market data collectors: plain Python, no Django. One module per source."""

from collectors.alphavantage import AlphaVantageSource
from collectors.assets import ASSET_PATTERN, validate_asset
from collectors.base import CandleSource
from collectors.binance import BinanceSource
from collectors.catalogue import CATALOGUE, DemoAsset, demo_asset
from collectors.demo import DemoSource
from collectors.errors import (
    MalformedResponse,
    MarketDataError,
    MissingApiKey,
    RateLimited,
    UnknownSymbol,
    UnsupportedTimeframe,
    UpstreamUnavailable,
)
from collectors.frames import find_gaps
from collectors.routing import asset_kind, check_served, served_catalogue, source_for
from collectors.timeframes import TIMEFRAMES, timeframe_seconds

__all__ = [
    "ASSET_PATTERN",
    "CATALOGUE",
    "DemoAsset",
    "asset_kind",
    "check_served",
    "demo_asset",
    "served_catalogue",
    "TIMEFRAMES",
    "AlphaVantageSource",
    "BinanceSource",
    "CandleSource",
    "DemoSource",
    "MalformedResponse",
    "MarketDataError",
    "MissingApiKey",
    "RateLimited",
    "UnknownSymbol",
    "UnsupportedTimeframe",
    "UpstreamUnavailable",
    "find_gaps",
    "source_for",
    "timeframe_seconds",
    "validate_asset",
]
