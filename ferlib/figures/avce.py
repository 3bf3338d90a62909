"""Figures for AVCE's two views: softmax against sparsemax, the views in the VA plane, the critic.

Written for the AVCE chapter (``notebooks/12_avce.ipynb``). Same conventions as
``ferlib.figures.data``:
each function returns a matplotlib ``Figure`` built without pyplot.

- ``simplex_views``: a score vector u, its softmax and its sparsemax as bars (where the mass is);
- ``support_sizes``: over a batch, how many units each view keeps, and the largest weight;
- ``views_on_plane``: labels, predictions ŷ and the two views' outputs y_a, y_n on the VA plane;
- ``critic_map``: the critic's similarity f(x, y) over the view head's output square.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ..evaluation.arrays import as_numpy
from ..methods.avce import critic
from ..methods.sparsemax import sparsemax, threshold
from .style import draw_circumplex

LABEL, PRED, ATTENTIVE, INATTENTIVE = "black", "#1f78b4", "#d95f02", "#7570b3"
"""Label black, prediction ŷ blue, attentive view y_a orange, inattentive view y_n purple."""
VIEW_BOUND = 0.5  # H's 0.5·tanh: y_a and y_n lie in (−0.5, 0.5)²


def simplex_views(u: Any, title: str = "") -> Figure:
    """A score vector u (D,), softmax(u) and sparsemax(u) as bars; the sparsemax threshold τ drawn
    on u."""
    u = torch.as_tensor(as_numpy(u)).reshape(-1)
    soft, sparse = F.softmax(u, dim=0), sparsemax(u)
    support = sparse > 0
    tau = float(threshold(u))
    units = np.arange(len(u))
    fig = Figure(figsize=(11, 3.0), layout="constrained")
    axes = fig.subplots(1, 3)
    panels = (
        (u, "0.4", f"u (τ = {tau:.3f}: units above it survive sparsemax)"),
        (soft, INATTENTIVE, f"softmax(u): all {len(u)} units > 0, max {soft.max():.2f}"),
        (
            sparse,
            ATTENTIVE,
            f"sparsemax(u): {int(support.sum())} units > 0, max {sparse.max():.2f}",
        ),
    )
    for ax, (values, colour, label) in zip(axes, panels, strict=True):
        ax.bar(units, values.numpy(), color=colour)
        ax.set_title(label, fontsize=9)
        ax.set_xticks(units)
        ax.set_xlabel("unit", fontsize=8)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.grid(axis="y", alpha=0.3)
    axes[0].axhline(tau, color=ATTENTIVE, linestyle="--", lw=1.2)
    axes[1].sharey(axes[2])
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def support_sizes(z: Any) -> Figure:
    """Over a batch z (B, D): units each view keeps (> 1e-6) and each view's largest weight."""
    z = torch.as_tensor(as_numpy(z))
    soft, sparse = F.softmax(z, dim=-1), sparsemax(z)
    fig = Figure(figsize=(10, 3.0), layout="constrained")
    count_ax, max_ax = fig.subplots(1, 2)
    d = z.shape[-1]
    bins = np.arange(0.5, d + 1.5)
    for view, colour, name in ((soft, INATTENTIVE, "softmax"), (sparse, ATTENTIVE, "sparsemax")):
        kept = (view > 1e-6).sum(-1).numpy()
        count_ax.hist(
            kept, bins=bins, color=colour, alpha=0.8, label=f"{name} (mean {kept.mean():.1f})"
        )
        max_ax.hist(view.max(-1).values.numpy(), bins=30, range=(0, 1), color=colour, alpha=0.8)
    count_ax.set_xlabel(f"units > 0 (of {d})")
    count_ax.set_ylabel("samples")
    count_ax.legend(fontsize=8, frameon=False)
    count_ax.set_title("how many units each view keeps", fontsize=10)
    max_ax.set_xlabel("largest weight of the view")
    max_ax.set_title("how concentrated each view is", fontsize=10)
    return fig


def views_on_plane(panels: Mapping[str, Sequence[Any]], n_show: int = 12, seed: int = 0) -> Figure:
    """Per panel (title -> (labels, x, y_a, y_n), each (B, 2)): ``n_show`` samples on the VA plane.

    Each sample's prediction x is joined to its attentive output y_a (solid) and its inattentive
    output y_n (dotted); its label is a black cross. The dashed square is H's output range. The
    views stay apart to the eye where they coincide (as they do untrained): y_a is a small filled
    circle, y_n a larger hollow square drawn around it, and the lines are half transparent.
    """
    fig = Figure(figsize=(5.2 * len(panels), 5.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (title, arrays) in zip(axes, panels.items(), strict=True):
        labels, x, y_a, y_n = (as_numpy(a).reshape(-1, 2) for a in arrays)
        rng = np.random.default_rng(seed)
        show = rng.choice(len(x), size=min(n_show, len(x)), replace=False)
        draw_circumplex(ax)
        ax.add_patch(
            Rectangle(
                (-VIEW_BOUND, -VIEW_BOUND),
                2 * VIEW_BOUND,
                2 * VIEW_BOUND,
                fill=False,
                linestyle="--",
                edgecolor="0.6",
                lw=0.8,
            )
        )
        for i in show:
            ax.plot(*zip(x[i], y_a[i], strict=True), color=ATTENTIVE, lw=1.4, alpha=0.6)
            ax.plot(*zip(x[i], y_n[i], strict=True), color=INATTENTIVE, lw=1.0, ls=":", alpha=0.9)
        ax.scatter(*labels[show].T, marker="x", color=LABEL, s=28, lw=1.2, zorder=4)
        ax.scatter(*x[show].T, color=PRED, s=30, alpha=0.85, zorder=5)
        ax.scatter(
            *y_n[show].T,
            marker="s",
            s=80,
            facecolors="none",
            edgecolors=INATTENTIVE,
            lw=1.4,
            zorder=6,
        )
        ax.scatter(*y_a[show].T, color=ATTENTIVE, s=18, alpha=0.85, zorder=7)
        ax.set_title(title, fontsize=10)
    handles = [
        Line2D([], [], marker="x", color=LABEL, ls="none", label="label"),
        Line2D([], [], marker="o", color=PRED, ls="none", label="prediction ŷ"),
        Line2D([], [], marker="o", color=ATTENTIVE, label="attentive y_a = H(sparsemax q)"),
        Line2D(
            [],
            [],
            marker="s",
            markersize=8,
            markerfacecolor="none",
            color=INATTENTIVE,
            ls=":",
            label="inattentive y_n = H(softmax q)",
        ),
    ]
    axes[-1].legend(handles=handles, fontsize=8, loc="lower left", framealpha=0.9)
    return fig


def critic_map(xs: Any, kind: str = "paper", w_int: float = 0.8, steps: int = 121) -> Figure:
    """The critic f(ŷ, ỹ) for each prediction ŷ in ``xs`` (N, 2), over ỹ in H's output square; ŷ
    marked by a star."""
    xs = as_numpy(xs).reshape(-1, 2)
    grid = np.linspace(-VIEW_BOUND, VIEW_BOUND, steps)
    gv, ga = np.meshgrid(grid, grid)
    ys = torch.tensor(np.stack([gv.ravel(), ga.ravel()], 1))
    fig = Figure(figsize=(4.6 * len(xs), 4.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(xs)))
    for ax, x in zip(axes, xs, strict=True):
        f = critic(torch.tensor(x).expand_as(ys), ys, kind, w_int).reshape(steps, steps).numpy()
        image = ax.contourf(gv, ga, f, levels=20, cmap="viridis")
        ax.contour(gv, ga, f, levels=[1.0, 1.4, 1.7], colors="white", linewidths=0.7)
        ax.plot(*x, marker="*", color="red", markersize=14, markeredgecolor="white")
        ax.set_aspect("equal")
        ax.set_xlabel("ỹ valence")
        ax.set_ylabel("ỹ arousal")
        ax.set_title(f"f(ŷ, ỹ), ŷ = ({x[0]:+.2f}, {x[1]:+.2f})", fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.85)
    return fig


__all__ = ["critic_map", "simplex_views", "support_sizes", "views_on_plane"]
