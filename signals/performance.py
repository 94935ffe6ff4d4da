"""Performance figures of the signals created in a period, computed in one pandas pass."""

from datetime import datetime

import pandas as pd

from signals.models import SignalResult


def summarize(signals, start: datetime, end: datetime) -> dict:
    rows = signals.filter(created_at__gte=start, created_at__lte=end).values_list("result", "pnl")
    frame = pd.DataFrame.from_records(list(rows), columns=["result", "pnl"])
    wins = int((frame["result"] == SignalResult.WIN).sum())
    losses = int((frame["result"] == SignalResult.LOSS).sum())
    decided = wins + losses
    return {
        "total_signals": len(frame),
        "winning_signals": wins,
        "losing_signals": losses,
        # Of the signals that reached a target or a stop; open and expired ones are not decided.
        "win_rate": wins / decided if decided else 0.0,
        "total_pnl": float(frame["pnl"].fillna(0).sum()),
        "period": {"from": start, "to": end},
    }
