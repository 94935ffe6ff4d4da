"""Strategies: registry, parameters, when each fires, signal geometry, latest(), look-ahead."""

import json
import math

import numpy as np
import pandas as pd
import pytest

import strategies
from strategies import indicators
from strategies.base import Evaluation, Strategy

START = pd.Timestamp("2024-01-01", tz="UTC")


def frame_from_closes(closes, volumes=None, spread: float = 0.002) -> pd.DataFrame:
    """Bars that open at the previous close and reach `spread` beyond both ends of the body."""
    closes = np.asarray(closes, dtype=float)
    opens = np.r_[closes[0], closes[:-1]]
    volumes = np.full(len(closes), 1000.0) if volumes is None else np.asarray(volumes, float)
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, closes) * (1 + spread),
            "low": np.minimum(opens, closes) * (1 - spread),
            "close": closes,
            "volume": volumes,
        },
        index=pd.date_range(START, periods=len(closes), freq="h"),
    )


def random_walk_with_regimes(size: int = 6000, seed: int = 11) -> pd.DataFrame:
    """Hourly random walk whose volatility switches between calm and wild every 500 bars."""
    rng = np.random.default_rng(seed)
    volatility = np.where((np.arange(size) // 500) % 2 == 0, 0.004, 0.015)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 1, size) * volatility))
    opens = np.r_[closes[0], closes[:-1]] * (1 + rng.normal(0, 0.1, size) * volatility)
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, closes) * (1 + rng.uniform(0, 1, size) * volatility),
            "low": np.minimum(opens, closes) * (1 - rng.uniform(0, 1, size) * volatility),
            "close": closes,
            "volume": rng.lognormal(10, 0.5, size) * (1 + 3 * volatility / 0.015),
        },
        index=pd.date_range(START, periods=size, freq="h"),
    )


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return random_walk_with_regimes()


ALL = sorted(strategies.available())


# ---- registry and parameters ----

def test_registry_lists_the_strategies_sorted_by_name():
    assert list(strategies.available()) == ["breakout", "mean_reversion", "trend_following"]
    assert strategies.get("breakout").name == "breakout"


def test_unknown_strategy_is_a_lookup_error_naming_it():
    with pytest.raises(LookupError, match="no_such_thing"):
        strategies.get("no_such_thing")
    with pytest.raises(strategies.UnknownStrategy):
        strategies.get("no_such_thing")


@pytest.mark.parametrize("name", ALL)
def test_schema_is_json_and_has_expiry_bars(name):
    schema = strategies.get(name).schema()
    assert json.loads(json.dumps(schema)) == schema
    assert schema["expiry_bars"]["type"] == "int"
    for spec in schema.values():
        assert set(spec) == {"type", "default", "minimum", "maximum", "description"}


@pytest.mark.parametrize("name", ALL)
def test_defaults_fill_the_parameters(name):
    strategy = strategies.get(name)(expiry_bars=12)
    assert strategy.params["expiry_bars"] == 12
    assert strategy.expiry_bars == 12
    assert set(strategy.params) == set(strategy.parameters)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"bogus": 1}, "bogus"),
        ({"bb_period": 1}, "bb_period"),
        ({"bb_period": 501}, "bb_period"),
        ({"bb_period": 20.5}, "bb_period"),
        ({"bb_period": True}, "bb_period"),
        ({"stop_atr": 0}, "stop_atr"),
        ({"stop_atr": "2"}, "stop_atr"),
        ({"stop_atr": float("nan")}, "stop_atr"),
        ({"rsi_oversold": 50, "rsi_overbought": 50}, "rsi_oversold"),
    ],
)
def test_parameter_errors_name_the_parameter(params, parameter):
    with pytest.raises(strategies.ParameterError) as error:
        strategies.get("mean_reversion")(**params)
    assert error.value.parameter == parameter
    assert parameter in str(error.value)


def test_cross_parameter_rules_name_the_parameter():
    with pytest.raises(strategies.ParameterError, match="fast_period"):
        strategies.get("trend_following")(fast_period=50, slow_period=20)
    with pytest.raises(strategies.ParameterError, match="use_macd"):
        strategies.get("trend_following")(use_macd=1)


def test_ints_are_accepted_for_floats():
    assert strategies.get("breakout")(volume_factor=2).params["volume_factor"] == 2.0


# ---- mean reversion ----

def rise_then_drop(drop_steps: int, drop_size: float) -> pd.DataFrame:
    rise = 100 + 0.2 * np.arange(60) + 0.15 * np.sin(np.arange(60))
    drop = rise[-1] - drop_size * np.arange(1, drop_steps + 1)
    return frame_from_closes(np.r_[rise, drop])


def test_mean_reversion_goes_long_below_the_lower_band_when_oversold():
    frame = rise_then_drop(drop_steps=6, drop_size=1.5)
    candidate = strategies.get("mean_reversion")().latest(frame)
    assert candidate is not None and candidate.direction == "long"
    assert candidate.indicators["rsi"] < 30
    assert candidate.entry < candidate.indicators["bb_lower"]


def test_mean_reversion_goes_short_above_the_upper_band_when_overbought():
    mirrored = rise_then_drop(drop_steps=6, drop_size=1.5)
    closes = 200 - mirrored["close"].to_numpy()
    candidate = strategies.get("mean_reversion")().latest(frame_from_closes(closes))
    assert candidate is not None and candidate.direction == "short"


def test_mean_reversion_needs_rsi_to_agree_with_the_band():
    frame = rise_then_drop(drop_steps=1, drop_size=6.0)
    close = frame["close"]
    assert close.iloc[-1] < indicators.bollinger(close).lower.iloc[-1]
    assert indicators.rsi(close).iloc[-1] > 30
    assert strategies.get("mean_reversion")().latest(frame) is None


def test_mean_reversion_is_silent_on_a_steady_drift():
    frame = frame_from_closes(100 + 0.1 * np.arange(300))
    assert strategies.get("mean_reversion")().signals(frame).empty


# ---- breakout ----

def range_then_break(last_close: float, last_volume: float) -> pd.DataFrame:
    closes = np.r_[100 + np.sin(np.arange(40)), last_close]
    volumes = np.r_[np.full(40, 1000.0), last_volume]
    return frame_from_closes(closes, volumes)


def test_breakout_goes_long_above_the_previous_channel_on_high_volume():
    candidate = strategies.get("breakout")().latest(range_then_break(104.0, 3000.0))
    assert candidate is not None and candidate.direction == "long"
    # The channel is the previous bars': this bar's own high is above its close.
    assert candidate.entry > candidate.indicators["channel_upper"]
    assert candidate.indicators["volume_ratio"] == pytest.approx(3.0)


def test_breakout_goes_short_below_the_previous_channel_on_high_volume():
    candidate = strategies.get("breakout")().latest(range_then_break(96.0, 3000.0))
    assert candidate is not None and candidate.direction == "short"


def test_breakout_ignores_a_break_on_ordinary_volume():
    assert strategies.get("breakout")().latest(range_then_break(104.0, 1200.0)) is None


def test_breakout_ignores_high_volume_inside_the_channel():
    assert strategies.get("breakout")().latest(range_then_break(100.5, 5000.0)) is None


def test_breakout_adx_filter_blocks_a_ranging_market():
    frame = range_then_break(104.0, 3000.0)
    assert strategies.get("breakout")(use_adx_filter=True, adx_minimum=60).latest(frame) is None
    candidate = strategies.get("breakout")(use_adx_filter=True, adx_minimum=0).latest(frame)
    assert candidate is not None and "adx" in candidate.indicators


# ---- trend following ----

def down_then_up() -> pd.DataFrame:
    return frame_from_closes(np.r_[np.linspace(120, 90, 120), np.linspace(90.5, 130, 80)])


def test_trend_following_goes_long_on_the_bullish_crossover():
    frame = down_then_up()
    found = strategies.get("trend_following")(adx_minimum=0).signals(frame)
    assert list(found["direction"]) == ["long"]
    crossing = found.index[0]
    fast = indicators.ema(frame["close"], 20)
    slow = indicators.ema(frame["close"], 50)
    before = frame.index.get_loc(crossing) - 1
    assert fast[crossing] > slow[crossing] and fast.iloc[before] <= slow.iloc[before]


def test_trend_following_goes_short_on_the_bearish_crossover():
    frame = frame_from_closes(240 - down_then_up()["close"].to_numpy())
    found = strategies.get("trend_following")(adx_minimum=0).signals(frame)
    assert list(found["direction"]) == ["short"]


def test_trend_following_is_silent_without_a_crossover():
    frame = frame_from_closes(100 * 1.002 ** np.arange(400))
    assert strategies.get("trend_following")(adx_minimum=0).signals(frame).empty


def test_trend_following_adx_filter_blocks_weak_trends():
    assert strategies.get("trend_following")(adx_minimum=100).signals(down_then_up()).empty


# ---- every strategy ----

@pytest.mark.parametrize("name", ALL)
def test_signals_have_valid_geometry_and_no_nans(market, name):
    found = strategies.get(name)().signals(market)
    assert not found.isna().any().any()
    longs = found[found["direction"] == "long"]
    shorts = found[found["direction"] == "short"]
    assert len(longs) + len(shorts) == len(found)
    assert ((longs["stop_loss"] < longs["entry"]) & (longs["entry"] < longs["take_profit"])).all()
    assert ((shorts["take_profit"] < shorts["entry"])
            & (shorts["entry"] < shorts["stop_loss"])).all()
    assert found["confidence"].between(0, 1).all()
    assert (found["entry"] == market.loc[found.index, "close"]).all()


@pytest.mark.parametrize("name", ALL)
def test_fires_sometimes_on_a_realistic_market(market, name):
    found = strategies.get(name)().signals(market)
    assert 5 <= len(found) <= 0.1 * len(market)
    assert set(found["direction"]) == {"long", "short"}


@pytest.mark.parametrize("name", ALL)
def test_nothing_before_the_warm_up(market, name):
    strategy = strategies.get(name)()
    short = market.iloc[: strategy.warmup_bars - 1]
    assert strategy.signals(short).empty
    assert strategy.latest(short) is None
    assert strategy.latest(market.iloc[:0]) is None
    assert strategy.signals(market.iloc[:0]).empty
    assert strategy.signals(market.iloc[:1]).empty


def firing_cuts(strategy: Strategy, frame: pd.DataFrame, limit: int = 30) -> list[int]:
    """Prefix lengths whose last bar fires, plus a few that do not."""
    positions = frame.index.get_indexer(strategy.signals(frame).index)
    return sorted({*(positions[:limit] + 1), 100, 777, len(frame)})


def as_candidate_row(candidate: strategies.SignalCandidate) -> dict:
    return {
        "direction": candidate.direction,
        "entry": candidate.entry,
        "stop_loss": candidate.stop_loss,
        "take_profit": candidate.take_profit,
        "confidence": candidate.confidence,
        **candidate.indicators,
    }


@pytest.mark.parametrize("name", ALL)
def test_latest_equals_the_last_row_of_signals_over_its_window(market, name):
    strategy = strategies.get(name)()
    for cut in firing_cuts(strategy, market):
        prefix = market.iloc[:cut]
        window = strategy.signals(prefix.iloc[-strategy.latest_window:])
        candidate = strategy.latest(prefix)
        if len(window) == 0 or window.index[-1] != prefix.index[-1]:
            assert candidate is None
            continue
        assert candidate is not None
        assert candidate.candle_time == prefix.index[-1]
        assert as_candidate_row(candidate) == window.iloc[-1].to_dict()


@pytest.mark.parametrize("name", ALL)
def test_latest_agrees_with_full_history_signals(market, name):
    # The tail window forgets the EMA/Wilder seed: values agree far below a price tick.
    strategy = strategies.get(name)()
    found = strategy.signals(market)
    later = found[market.index.get_indexer(found.index) >= strategy.latest_window]
    assert len(later) > 0
    for moment, row in later.iloc[:40].iterrows():
        candidate = strategy.latest(market.loc[:moment])
        assert candidate is not None and candidate.direction == row["direction"]
        expected = row.drop("direction").to_dict()
        got = as_candidate_row(candidate)
        del got["direction"]
        assert got == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_candidate_is_json_safe(market, name):
    strategy = strategies.get(name)()
    moment = strategy.signals(market).index[-1]
    candidate = strategy.latest(market.loc[:moment])
    assert str(candidate.candle_time.tz) == "UTC"
    assert all(type(value) is float and math.isfinite(value)
               for value in candidate.indicators.values())
    json.dumps({"indicators": candidate.indicators, "parameters": candidate.parameters})
    assert candidate.strategy == name
    assert candidate.parameters == strategy.params


# ---- look-ahead ----

@pytest.mark.parametrize("name", ALL)
def test_registered_strategies_do_not_look_ahead(market, name):
    assert strategies.check_lookahead(strategies.get(name)(), market.iloc[:3000]) == []


class PeeksAtTheNextClose(Strategy):
    """Buys when the next bar closes higher: a bug check_lookahead must catch."""

    name = "peeks"
    parameters = dict(strategies.get("breakout").parameters)

    @property
    def warmup_bars(self) -> int:
        return 20

    def evaluate(self, high, low, close, volume) -> Evaluation:
        next_close = pd.Series(close).shift(-1).to_numpy()
        average_range = indicators.atr(high, low, close, 14)
        rises = next_close > close * 1.005
        return Evaluation(long=rises, short=np.zeros_like(rises), confidence=np.ones(len(close)),
                          atr=average_range, indicators={"atr": average_range})


def test_check_lookahead_catches_a_strategy_using_future_bars(market):
    offending = strategies.check_lookahead(PeeksAtTheNextClose(), market.iloc[:2000])
    assert len(offending) > 0
    assert all(moment in market.index for moment in offending)
