"""DemoSource: one coherent, deterministic synthetic market per catalogue asset, no network.

Every timeframe of an asset is an aggregate of one 1m path: a 1h candle's open, high, low,
close and volume are exactly those of its sixty 1m candles (open of the first, highest high,
lowest low, close of the last, sum of volumes), and a 1d candle those of its day's 1m candles.

The path is built top down so that any window is cheap (500 daily candles need no minutes):
- days (for stocks: sessions), in blocks of DAY_BLOCK days: a random walk with ranging,
  trending and turbulent regimes, AR(1) log-volatility and Student-t shocks, bridged between
  anchor levels drawn per block boundary and squashed into the asset's price band. A day opens
  at the previous day's close, except for rare gaps in crypto and the overnight move of stocks
  (weekends move the price too, so Monday's session opens further away);
- each day is split into its UTC hour slots and each hour slot into its minutes by `_split`:
  a random path that starts at the parent's open, ends at its close and is stretched to reach
  exactly its high and low, with the parent's volume dealt out among the children.
Each block has its own counter-based generator keyed by (seed, asset, level, block), so a
candle never depends on the requested window or on the time of the request, and new candles
appear as the clock moves on. Volumes are whole multiples of the asset's volume unit (a power
of two), so every sum is exact in floating point and aggregates compare equal.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np
import pandas as pd

from collectors.base import CandleSource, plan_window
from collectors.catalogue import CATALOGUE, DemoAsset, demo_asset
from collectors.frames import COLUMNS, empty_candles
from collectors.timeframes import (
    bar_open_times,
    first_bar_index_from,
    timeframe_seconds,
    to_utc,
    utc_now,
)

DAY_BLOCK = 128  # days per block of the day level (the anchor spacing)
HOUR_BLOCK = 16  # days whose hour slots are generated together; divides DAY_BLOCK
# Guards memory and time: a window of more bars than this is refused.
MAX_BARS = 1_000_000

MINUTES_PER_DAY = 1440
_NS_PER_MINUTE = 60_000_000_000
_LEVEL_PROFILE, _LEVEL_ANCHOR, _LEVEL_DAY, _LEVEL_HOUR, _LEVEL_MINUTE = range(5)

# Regimes: ranging, trending up, trending down, turbulent. Drift in units of daily volatility.
_REGIME_DRIFT = np.array([0.0, 0.12, -0.12, 0.0])
_REGIME_VOLATILITY = np.array([0.8, 1.0, 1.0, 1.8])
_REGIME_SWITCH_PROBABILITY = 1 / 40

_VOL_PERSISTENCE = 0.9  # AR(1) coefficient of daily log-volatility
_VOL_OF_VOL = 0.3  # its stationary standard deviation
_VOL_KERNEL = _VOL_PERSISTENCE ** np.arange(60)  # truncated AR(1) impulse response
_STUDENT_DF = 5

CRYPTO_DAY_GAP_RATE = 1 / 30  # a crypto day opening away from the previous close
CRYPTO_HOUR_GAP_RATE = 1 / 400  # an hour slot opening away from the previous one's close
STOCK_OVERNIGHT_SHARE = 0.35  # overnight gap, in daily volatilities
WEEKEND_VOLATILITY_SHARE = 0.3  # a closed day moves the (unseen) price this much


def _asset_key(symbol: str) -> int:
    # hashlib, not hash(): must be stable across processes (hash() is salted per process).
    return int.from_bytes(hashlib.sha256(symbol.encode()).digest()[:8], "big")


def _generator(seed: int, symbol: str, level: int, block: int) -> np.random.Generator:
    entropy = [seed, _asset_key(symbol), level, block]
    return np.random.Generator(np.random.Philox(np.random.SeedSequence(entropy)))


def _student_t(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fat-tailed shocks with unit variance."""
    return rng.standard_t(_STUDENT_DF, size=size) / np.sqrt(_STUDENT_DF / (_STUDENT_DF - 2))


@dataclass(frozen=True)
class Bars:
    """One level of the path: bars in time order.

    start: minute since the epoch the bar's trading starts (a day: its UTC midnight);
    prices: n x 4 (open, high, low, close); volume: n whole volume units (int64).
    """

    start: np.ndarray
    prices: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    def take(self, keep: np.ndarray) -> "Bars":
        return Bars(self.start[keep], self.prices[keep], self.volume[keep])


def _concat(parts: list[Bars]) -> Bars:
    if not parts:
        return Bars(np.empty(0, np.int64), np.empty((0, 4)), np.empty(0, np.int64))
    return Bars(
        np.concatenate([p.start for p in parts]),
        np.concatenate([p.prices for p in parts]),
        np.concatenate([p.volume for p in parts]),
    )


def _band(asset: DemoAsset) -> tuple[float, float]:
    """(centre, half width) of the asset's log-price band."""
    low, high = np.log(asset.price_low), np.log(asset.price_high)
    return (low + high) / 2, (high - low) / 2


def _squash(latent: np.ndarray, asset: DemoAsset) -> np.ndarray:
    # A monotone map of the unbounded walk into the band: bar invariants survive it.
    centre, half = _band(asset)
    return np.exp(centre + half * np.tanh(latent / half))


@lru_cache(maxsize=4096)
def _anchor(seed: int, symbol: str, boundary: int) -> float:
    """The latent level at the start of day block `boundary`."""
    _, half = _band(CATALOGUE[symbol])
    return float(_generator(seed, symbol, _LEVEL_ANCHOR, boundary).normal() * 0.4 * half)


def _trading(asset: DemoAsset, days: np.ndarray) -> np.ndarray:
    """Whether each day (counted from the epoch) has a session."""
    if asset.session is None:
        return np.ones(len(days), bool)
    weekdays = np.zeros(7, bool)
    weekdays[list(asset.session.weekdays)] = True
    return weekdays[(days + 3) % 7]  # 1970-01-01 was a Thursday


def _sessions(asset: DemoAsset, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first minute, end minute) of each day's trading, counted from its UTC midnight.

    Both 0 on a day without a session. Sessions are assumed to lie inside one UTC day
    (true of US equities in winter and summer time).
    """
    session = asset.session
    if session is None:
        return np.zeros(len(days), np.int64), np.full(len(days), MINUTES_PER_DAY, np.int64)
    trading = _trading(asset, days)
    local_midnight = days.astype("datetime64[D]").astype("datetime64[ns]")
    opens_at = np.timedelta64(session.opens.hour * 60 + session.opens.minute, "m")
    local_open = pd.DatetimeIndex(local_midnight + opens_at).tz_localize(session.timezone)
    first = local_open.as_unit("ns").asi8 // _NS_PER_MINUTE - days * MINUTES_PER_DAY
    end = first + session.minutes
    return np.where(trading, first, 0), np.where(trading, end, 0)


@dataclass(frozen=True)
class DayBlock:
    bars: Bars  # every day of the block, trading or not
    trading: np.ndarray  # whether the day has a session
    volatility: np.ndarray  # each day's log volatility


@lru_cache(maxsize=512)
def _day_block(seed: int, symbol: str, block: int) -> DayBlock:
    """Days block*DAY_BLOCK .. (block+1)*DAY_BLOCK - 1 of an asset."""
    asset = CATALOGUE[symbol]
    rng = _generator(seed, symbol, _LEVEL_DAY, block)
    n = DAY_BLOCK
    days = block * n + np.arange(n, dtype=np.int64)
    trading = _trading(asset, days)
    sigma = asset.daily_volatility

    segment = np.cumsum(rng.random(n) < _REGIME_SWITCH_PROBABILITY)
    regime = rng.integers(0, len(_REGIME_DRIFT), size=segment[-1] + 1)[segment]
    burn_in = len(_VOL_KERNEL)
    shocks = rng.normal(scale=_VOL_OF_VOL * np.sqrt(1 - _VOL_PERSISTENCE**2), size=n + burn_in)
    log_vol = np.convolve(shocks, _VOL_KERNEL)[burn_in : burn_in + n]
    volatility = sigma * _REGIME_VOLATILITY[regime] * np.exp(log_vol - _VOL_OF_VOL**2 / 2)
    volatility = np.where(trading, volatility, volatility * WEEKEND_VOLATILITY_SHARE)

    z = _student_t(rng, n)
    returns = _REGIME_DRIFT[regime] * sigma * trading + volatility * z
    walk = np.concatenate(([0.0], np.cumsum(returns)))
    position = np.linspace(0.0, 1.0, n + 1)
    start_anchor, end_anchor = _anchor(seed, symbol, block), _anchor(seed, symbol, block + 1)
    latent = start_anchor + (end_anchor - start_anchor) * position + walk - position * walk[-1]
    # Pinned to the anchors exactly, so block k's last close is block k+1's first open.
    latent[0], latent[-1] = start_anchor, end_anchor

    if asset.session is None:
        jump = rng.random(n) < CRYPTO_DAY_GAP_RATE
        gaps = np.where(jump, rng.normal(scale=0.8 * sigma, size=n), 0.0)
    else:
        gaps = rng.normal(scale=STOCK_OVERNIGHT_SHARE * sigma, size=n)
    opens, closes = latent[:-1] + gaps, latent[1:]
    highs = np.maximum(opens, closes) + np.abs(rng.normal(scale=0.6, size=n)) * volatility
    lows = np.minimum(opens, closes) - np.abs(rng.normal(scale=0.6, size=n)) * volatility
    prices = _squash(np.column_stack([opens, highs, lows, closes]), asset)
    prices[:, 1] = prices.max(axis=1)  # guards the invariants against rounding in _squash
    prices[:, 2] = prices.min(axis=1)

    activity = (volatility / sigma) * (0.5 + np.abs(z)) * np.exp(rng.normal(0, 0.3, n))
    units = asset.daily_notional / prices[:, 3] / asset.volume_unit * activity
    # At least a few units per traded minute: every minute gets a positive volume.
    minutes = MINUTES_PER_DAY if asset.session is None else asset.session.minutes
    volume = np.where(trading, np.maximum(np.rint(units).astype(np.int64), 4 * minutes), 0)
    bars = Bars(days * MINUTES_PER_DAY, prices, volume)
    return DayBlock(bars, trading, volatility)


def _split(
    rng: np.random.Generator,
    parents: Bars,
    sizes: np.ndarray,
    child_starts: np.ndarray,
    child_volatility: np.ndarray,
    child_floor: np.ndarray,
    gap_rate: float,
) -> Bars:
    """The children of each parent bar, `sizes[i]` of parent i, in time order.

    Their first open is the parent's open, their last close its close, their highest high and
    lowest low its high and low, and their volumes add up to its volume (each at least its
    child_floor): the parent is exactly their aggregate. child_starts, child_volatility and
    child_floor are per child.
    """
    if len(parents) == 0:
        return _concat([])
    total = int(sizes.sum())
    owner = np.repeat(np.arange(len(parents)), sizes)
    firsts = np.cumsum(sizes) - sizes
    lasts = firsts + sizes - 1
    position = np.arange(total) - firsts[owner]
    fraction = (position + 1) / sizes[owner]

    z = _student_t(rng, total)
    volatility = child_volatility * np.exp(rng.normal(scale=0.3, size=total) - 0.045)
    returns = volatility * z
    jumped = (rng.random(total) < gap_rate) & (position > 0)
    jumps = np.where(jumped, rng.normal(scale=3.0, size=total) * volatility, 0.0)
    walk = np.cumsum(returns + jumps)
    walk -= (walk[firsts] - returns[firsts] - jumps[firsts])[owner]  # each parent from 0

    log_open, log_high, log_low, log_close = np.log(parents.prices).T
    # A bridge: shifted linearly so the last child closes at the parent's close.
    shift = (log_close - log_open - walk[lasts])[owner]
    closes = log_open[owner] + walk + shift * fraction
    opens = np.empty(total)
    opens[1:] = closes[:-1] + jumps[1:]  # + 0.0 keeps an ungapped open equal to the close
    opens[firsts] = log_open
    highs = np.maximum(opens, closes) + np.abs(rng.normal(scale=0.5, size=total)) * volatility
    lows = np.minimum(opens, closes) - np.abs(rng.normal(scale=0.5, size=total)) * volatility

    # Stretch (or shrink) the path above max(open, close) and below min(open, close) so its
    # extremes land on the parent's high and low; in between it is left as it is.
    top, bottom = np.maximum(log_open, log_close), np.minimum(log_open, log_close)
    raw_high, raw_low = np.maximum.reduceat(highs, firsts), np.minimum.reduceat(lows, firsts)
    up = np.divide(log_high - top, raw_high - top, out=np.zeros(len(top)), where=raw_high > top)
    down = np.divide(
        bottom - log_low, bottom - raw_low, out=np.zeros(len(top)), where=raw_low < bottom
    )
    top, bottom, up, down = top[owner], bottom[owner], up[owner], down[owner]

    def fit(values: np.ndarray) -> np.ndarray:
        above = top + (values - top) * up
        below = bottom - (bottom - values) * down
        return np.where(values > top, above, np.where(values < bottom, below, values))

    high_at = _first_in_segment(highs == raw_high[owner], owner)
    low_at = _first_in_segment(lows == raw_low[owner], owner)
    parent_low, parent_high = parents.prices[owner, 2], parents.prices[owner, 1]
    prices = np.column_stack([fit(opens), fit(highs), fit(lows), fit(closes)])
    prices = np.clip(np.exp(prices), parent_low[:, None], parent_high[:, None])
    prices[firsts, 0] = parents.prices[:, 0]
    prices[lasts, 3] = parents.prices[:, 3]
    prices[high_at, 1] = parents.prices[:, 1]
    prices[low_at, 2] = parents.prices[:, 2]
    prices[:, 1] = prices.max(axis=1)
    prices[:, 2] = prices.min(axis=1)

    # Deal each parent's volume out: the floor to every child, the rest by activity.
    weights = (0.5 + np.abs(z)) * np.exp(rng.normal(scale=0.3, size=total))
    width = int(sizes.max())
    # Right-aligned rows: multinomial gives the last column the remainder, so it must be real.
    column = width - sizes[owner] + position
    share = np.zeros((len(parents), width))
    share[owner, column] = weights
    share /= share.sum(axis=1, keepdims=True)
    free = parents.volume - np.add.reduceat(child_floor, firsts)
    volume = child_floor + rng.multinomial(free, share)[owner, column]
    return Bars(child_starts, prices, volume)


def _first_in_segment(hits: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """The first hit of each segment (every segment has one)."""
    where = np.flatnonzero(hits)
    _, first = np.unique(owner[where], return_index=True)
    return where[first]


def _days(seed: int, symbol: str, first_day: int, last_day: int) -> DayBlock:
    """Days first_day..last_day (inclusive, >= 0), trading or not."""
    block_range = range(first_day // DAY_BLOCK, last_day // DAY_BLOCK + 1)
    blocks = [_day_block(seed, symbol, k) for k in block_range]
    cut = slice(first_day - first_day // DAY_BLOCK * DAY_BLOCK, None)
    count = last_day - first_day + 1
    return DayBlock(
        _concat([b.bars for b in blocks]).take(cut).take(slice(0, count)),
        np.concatenate([b.trading for b in blocks])[cut][:count],
        np.concatenate([b.volatility for b in blocks])[cut][:count],
    )


@dataclass(frozen=True)
class HourBlock:
    bars: Bars  # hour slots: the part of each UTC hour inside a session
    minutes: np.ndarray  # traded minutes in each slot
    volatility: np.ndarray  # each slot's day volatility per sqrt(session minute)


@lru_cache(maxsize=256)
def _hour_block(seed: int, symbol: str, block: int) -> HourBlock:
    """The hour slots of days block*HOUR_BLOCK .. (block+1)*HOUR_BLOCK - 1."""
    asset = CATALOGUE[symbol]
    first_day = block * HOUR_BLOCK
    days = _days(seed, symbol, first_day, first_day + HOUR_BLOCK - 1)
    trading = days.trading
    session_first, session_end = _sessions(asset, days.bars.start[trading] // MINUTES_PER_DAY)
    midnight = days.bars.start[trading]
    first_hour, last_hour = session_first // 60, (session_end - 1) // 60
    sizes = last_hour - first_hour + 1
    owner = np.repeat(np.arange(len(sizes)), sizes)
    hour = first_hour[owner] + np.arange(int(sizes.sum())) - (np.cumsum(sizes) - sizes)[owner]
    slot_first = np.maximum(session_first[owner], hour * 60)
    minutes = np.minimum(session_end[owner], hour * 60 + 60) - slot_first
    per_minute = days.volatility[trading] / np.sqrt(session_end - session_first)
    gap_rate = CRYPTO_HOUR_GAP_RATE if asset.session is None else 0.0
    bars = _split(
        _generator(seed, symbol, _LEVEL_HOUR, block),
        days.bars.take(trading),
        sizes,
        midnight[owner] + slot_first,
        per_minute[owner] * np.sqrt(minutes),
        minutes,
        gap_rate,
    )
    return HourBlock(bars, minutes, per_minute[owner])


def _hours(seed: int, symbol: str, first_day: int, last_day: int) -> HourBlock:
    if last_day < first_day:  # nothing asked for (e.g. the range ends before it starts)
        return HourBlock(_concat([]), np.empty(0, np.int64), np.empty(0))
    blocks = [
        _hour_block(seed, symbol, k)
        for k in range(first_day // HOUR_BLOCK, last_day // HOUR_BLOCK + 1)
    ]
    bars = _concat([b.bars for b in blocks])
    day = bars.start // MINUTES_PER_DAY
    keep = (day >= first_day) & (day <= last_day)
    return HourBlock(
        bars.take(keep),
        np.concatenate([b.minutes for b in blocks])[keep],
        np.concatenate([b.volatility for b in blocks])[keep],
    )


@lru_cache(maxsize=128)
def _minute_day(seed: int, symbol: str, day: int) -> Bars:
    """The 1m bars of one day (none on a day without a session)."""
    slots = _hours(seed, symbol, day, day)
    if len(slots.bars) == 0:
        return _concat([])
    sizes = slots.minutes
    owner = np.repeat(np.arange(len(sizes)), sizes)
    offset = np.arange(int(sizes.sum())) - (np.cumsum(sizes) - sizes)[owner]
    return _split(
        _generator(seed, symbol, _LEVEL_MINUTE, day),
        slots.bars,
        sizes,
        slots.bars.start[owner] + offset,
        slots.volatility[owner],
        np.ones(len(owner), np.int64),
        0.0,
    )


def _minutes(seed: int, symbol: str, first_day: int, last_day: int) -> Bars:
    return _concat([_minute_day(seed, symbol, day) for day in range(first_day, last_day + 1)])


# Which level a timeframe aggregates: intraday timeframes divide an hour or a day.
_MINUTE_LEVEL = ("1m", "3m", "5m", "15m", "30m")
_HOUR_LEVEL = ("1h", "2h", "4h", "6h", "8h", "12h")


def _day_keys(days: np.ndarray, timeframe: str) -> np.ndarray:
    """Bar index of each day in a timeframe of a day or more (see collectors.timeframes)."""
    if timeframe == "1M":
        return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    if timeframe == "1w":
        return (days + 3) // 7  # weeks open on Monday, 3 days before the epoch
    return days // (timeframe_seconds(timeframe) // 86400)


def _level(seed: int, symbol: str, timeframe: str, first: int, last: int):
    """(bars, bar index of each) for the bars that make up bar indexes first..last."""
    if timeframe in _MINUTE_LEVEL or timeframe in _HOUR_LEVEL:
        step = timeframe_seconds(timeframe) // 60
        first_day, last_day = first * step // MINUTES_PER_DAY, (last * step + step - 1) // 1440
        if timeframe in _MINUTE_LEVEL:
            bars = _minutes(seed, symbol, first_day, last_day)
        else:
            bars = _hours(seed, symbol, first_day, last_day).bars
        return bars, bars.start // step
    opens = bar_open_times(np.array([first, last + 1]), timeframe).as_unit("ns").asi8
    first_day, end_day = opens // (_NS_PER_MINUTE * MINUTES_PER_DAY)
    # Week 0 opens three days before the epoch, where the demo history starts.
    days = _days(seed, symbol, max(0, int(first_day)), int(end_day) - 1)
    bars = days.bars.take(days.trading)
    return bars, _day_keys(bars.start // MINUTES_PER_DAY, timeframe)


def _aggregate(bars: Bars, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bar indexes, n x 5 rows) of consecutive bars grouped by key."""
    if len(bars) == 0:
        return np.empty(0, np.int64), np.empty((0, 5))
    starts = np.flatnonzero(np.diff(keys, prepend=keys[0] - 1))
    ends = np.append(starts[1:], len(keys)) - 1
    prices = bars.prices
    rows = np.column_stack(
        [
            prices[starts, 0],
            np.maximum.reduceat(prices[:, 1], starts),
            np.minimum.reduceat(prices[:, 2], starts),
            prices[ends, 3],
            np.add.reduceat(bars.volume, starts).astype(np.float64),
        ]
    )
    return keys[starts], rows


def demo_bars(
    seed: int, symbol: str, timeframe: str, first: int, last: int
) -> tuple[np.ndarray, np.ndarray]:
    """(bar indexes, n x 5 rows open high low close volume) of the closed bars first..last.

    Bars without any trading (stock nights and weekends) are absent.
    """
    bars, keys = _level(seed, symbol, timeframe, first, last)
    keep = (keys >= first) & (keys <= last)
    indexes, rows = _aggregate(bars.take(keep), keys[keep])
    rows[:, 4] *= CATALOGUE[symbol].volume_unit
    return indexes, rows


def _partial_bar(bar: np.ndarray, elapsed_fraction: float) -> np.ndarray:
    """The still-open 1m bar as seen part way through: it grows into the final bar."""
    open_, high, low, close, volume = bar
    partial_close = open_ + (close - open_) * elapsed_fraction
    partial_high = max(open_, partial_close) + (high - max(open_, close)) * elapsed_fraction
    partial_low = min(open_, partial_close) - (min(open_, close) - low) * elapsed_fraction
    partial_volume = volume * max(elapsed_fraction, 1e-3)
    return np.array([open_, partial_high, partial_low, partial_close, partial_volume])


def open_bar(seed: int, symbol: str, timeframe: str, bar: int, now: pd.Timestamp):
    """The bar open at `now` as traded so far: its closed days and minutes plus the growing
    current minute; None when nothing has traded in it yet."""
    unit = CATALOGUE[symbol].volume_unit
    bar_start = int(bar_open_times(np.array([bar]), timeframe).as_unit("ns").asi8[0])
    bar_minute = bar_start // _NS_PER_MINUTE
    now_ns = now.as_unit("ns").value
    now_minute, today = now_ns // _NS_PER_MINUTE, now_ns // _NS_PER_MINUTE // MINUTES_PER_DAY
    pieces = []
    if bar_minute // MINUTES_PER_DAY < today:  # a bar of several days: its closed days
        days = _days(seed, symbol, max(0, bar_minute // MINUTES_PER_DAY), today - 1)
        pieces.append(days.bars.take(days.trading))
    minutes = _minute_day(seed, symbol, today)
    closed = (minutes.start >= bar_minute) & (minutes.start < now_minute)
    pieces.append(minutes.take(closed))
    traded = _concat(pieces)
    rows = np.column_stack([traded.prices, traded.volume * unit])
    current = np.flatnonzero(minutes.start == now_minute)
    if len(current):
        whole = np.append(minutes.prices[current[0]], minutes.volume[current[0]] * unit)
        elapsed = (now_ns % _NS_PER_MINUTE) / _NS_PER_MINUTE
        rows = np.vstack([rows, _partial_bar(whole, elapsed)])
    if len(rows) == 0:
        return None
    return np.array(
        [rows[0, 0], rows[:, 1].max(), rows[:, 2].min(), rows[-1, 3], rows[:, 4].sum()]
    )


def _session_span(asset: DemoAsset, timeframe: str, bars: int) -> int:
    """About half the grid bars that hold `bars` bars of a session-traded asset (the caller
    doubles it): a week of them per five sessions, plus a long weekend."""
    step = timeframe_seconds(timeframe) // 60
    if step >= MINUTES_PER_DAY:
        return bars if timeframe != "1d" else (bars * 7 // 5 + 4) // 2
    per_session = -(-asset.session.minutes // step) + 1
    days = -(-bars // per_session) * 7 // 5 + 4
    return days * MINUTES_PER_DAY // step // 2


class DemoSource(CandleSource):
    """Candles of the demo market's catalogue assets (collectors.catalogue); any other
    symbol is UnknownSymbol."""

    name = "demo"

    def __init__(self, seed: int = 0, now: Callable[[], datetime] | None = None) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.seed = seed
        self._now = now or utc_now

    def fetch_candles(
        self,
        asset: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
        include_open: bool = False,
    ) -> pd.DataFrame:
        listing = demo_asset(asset)
        timeframe_seconds(timeframe)
        now = to_utc(self._now())
        window = plan_window(
            timeframe, now=now, start=start, end=end, limit=limit, include_open=include_open
        )
        lowest = 0 if start is None else max(0, first_bar_index_from(start, timeframe))
        first, last = max(window.first, 0), window.last  # the demo history starts at the epoch
        if last < first:
            return empty_candles()
        if last - first + 1 > MAX_BARS:
            raise ValueError(f"range of {last - first + 1} bars exceeds the demo limit {MAX_BARS}")

        current = None
        if last == window.open_bar:
            current = open_bar(self.seed, asset, timeframe, last, now)
        closed_last = last - 1 if last == window.open_bar else last
        indexes, rows = demo_bars(self.seed, asset, timeframe, first, closed_last)
        wanted = None if limit is None else limit - (current is not None)
        if listing.session is not None and wanted is not None:
            # Closed hours leave bars out: look further back for the most recent `limit`.
            span = _session_span(listing, timeframe, wanted)
            while len(indexes) < wanted and first > lowest and span < MAX_BARS:
                span = min(MAX_BARS, span * 2)
                first = max(lowest, closed_last - span + 1)
                indexes, rows = demo_bars(self.seed, asset, timeframe, first, closed_last)
        if wanted is not None:
            keep_from = max(0, len(indexes) - wanted)
            indexes, rows = indexes[keep_from:], rows[keep_from:]
        if current is not None:
            indexes, rows = np.append(indexes, last), np.vstack([rows, current])
        frame = pd.DataFrame(rows, index=bar_open_times(indexes, timeframe), columns=COLUMNS)
        frame.attrs["rejected"] = 0
        return frame
