"""The equity and drawdown chart of a stored backtest, as a PNG (matplotlib, Agg backend)."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd


def equity_png(points: list[dict[str, Any]], title: str) -> bytes:
    """Equity above (start = 1), drawdown percent below, from the stored equity curve."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib.figure import Figure

    times = pd.to_datetime([point["time"] for point in points], utc=True)
    equity = [point["equity"] for point in points]
    drawdown = [point["drawdown_percent"] for point in points]
    # A Figure of its own, not pyplot's global state: the admin may draw in several threads.
    figure = Figure(figsize=(9, 4.5))
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot(times, equity, linewidth=1)
    top.set_ylabel("equity (start = 1)")
    top.set_title(title)
    bottom.fill_between(times, drawdown, 0, color="tab:red", alpha=0.5, linewidth=0)
    bottom.set_ylabel("drawdown %")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()
