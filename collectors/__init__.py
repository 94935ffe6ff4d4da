"""Market data collectors: plain Python, no Django. One module per source."""

from collectors.alphavantage import AlphaVantageSource
from collectors.assets import ASSET_PATTERN, validate_asset
from collectors.base import CandleSource
from collectors.binance import BinanceSource
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
from collectors.routing import source_for
from collectors.timeframes import TIMEFRAMES, timeframe_seconds

__all__ = [
    "ASSET_PATTERN",
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
