import pandas as pd
import pytest

from tests.fake_binance import INTERVAL_MS, oversold_candles

END = "2026-01-20T00:00:00+00:00"
START = "2026-01-01T00:00:00+00:00"
REQUEST = {"strategy": "mean_reversion", "asset": "BTCUSDT", "timeframe": "1h",
           "start": START, "end": END}


@pytest.fixture
def history(binance):
    """BTCUSDT 1h on the Binance stand-in, closed bars up to END."""
    frame = oversold_candles(INTERVAL_MS["1h"], bars=24 * 30, now=pd.Timestamp(END))
    binance[("BTCUSDT", "1h")] = frame
    return frame
