"""Proof that a strategy does not peek at future bars."""

from __future__ import annotations

import numpy as np
import pandas as pd

from strategies.base import Strategy

# Values recomputed on a prefix are the same operations on the same numbers; the tolerance
# only absorbs summation-order noise, far below any price tick.
RELATIVE_TOLERANCE = 1e-9


def check_lookahead(strategy: Strategy | type[Strategy], frame: pd.DataFrame,
                    samples: int = 40) -> list[pd.Timestamp]:
    """Bar times whose signal changes when later bars are removed; empty means no look-ahead.

    Signals are recomputed on about `samples` prefixes frame[:cut], half of them spread evenly
    from the warm-up to the end and half ending exactly on bars that fire in the full history,
    and every row up to each cut is compared with the full-history signals. A bar that fires in
    only one of them, or fires with different values, is reported.
    """
    if isinstance(strategy, type):
        strategy = strategy()
    size = len(frame)
    if size == 0:
        return []
    full = strategy.signals(frame)
    half = max(samples // 2, 1)
    spread = np.linspace(strategy.warmup_bars, size, num=half, dtype=int)
    fired_at = frame.index.get_indexer(full.index)
    ending_on_signals = fired_at[:: max(1, len(fired_at) // half)] + 1
    cuts = np.unique(np.clip(np.r_[spread, ending_on_signals, size], 1, size))
    offending: set[pd.Timestamp] = set()
    for cut in cuts:
        prefix = strategy.signals(frame.iloc[:cut])
        expected = full[full.index <= frame.index[cut - 1]]
        offending.update(_differing_bars(prefix, expected))
    return sorted(offending)


def _differing_bars(left: pd.DataFrame, right: pd.DataFrame) -> set[pd.Timestamp]:
    differing = set(left.index.symmetric_difference(right.index))
    both = left.index.intersection(right.index)
    if len(both):
        a, b = left.loc[both], right.loc[both]
        numeric = [column for column in a.columns if column != "direction"]
        close = np.isclose(a[numeric].to_numpy(float), b[numeric].to_numpy(float),
                           rtol=RELATIVE_TOLERANCE, atol=0.0).all(axis=1)
        close &= (a["direction"].to_numpy() == b["direction"].to_numpy())
        differing.update(both[~close])
    return differing
