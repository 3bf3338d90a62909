"""Sweep figures: where each method beats the Baseline, and how much identity it leaves.

``table`` is ``ferlib.runs.sweep.sweep_table`` output (one axis).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ..methods import METHODS
from ..reporting.runs import METHOD_ORDER
from .style import legend_right, message_figure

METHOD_COLOURS = dict(zip(METHODS, sns.color_palette("Dark2", len(METHODS)).as_hex(), strict=True))
"""One colour per method in the sweep figures (the Baseline first; one registered later is
grey)."""

AXIS_WORDS = {
    "identity_bias": "resting-face bias (identity_bias; 0: none)",
    "identities": "people in the data set (identities; log scale)",
}


def sweep_figure(table: pd.DataFrame, title: str = "") -> Figure:
    """Left: each method's paired difference in mean CCC from the Baseline on unseen people, with
    its 95 % interval over seeds and images (above the dashed zero: better on the same test
    images). Right: the identity probe on the trunk features h (lower: less identity left), mean
    ± standard deviation over seeds, chance dashed.

    Points of the methods are nudged sideways a little so that their intervals do not overlap.
    """
    if table.empty:
        return message_figure("No sweep results to draw.")
    axis = str(table["axis"].iloc[0])
    values = np.sort(table["value"].unique().astype(float))
    log = axis == "identities"
    positions = np.log2(values) if log else values
    step = np.min(np.diff(positions)) if len(positions) > 1 else 1.0
    methods = [m for m in METHOD_ORDER if m in set(table["method"])]
    fig = Figure(figsize=(11.0, 4.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    for i, method in enumerate(methods):
        rows = table[table["method"] == method].sort_values("value")
        x = np.interp(rows["value"].astype(float), values, positions)
        nudge = (i - (len(methods) - 1) / 2) * 0.06 * step
        colour = METHOD_COLOURS.get(method, "0.3")
        diff = rows["diff"].to_numpy(float)
        span = np.vstack(
            [diff - rows["diff_low"].to_numpy(float), rows["diff_high"].to_numpy(float) - diff]
        )
        left.errorbar(x + nudge, diff, yerr=span, fmt="o-", color=colour, capsize=3, label=method)
        right.errorbar(
            x + nudge,
            rows["probe_h"].to_numpy(float),
            yerr=rows["probe_h_std"].fillna(0).to_numpy(float),
            fmt="o-",
            color=colour,
            capsize=3,
            label=method,
        )
    chance = table.drop_duplicates("value").sort_values("value")
    right.plot(
        np.interp(chance["value"].astype(float), values, positions),
        chance["chance"].to_numpy(float),
        ":",
        color="0.4",
        label="chance",
    )
    left.axhline(0, color="0.3", linewidth=1, linestyle="--")
    left.set_ylabel("mean CCC minus the Baseline's\n(95 % interval, seeds and images)")
    left.set_title("accuracy on unseen people", fontsize=10)
    right.set_ylabel("probe accuracy naming the test people\n(mean ± std over seeds)")
    right.set_title("identity left in the trunk features h (lower: less)", fontsize=10)
    labels = [f"{v:g}" for v in values]
    for ax in (left, right):
        ax.set_xticks(positions, labels)
        ax.set_xlabel(AXIS_WORDS.get(axis, axis))
        ax.grid(alpha=0.3)
    right.set_ylim(0, 1.02)
    legend_right(right)
    seeds = int(table["seeds"].min())
    fig.suptitle(
        title
        or f"Sweep over {axis}: {seeds} seed{'s' * (seeds != 1)} per point, "
        "test people unseen in training",
        fontsize=10,
    )
    return fig


__all__ = ["AXIS_WORDS", "METHOD_COLOURS", "sweep_figure"]
