"""Where an analysis gets its candles: the candle store (market app) over the configured source.

Stored candles are read first and only the missing tail is fetched; demo mode goes through
the same store (its source is deterministic, so stored demo candles never go stale).
"""

import pandas as pd
from django.conf import settings

import collectors
from market import store


def candle_source(asset: str) -> collectors.CandleSource:
    return store.candle_source(asset)


def load_candles(asset: str, timeframe: str) -> pd.DataFrame:
    """The most recent closed candles, enough for every strategy's warm-up."""
    return store.load_candles(asset, timeframe, settings.ANALYSIS_CANDLES)
