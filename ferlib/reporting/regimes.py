"""Where each method's mechanism pays, read from a sweep's table.

A sweep (``ferlib.runs.sweep``: every method at every value of one SyntheticFER axis, the same
seeds, each method with its own recipe) gives one row per (value, method): mean CCC, the paired
difference from the Baseline with its 95 % bootstrap interval, the identity probe on the trunk
features beside chance, and the resting-face slope (``COLUMNS``). Here those rows become verdicts
(above, on par with or below the Baseline), a per-method summary and plain sentences.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

COLUMNS = (
    "axis",
    "value",
    "method",
    "seeds",
    "ccc_mean",
    "ccc_v",
    "ccc_a",
    "diff",
    "diff_low",
    "diff_high",
    "probe_h",
    "probe_h_std",
    "probe_diff",
    "probe_diff_low",
    "probe_diff_high",
    "resting_slope",
    "chance",
    "test_people",
    "test_images",
    "note",
)
"""Columns of ``ferlib.runs.sweep.sweep_table``: one row per (value, method). ``diff_low`` and
``diff_high`` bound the paired difference over seeds and images (a two-level bootstrap,
``paired_bootstrap(resample_seeds=True)``); ``probe_diff_low``/``probe_diff_high`` bound the
identity probe's difference from the Baseline's over seeds (Welch's t interval)."""


def verdict(row: Mapping[str, Any]) -> str:
    """ "beats", "below" or "on par" with the Baseline: whether the 95 % interval of the
    difference (paired over images, resampling seeds too) lies above zero, below it, or spans
    it."""
    if row["diff_low"] > 0:
        return "beats"
    if row["diff_high"] < 0:
        return "below"
    return "on par"


def regime_summary(table: pd.DataFrame, method: str) -> pd.DataFrame:
    """``method``'s rows of one or more sweep tables: its paired difference from the Baseline,
    the verdict, and its identity probe beside the Baseline's, per point."""
    own = table[table["method"] == method].set_index(["axis", "value"])
    base = table[table["method"] == "baseline"].set_index(["axis", "value"])
    if own.empty:
        raise ValueError(f"no rows of {method!r} in the sweep table")
    out = pd.DataFrame(
        {
            "mean CCC": own["ccc_mean"],
            "minus Baseline": own["diff"],
            "95% low": own["diff_low"],
            "95% high": own["diff_high"],
            "verdict": [verdict(r) for _, r in own.iterrows()],
            "probe on h": own["probe_h"],
            "Baseline probe": base["probe_h"].reindex(own.index),
            "probe diff": own["probe_diff"],
            "probe 95% low": own["probe_diff_low"],
            "probe 95% high": own["probe_diff_high"],
            "chance": own["chance"],
            "resting slope": own["resting_slope"],
            "Baseline slope": base["resting_slope"].reindex(own.index),
        }
    )
    return out


VERDICT_WORDS = {
    "beats": "above the Baseline (95 % interval over seeds and images above 0)",
    "on par": "not distinguishable from the Baseline (the interval spans 0)",
    "below": "below the Baseline (interval below 0)",
}


def regime_lines(table: pd.DataFrame, method: str) -> list[str]:
    """Plain sentences from ``regime_summary``: per axis, where ``method``'s mean CCC on unseen
    people is above, on par with or below the Baseline's, and where its trunk features let a
    probe name people less often than the Baseline's."""
    summary = regime_summary(table, method)
    lines = []
    for axis, rows in summary.groupby(level="axis", sort=False):
        values = rows.index.get_level_values("value")
        parts = []
        for word, words in VERDICT_WORDS.items():
            at = [
                f"{v:g}"
                for v, verdict_ in zip(values, rows["verdict"], strict=True)
                if verdict_ == word
            ]
            if at:
                parts.append(f"{words} at {axis} = {', '.join(at)}")
        lines.append(f"{method}, {axis}: mean CCC " + "; ".join(parts) + ".")
        lower = rows["probe 95% high"] < 0
        less = [f"{v:g}" for v, flag in zip(values, lower, strict=True) if flag]
        at = ", ".join(less) if less else "no value"
        lines.append(
            f"{method}, {axis}: less identity in h than the Baseline (probe accuracy lower, "
            f"95 % interval over seeds below 0) at {at}."
        )
    return lines


__all__ = ["COLUMNS", "VERDICT_WORDS", "regime_lines", "regime_summary", "verdict"]
