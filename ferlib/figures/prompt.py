"""Figures for the prompt-vs-expression chapter (``notebooks/30_prompt_vs_expression.ipynb``).

Same conventions as ``ferlib.figures.data``: each
function returns a matplotlib ``Figure`` built without
pyplot, emotions in their ``EMOTION_COLOURS``. The numbers come from ``ferlib.evaluation.prompts``.

- ``fidelity_ranking``: share of faithful renderings per prompted emotion, with its interval;
- ``misses_by_prompt``: per prompt, where its faithful images sit and where its misses land;
- ``word_effects``: the largest prompt-word coefficients on valence and arousal, with intervals;
- ``face_or_prompt``: a model's prediction distance to the face's and to the prompt's centre.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import EMOTION_COLOURS, draw_circumplex


def fidelity_ranking(table: pd.DataFrame) -> Figure:
    """Horizontal bars of ``fidelity_table``'s faithful share (most faithful on top), 95 % CIs
    as whiskers, and the overall share as a dashed line."""
    emotions = table.drop(index="all", errors="ignore").iloc[::-1]
    fig = Figure(figsize=(7.5, 0.45 * len(emotions) + 1.4), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(emotions))
    share = emotions["faithful"].to_numpy()
    whiskers = np.vstack([share - emotions["low"], emotions["high"] - share])
    colours = [EMOTION_COLOURS.get(e, "0.5") for e in emotions.index]
    ax.barh(y, share, xerr=whiskers, color=colours, capsize=3, height=0.6)
    for yi, (s, n) in enumerate(zip(share, emotions["images"], strict=True)):
        ax.text(0.01, yi, f"{s:.0%} of {n}", va="center", fontsize=8, color="white")
    if "all" in table.index:
        ax.axvline(table.loc["all", "faithful"], color="0.3", ls="--", lw=1)
        ax.text(
            table.loc["all", "faithful"],
            len(emotions) - 0.4,
            f" all: {table.loc['all', 'faithful']:.0%}",
            fontsize=8,
            va="bottom",
        )
    ax.set_yticks(y, emotions.index)
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("share of images whose annotated expression is the prompted emotion")
    ax.set_title("rendering fidelity per prompted emotion (95 % bootstrap interval)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def misses_by_prompt(rows: pd.DataFrame) -> Figure:
    """One VA plane per prompted emotion (``prompt_analysis.labelled`` rows): its faithful images
    faint in its own colour, its misses coloured by the expression drawn, and both means."""
    prompts = [e for e in EMOTION_COLOURS if e in set(rows["prompted"])]
    cols = 4
    n_rows = -(-len(prompts) // cols)
    fig = Figure(figsize=(12, 3.2 * n_rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(n_rows, cols, sharex=True, sharey=True)).ravel()
    for ax, prompt in zip(axes, prompts, strict=False):
        group = rows[rows["prompted"] == prompt]
        hits, misses = group[group["faithful"]], group[~group["faithful"]]
        draw_circumplex(ax)
        ax.scatter(
            hits["valence"],
            hits["arousal"],
            s=6,
            alpha=0.25,
            label="as prompted",
            color=EMOTION_COLOURS.get(prompt, "0.6"),
        )
        for name, drawn in misses.groupby("annotated"):
            ax.scatter(
                drawn["valence"],
                drawn["arousal"],
                s=12,
                alpha=0.85,
                color=EMOTION_COLOURS.get(name, "0.4"),
                label=f"drawn {name} ({len(drawn)})",
            )
        if len(hits) and len(misses):
            ax.annotate(
                "",
                xy=misses[["valence", "arousal"]].mean(),
                xytext=hits[["valence", "arousal"]].mean(),
                arrowprops={"arrowstyle": "-|>", "lw": 1.5, "color": "black"},
            )
        ax.set_title(f"prompted {prompt}: {len(misses)} of {len(group)} missed", fontsize=9)
        ax.legend(fontsize=6, frameon=False, loc="lower right", markerscale=1.2)
        ax.set_xlabel("valence", fontsize=8)
        ax.set_ylabel("arousal", fontsize=8)
    for ax in axes[len(prompts) :]:
        ax.set_visible(False)
    fig.suptitle(
        "where the generator lands when it misses (arrow: from the faithful images' mean "
        "to the misses' mean)",
        fontsize=10,
    )
    return fig


def word_effects(table: pd.DataFrame, top: int = 16) -> Figure:
    """The ``top`` terms of ``word_effects`` by effect size: coefficient and 95 % interval on
    valence (left) and arousal (right); the title names the reference levels."""
    shown = table.head(top).iloc[::-1]
    fig = Figure(figsize=(10, 0.32 * len(shown) + 1.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(shown))
    for ax, dim in zip(axes, ("valence", "arousal"), strict=True):
        value = shown[dim].to_numpy()
        err = np.vstack([value - shown[f"{dim}_low"], shown[f"{dim}_high"] - value])
        err = np.clip(err, 0, None)  # a percentile interval need not contain the estimate
        colours = np.where(value >= 0, "#1b9e77", "#d95f02")
        ax.errorbar(value, y, xerr=err, fmt="none", ecolor="0.4", capsize=2)
        ax.scatter(value, y, c=colours, zorder=3)
        ax.axvline(0, color="0.5", lw=0.8)
        ax.set_xlabel(f"change in {dim}, against the reference")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(
        y, [f"{w} ({n})" for w, n in zip(shown.index, shown["prompts"], strict=True)]
    )
    reference = table.attrs.get("reference", {})
    against = ", ".join(f"{factor} = {level}" for factor, level in reference.items())
    fig.suptitle(
        "prompt terms: coefficients with 95 % bootstrap intervals "
        "(in brackets: training prompts with the term)"
        + (
            f"\nreference levels: {against}; other words against the word they replace"
            if against
            else ""
        ),
        fontsize=10,
    )
    return fig


def face_or_prompt(table: pd.DataFrame, title: str = "") -> Figure:
    """Each unfaithful image at (distance of the prediction to the prompted emotion's centre,
    to the annotated one's); below the diagonal the prediction follows the face."""
    fig = Figure(figsize=(5.6, 5.2), layout="constrained")
    ax = fig.subplots()
    top = float(max(table["to face"].max(), table["to prompt"].max(), 0.1)) * 1.05
    ax.plot([0, top], [0, top], color="0.5", ls="--", lw=1)
    for name, group in table.groupby("annotated"):
        ax.scatter(
            group["to prompt"],
            group["to face"],
            color=EMOTION_COLOURS.get(name, "0.4"),
            label=f"drawn {name}",
            s=22,
            alpha=0.8,
        )
    share = (table["follows"] == "face").mean()
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_aspect("equal")
    ax.set_xlabel("distance to the PROMPTED emotion's VA centre")
    ax.set_ylabel("distance to the ANNOTATED (drawn) emotion's VA centre")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.set_title(
        (title + "\n" if title else "")
        + f"{len(table)} unfaithful images: {share:.0%} nearer the face (below the line)",
        fontsize=10,
    )
    return fig


__all__ = ["face_or_prompt", "fidelity_ranking", "misses_by_prompt", "word_effects"]
