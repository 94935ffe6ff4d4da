"""The equity and drawdown chart of a stored backtest, as a PNG (matplotlib, Agg backend)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
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


def heatmap_png(xs: list, ys: list, matrix: np.ndarray, x: str, y: str, metric: str,
                title: str) -> bytes:
    """A metric over two parameters as coloured cells with their values; blank: no figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(5.0, 0.7 * len(xs) + 2.5), max(3.5, 0.45 * len(ys) + 2)))
    axes = figure.subplots()
    if matrix.size:
        image = axes.imshow(np.ma.masked_invalid(matrix), origin="lower", aspect="auto",
                            cmap="RdYlGn")
        figure.colorbar(image, ax=axes, label=metric)
        axes.set_xticks(range(len(xs)), [f"{value:g}" for value in xs], rotation=45)
        axes.set_yticks(range(len(ys)), [f"{value:g}" for value in ys])
        if matrix.size <= 400:  # values in the cells while they stay readable
            for (row, column), value in np.ndenumerate(matrix):
                if np.isfinite(value):
                    axes.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7)
    else:
        axes.text(0.5, 0.5, "no results", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.set_title(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()
