"""Where an analysis gets its candles: the configured collector for the asset."""

import pandas as pd
from django.conf import settings

import collectors


def candle_source(asset: str) -> collectors.CandleSource:
    return collectors.source_for(
        asset,
        settings.MARKET_DATA_MODE,
        binance_base_url=settings.BINANCE_BASE_URL,
        alphavantage_base_url=settings.ALPHAVANTAGE_BASE_URL,
        alphavantage_api_key=settings.ALPHAVANTAGE_API_KEY or None,
    )


def load_candles(asset: str, timeframe: str) -> pd.DataFrame:
    """The most recent closed candles, enough for every strategy's warm-up."""
    return candle_source(asset).fetch_candles(asset, timeframe, limit=settings.ANALYSIS_CANDLES)
