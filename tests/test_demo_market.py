"""The demo market: one coherent path per catalogue asset, plausible prices, sessions and gaps."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors import TIMEFRAMES, DemoSource, UnknownSymbol, timeframe_seconds
from collectors.catalogue import CATALOGUE, CRYPTO, STOCK
from collectors.timeframes import bar_index_at, bar_open_times
from strategies.lifecycle import refine, settle

NOW = datetime(2024, 3, 14, 15, 9, 26, tzinfo=UTC)
DAY = 86400
CALENDAR = ("1d", "3d", "1w", "1M")
STOCKS = [symbol for symbol, asset in CATALOGUE.items() if asset.kind == STOCK]
CRYPTOS = [symbol for symbol, asset in CATALOGUE.items() if asset.kind == CRYPTO]

moments = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2035, 1, 1)).map(
    lambda moment: moment.replace(tzinfo=UTC)
)


def demo(now: datetime = NOW, seed: int = 0) -> DemoSource:
    return DemoSource(seed=seed, now=lambda: now)


def nests(fine: str, coarse: str) -> bool:
    """Whether every bar of `fine` lies inside one bar of `coarse`."""
    fine_seconds, coarse_seconds = timeframe_seconds(fine), timeframe_seconds(coarse)
    if fine_seconds >= coarse_seconds or DAY % fine_seconds:
        return False
    return coarse in CALENDAR or coarse_seconds % fine_seconds == 0


NESTED_PAIRS = [(f, c) for f in TIMEFRAMES for c in TIMEFRAMES if nests(f, c)]


def aggregate(frame: pd.DataFrame) -> list[float]:
    return [
        frame["open"].iloc[0],
        frame["high"].max(),
        frame["low"].min(),
        frame["close"].iloc[-1],
        frame["volume"].sum(),
    ]


@given(
    asset=st.sampled_from(list(CATALOGUE)),
    pair=st.sampled_from(NESTED_PAIRS),
    now=moments,
    back=st.integers(1, 3),
    seed=st.integers(0, 3),
)
@settings(deadline=None, max_examples=40)
def test_every_coarser_candle_is_exactly_the_aggregate_of_its_finer_candles(
    asset, pair, now, back, seed
):
    fine, coarse = pair
    source = demo(now, seed)
    coarse_bars = source.fetch_candles(asset, coarse, limit=back)
    bar = coarse_bars.iloc[0]
    opens_at = coarse_bars.index[0]
    closes_at = bar_open_times(np.array([bar_index_at(opens_at, coarse) + 1]), coarse)[0]
    finer = source.fetch_candles(
        asset, fine, start=opens_at, end=closes_at - pd.Timedelta(microseconds=1)
    )
    assert len(finer) > 0
    # Exact, not approximate: the same path, and volumes are whole multiples of a power of two.
    assert aggregate(finer) == bar.tolist()


def test_an_hour_is_its_sixty_minutes_and_a_day_its_twenty_four_hours():
    source = demo()
    hour = source.fetch_candles("BTCUSDT", "1h", limit=1)
    last_minute = hour.index[0] + pd.Timedelta(minutes=59)
    minutes = source.fetch_candles("BTCUSDT", "1m", start=hour.index[0], end=last_minute)
    assert len(minutes) == 60 and minutes.index[-1] == hour.index[0] + pd.Timedelta(minutes=59)
    assert aggregate(minutes) == hour.iloc[0].tolist()
    day = source.fetch_candles("ETHUSDT", "1d", limit=1)
    last_hour = day.index[0] + pd.Timedelta(hours=23)
    hours = source.fetch_candles("ETHUSDT", "1h", start=day.index[0], end=last_hour)
    assert aggregate(hours) == day.iloc[0].tolist()


def test_the_open_bar_is_the_aggregate_of_what_has_traded_so_far():
    now = NOW.replace(second=0)  # on a minute boundary: the open bar is its closed minutes
    source = demo(now)
    hour = source.fetch_candles("SOLUSDT", "1h", limit=1, include_open=True)
    minutes = source.fetch_candles("SOLUSDT", "1m", start=hour.index[0])
    assert len(minutes) == now.minute
    open_, high, low, close, volume = aggregate(minutes)
    assert hour.iloc[0].tolist() == pytest.approx([open_, high, low, close, volume], rel=1e-3)


@given(asset=st.sampled_from(STOCKS), now=moments, timeframe=st.sampled_from(["1m", "5m", "1h"]))
@settings(deadline=None, max_examples=25)
def test_stock_candles_never_fall_outside_their_sessions(asset, now, timeframe):
    frame = demo(now).fetch_candles(asset, timeframe, limit=300, include_open=True)
    assert len(frame) == 300  # the most recent 300 bars, however many nights lie between
    session = CATALOGUE[asset].session
    step = pd.Timedelta(seconds=timeframe_seconds(timeframe))
    first_minute = frame.index.tz_convert(session.timezone)
    last_minute = (frame.index + step - pd.Timedelta(minutes=1)).tz_convert(session.timezone)
    opens = session.opens.hour * 60 + session.opens.minute
    closes = session.closes.hour * 60 + session.closes.minute
    assert (first_minute.day_of_week < 5).all()
    # Some minute of the bar is inside the session.
    assert (last_minute.hour * 60 + last_minute.minute >= opens).all()
    assert (first_minute.hour * 60 + first_minute.minute < closes).all()
    if timeframe == "1m":
        local = first_minute.hour * 60 + first_minute.minute
        assert ((local >= opens) & (local < closes)).all()


def test_stock_daily_bars_are_one_per_weekday_session_and_sessions_open_with_a_gap():
    days = demo().fetch_candles("AAPL", "1d", limit=60)
    assert (days.index.day_of_week < 5).all()
    assert len(days) == 60 and (days.index[-1] - days.index[0]).days < 90
    # The overnight (and weekend) move shows as a gap at every session's open.
    assert (days["open"].to_numpy()[1:] != days["close"].to_numpy()[:-1]).all()
    minutes = demo().fetch_candles("AAPL", "1m", limit=390 * 3)
    new_session = np.diff(minutes.index.asi8) > 60 * 10**9
    jumps = minutes["open"].to_numpy()[1:] != minutes["close"].to_numpy()[:-1]
    assert new_session.sum() >= 2
    assert (jumps == new_session).all()  # in a session every minute opens at the last close


def test_a_long_crypto_series_has_rare_bars_that_open_away_from_the_previous_close():
    hours = demo().fetch_candles("BTCUSDT", "1h", limit=3000)
    gaps = hours["open"].to_numpy()[1:] != hours["close"].to_numpy()[:-1]
    assert 0 < gaps.sum() < 0.02 * len(gaps)


@given(asset=st.sampled_from(list(CATALOGUE)), now=moments, timeframe=st.sampled_from(CALENDAR))
@settings(deadline=None, max_examples=30)
def test_prices_stay_in_the_catalogue_band(asset, now, timeframe):
    listing = CATALOGUE[asset]
    frame = demo(now).fetch_candles(asset, timeframe, limit=200)
    assert frame["low"].min() >= listing.price_low
    assert frame["high"].max() <= listing.price_high


@pytest.mark.parametrize("asset", ["BTCUSDT", "DOGEUSDT", "AAPL", "MSFT", "NVDA"])
def test_daily_volatility_is_about_the_catalogue_figure(asset):
    closes = demo().fetch_candles(asset, "1d", limit=1000)["close"]
    realised = np.log(closes).diff().std()
    assert 0.5 * CATALOGUE[asset].daily_volatility < realised
    assert realised < 1.6 * CATALOGUE[asset].daily_volatility


def test_catalogue_prices_are_plausible():
    assert 55_000 <= CATALOGUE["BTCUSDT"].price_low < CATALOGUE["BTCUSDT"].price_high <= 120_000
    assert CATALOGUE["DOGEUSDT"].price_high <= 0.5
    assert 90 <= CATALOGUE["NVDA"].price_low and CATALOGUE["NVDA"].price_high <= 200
    assert CATALOGUE["AAPL"].session is not None and CATALOGUE["BTCUSDT"].session is None


def test_a_symbol_outside_the_catalogue_is_unknown_and_the_catalogue_is_listed():
    with pytest.raises(UnknownSymbol) as raised:
        demo().fetch_candles("NOTACOIN", "1h")
    assert "NOTACOIN" in str(raised.value)
    assert all(symbol in str(raised.value) for symbol in CATALOGUE)


def test_daily_candles_do_not_need_the_minutes_of_the_whole_range():
    # 500 daily candles stand for 720,000 minutes; the day level is generated on its own, so
    # this is a few thousand numbers (bench/collectors.py times it).
    frame = demo(seed=987).fetch_candles("BTCUSDT", "1d", limit=500)
    assert len(frame) == 500
    assert frame.index[-1] == pd.Timestamp("2024-03-13", tz="UTC")
    later = demo(NOW + timedelta(days=1), seed=987).fetch_candles("BTCUSDT", "1d", limit=500)
    pd.testing.assert_frame_equal(frame.iloc[1:], later.iloc[:-1])


# --- refine on the demo market: the reproduction with pure functions ---


def test_refine_on_demo_minutes_never_settles_outside_the_hour_it_refines():
    source = demo()
    hours = source.fetch_candles("BTCUSDT", "1h", limit=24)
    refined_to_wins = refined_to_losses = 0
    for opens_at, bar in hours.iterrows():
        last_minute = opens_at + pd.Timedelta(minutes=59)
        minutes = source.fetch_candles("BTCUSDT", "1m", start=opens_at, end=last_minute)
        # Stop just above the bar's low, target just below its high: settle cannot tell.
        stop, target = bar["low"] * (1 + 1e-4), bar["high"] * (1 - 1e-4)
        entry = bar["open"]  # the bar opens between the levels, not through one
        if not stop < entry < target:
            continue
        outcome = settle("long", entry, stop, target, hours.loc[[opens_at]], 1, 0.0, 3600)
        assert outcome.ambiguous and outcome.result == "loss"
        refined = refine(outcome, "long", entry, stop, target, minutes, 0.0, 60, 3600)
        assert bar["low"] <= refined.close_price <= bar["high"]
        assert -1.05 <= refined.r_multiple <= (target - entry) / (entry - stop) + 1e-9
        assert not refined.ambiguous  # the minutes are this hour's: they decide
        assert refined.refine_rejected == ""
        refined_to_wins += refined.result == "win"
        refined_to_losses += refined.result == "loss"
    assert refined_to_wins > 0 and refined_to_losses > 0


@pytest.mark.parametrize("timeframe", ["1w", "1M", "1d"])
def test_the_history_starts_at_the_epoch_even_for_the_week_that_opens_before_it(timeframe):
    frame = demo(datetime(1970, 3, 1, tzinfo=UTC)).fetch_candles(
        "AAPL", timeframe, limit=100, include_open=True
    )
    assert len(frame) > 0
    assert frame.index[0] <= pd.Timestamp("1970-01-01", tz="UTC")
