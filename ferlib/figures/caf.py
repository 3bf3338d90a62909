"""Figures for intensity-split training (CAF): strong and weak samples, pairs, critic distances.

Written for the CAF chapter; the first figure works for any split of a batch by VA radius. Same
conventions as ``ferlib.figures.data``: each function returns a matplotlib ``Figure`` built without
pyplot.

- ``intensity_split``: |v| and |a| histograms with their thresholds, the batch on the VA plane
  split by a circle of radius δ_r, and the positive / negative pairs drawn between the kept points;
- ``pair_distances``: per pair, the positive distance, the negative distance and its margin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..evaluation.arrays import as_numpy
from .style import draw_circumplex

STRONG, WEAK, UNUSED = "#d95f02", "#1b9e77", "#9e9e9e"
"""Strong samples orange, weak samples teal, samples the balancing drops grey."""


def _index(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.int64).reshape(-1)


def intensity_split(
    targets: Any,
    strong: Any,
    weak: Any,
    m: int,
    delta_v: float | None,
    delta_a: float | None,
) -> Figure:
    """One batch split by emotion intensity r = sqrt(v² + a²), in three panels.

    ``targets`` (N, 2) are the batch's VA labels, ``strong`` and ``weak`` its index lists before
    balancing (batch order) and ``m`` the balanced size m′: the first ``m`` of each are kept, the
    rest are drawn grey. Left: histograms of |v| and |a| with the thresholds δ_v and δ_a (None
    when undefined). Middle: the VA plane with the circle r = δ_r = sqrt(δ_v² + δ_a²). Right: the
    kept points with pair i's positive link S_i–S_{m′−1−i} (solid) and negative link
    S_i–W_{m′−1−i} (dotted).
    """
    y = as_numpy(targets).reshape(-1, 2)
    s, w = _index(strong), _index(weak)
    m = int(m)
    fig = Figure(figsize=(13.5, 4.4), layout="constrained")
    hist_ax, plane_ax, pair_ax = fig.subplots(1, 3, width_ratios=[1.15, 1, 1])
    _threshold_histograms(hist_ax, y, delta_v, delta_a)
    delta_r = (
        math.hypot(delta_v, delta_a) if delta_v is not None and delta_a is not None else math.nan
    )
    theta = np.linspace(0, 2 * np.pi, 361)
    for ax in (plane_ax, pair_ax):
        draw_circumplex(ax)
        if math.isfinite(delta_r):
            ax.plot(
                delta_r * np.cos(theta),
                delta_r * np.sin(theta),
                color="black",
                lw=1.4,
                linestyle="--",
                zorder=1,
            )
    _split_plane(plane_ax, y, s, w, m, delta_r)
    _pair_links(pair_ax, y, s, w, m)
    return fig


def _threshold_histograms(
    ax: Axes, y: np.ndarray, delta_v: float | None, delta_a: float | None
) -> None:
    """Histograms of |v| and |a| with their Otsu thresholds (left panel)."""
    bins = np.linspace(0, 1, 33)
    for k, (name, colour, delta) in enumerate(
        (("|valence|", "#1f77b4", delta_v), ("|arousal|", "#9467bd", delta_a))
    ):
        ax.hist(np.abs(y[:, k]), bins=bins, color=colour, alpha=0.45, label=name)
        if delta is not None:
            ax.axvline(delta, color=colour, linestyle="--", linewidth=1.6)
            ax.text(
                delta,
                ax.get_ylim()[1] * (0.92 - 0.1 * k),
                f" δ_{name[1]} = {delta:.3f}",
                color=colour,
                fontsize=9,
            )
    ax.set(xlabel="absolute label", ylabel="images in the batch", xlim=(0, 1))
    ax.set_title("Otsu threshold of |v| and of |a|", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper right")


def _split_plane(
    ax: Axes, y: np.ndarray, s: np.ndarray, w: np.ndarray, m: int, delta_r: float
) -> None:
    """The batch on the VA plane: strong and weak samples kept, the rest grey (middle panel)."""
    groups = (
        (s[:m], STRONG, f"strong, kept ({m})"),
        (w[:m], WEAK, f"weak, kept ({m})"),
        (
            np.concatenate([s[m:], w[m:]]),
            UNUSED,
            f"dropped by balancing ({len(s) + len(w) - 2 * m})",
        ),
    )
    for rows, colour, label in groups:
        ax.scatter(
            y[rows, 0],
            y[rows, 1],
            s=26,
            color=colour,
            edgecolors="white",
            linewidths=0.5,
            label=label,
            zorder=3,
        )
    title = (
        f"strong: r > δ_r = {delta_r:.3f} (dashed circle)"
        if math.isfinite(delta_r)
        else ("no Otsu threshold: the fixed fallback cuts apply")
    )
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=True, framealpha=0.9, loc="lower left")


def _pair_links(ax: Axes, y: np.ndarray, s: np.ndarray, w: np.ndarray, m: int) -> None:
    """The kept points with each pair's positive and negative link (right panel)."""
    partner = np.arange(m - 1, -1, -1)
    for i in range(m):
        a, b, c = y[s[i]], y[s[partner[i]]], y[w[partner[i]]]
        ax.plot([a[0], b[0]], [a[1], b[1]], color=STRONG, lw=0.9, alpha=0.6, zorder=2)
        ax.plot([a[0], c[0]], [a[1], c[1]], color=WEAK, lw=0.9, alpha=0.6, linestyle=":", zorder=2)
    ax.scatter(
        y[s[:m], 0], y[s[:m], 1], s=26, color=STRONG, edgecolors="white", linewidths=0.5, zorder=3
    )
    ax.scatter(
        y[w[:m], 0], y[w[:m], 1], s=26, color=WEAK, edgecolors="white", linewidths=0.5, zorder=3
    )
    handles = [
        Line2D([], [], color=STRONG, lw=1.2, label="positive pair: strong – strong"),
        Line2D([], [], color=WEAK, lw=1.2, linestyle=":", label="negative pair: strong – weak"),
    ]
    ax.legend(handles=handles, fontsize=8, frameon=True, framealpha=0.9, loc="lower left")
    ax.set_title(f"the {m} pairs of each kind (mirrored order)", fontsize=10)


def pair_distances(panels: Mapping[str, tuple[Any, Any, Any]], log: bool = True) -> Figure:
    """Critic distances of every pair, one panel per entry of ``panels``.

    Each value is ``(c_strong, c_weak, margin)``: the critic outputs (m′, D) of the kept strong
    and weak samples and the margins α̂ (m′). For pair i the panel shows the positive distance
    D(c_{S_i}, c_{S_{m′−1−i}}) (orange, to be made small), the negative distance
    D(c_{S_i}, c_{W_{m′−1−i}}) (teal, to be pushed beyond the margin) and α̂_i (black tick).
    Negative pairs inside their margin — the ones the hinge still pushes — are filled.
    """
    if not panels:
        raise ValueError("pair_distances needs at least one panel")
    fig = Figure(figsize=(min(12.0, 4.6 * len(panels) + 1), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    for ax, (title, (c_s, c_w, margin)) in zip(axes, panels.items(), strict=True):
        cs, cw, alpha = as_numpy(c_s), as_numpy(c_w), as_numpy(margin).reshape(-1)
        m = len(cs)
        partner = np.arange(m - 1, -1, -1)
        d_pos = ((cs - cs[partner]) ** 2).sum(1)
        d_neg = ((cs - cw[partner]) ** 2).sum(1)
        x = np.arange(m)
        inside = d_neg < alpha
        ax.scatter(x - 0.15, d_pos, s=22, color=STRONG, label="positive distance d⁺", zorder=3)
        ax.scatter(
            x[inside] + 0.15,
            d_neg[inside],
            s=22,
            color=WEAK,
            zorder=3,
            label=f"negative distance, inside margin ({int(inside.sum())})",
        )
        ax.scatter(
            x[~inside] + 0.15,
            d_neg[~inside],
            s=22,
            facecolors="none",
            edgecolors=WEAK,
            zorder=3,
            label=f"negative distance, beyond margin ({int((~inside).sum())})",
        )
        ax.scatter(x + 0.15, alpha, marker="_", s=120, color="black", label="margin α̂", zorder=4)
        if log:
            ax.set_yscale("log")
        ax.set(xlabel="pair i", xlim=(-0.8, m - 0.2))
        ax.set_title(
            f"{title}\nmean d⁺ = {d_pos.mean():.3g}, mean negative distance = {d_neg.mean():.3g}",
            fontsize=10,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    axes[0].set_ylabel("squared distance between critic outputs")
    return fig
