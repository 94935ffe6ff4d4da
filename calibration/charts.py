"""The reliability diagram of a model version, as a PNG (matplotlib, Agg backend)."""

from __future__ import annotations

import io


def reliability_png(tables: dict[str, list[dict]], title: str) -> bytes:
    """Observed win rate against mean stated probability per bin, one line per table (model,
    heuristic, ...), the diagonal being perfect calibration; bin counts below."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 6))
    top, bottom = figure.subplots(2, 1, height_ratios=(3, 1))
    top.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    width = 1 / max(len(table) for table in tables.values()) / (len(tables) + 1)
    for offset, (name, table) in enumerate(tables.items()):
        shown = [row for row in table if row["count"]]
        top.plot([row["mean_probability"] for row in shown],
                 [row["observed_rate"] for row in shown], marker="o", label=name)
        bottom.bar([row["lower"] + (offset + 0.5) * width for row in table],
                   [row["count"] for row in table], width=width, label=name)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_xlabel("stated probability (bin mean)")
    top.set_ylabel("share that reached the target")
    top.set_title(title)
    top.legend(loc="upper left")
    bottom.set_xlim(0, 1)
    bottom.set_ylabel("signals")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()
