"""Figures for identity-aware training: batches grouped by person, latents in 2-D, OT plans.

Written for the ELIM chapter, usable by any method that groups images by identity (the latent
maps compare the Baseline's and any other model's latents). Same conventions as
``ferlib.figures.data``:
each function returns a matplotlib ``Figure`` built without pyplot, and each emotion keeps its
colour from ``EMOTION_COLOURS``.

- ``pca_2d``: the first two principal components of a set of latents (deterministic signs);
- ``batch_grid``: a P×K batch, one row per identity;
- ``latent_maps``: 2-D latents coloured by identity and by emotion, one row per model or stage;
- ``transport_maps``: an OT cost matrix and its transport plan, with the plan's marginals;
- ``group_offset_scatter``: each group's error against a known per-group offset (resting face).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..evaluation.arrays import as_numpy
from .style import EMOTION_COLOURS, UNLABELLED_COLOUR


def pca_2d(z: Any) -> np.ndarray:
    """(N, 2) scores on the first two principal components of ``z`` (N, D), via an SVD.

    Each component's sign is fixed so that its largest loading is positive, so the same latents
    always give the same picture (an SVD may flip signs otherwise).
    """
    x = as_numpy(z)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"pca_2d needs an (N, D) array with N >= 2, got shape {x.shape}")
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    vt = vt[:2]
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(1)])
    scores = x @ (vt * signs[:, None]).T
    if scores.shape[1] < 2:  # rank-1 data: pad the missing component with zeros
        scores = np.pad(scores, ((0, 0), (0, 2 - scores.shape[1])))
    return scores


def identity_colours(identities: Sequence[str]) -> dict[str, str]:
    """One colour per identity, in order of first appearance.

    Evenly spaced hues (husl), not the emotion palette, so that a figure coloured by identity is
    less easily read as one coloured by emotion.
    """
    names = list(dict.fromkeys(str(i) for i in identities))
    palette = sns.color_palette("husl", len(names))
    return dict(zip(names, palette.as_hex(), strict=True))


def batch_grid(
    images: torch.Tensor,
    identities: Sequence[str],
    emotions: Sequence[str | None],
    max_cols: int = 8,
    captions: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """A batch as a grid: one row per identity (in order of appearance), its images along it.

    ``images`` is a uint8 (B, 3, H, W) batch; ``identities`` and ``emotions`` name each image.
    Each image is titled with its annotated emotion (or its entry of ``captions``), in that
    emotion's colour.
    """
    pixels = images.detach().cpu()
    names = list(dict.fromkeys(str(i) for i in identities))
    rows = {n: [j for j, i in enumerate(identities) if str(i) == n] for n in names}
    cols = min(max(len(r) for r in rows.values()), max_cols)
    fig = Figure(figsize=(0.95 * cols + 0.9, 1.0 * len(names) + 0.5), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(names), cols, squeeze=False))
    colours = identity_colours(names)
    for r, name in enumerate(names):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(rows[name]):
                ax.set_frame_on(False)
                continue
            j = rows[name][c]
            ax.imshow(pixels[j].permute(1, 2, 0).numpy())
            emotion = emotions[j]
            ax.set_title(
                captions[j] if captions is not None else (emotion or "?"),
                fontsize=8,
                pad=2,
                color=EMOTION_COLOURS.get(emotion, UNLABELLED_COLOUR),
            )
            for spine in ax.spines.values():
                spine.set_edgecolor(colours[name])
                spine.set_linewidth(2)
        axes[r, 0].set_ylabel(
            f"{name}\n({len(rows[name])})", rotation=0, ha="right", va="center", fontsize=9
        )
    default = f"one batch: {len(names)} identities × up to {cols} images (title: annotated emotion)"
    fig.suptitle(title or default, fontsize=10)
    return fig


def latent_maps(
    points: Mapping[str, Any],
    identities: Sequence[str],
    emotions: Sequence[str | None],
    legend_identities: bool = True,
) -> Figure:
    """2-D latents coloured by identity (left) and by emotion (right), one row per entry.

    ``points`` maps a row title (a model, a stage) to (N, 2) coordinates, e.g. from ``pca_2d``;
    every entry describes the same N images, named by ``identities`` and ``emotions``.
    """
    if not points:
        raise ValueError("latent_maps needs at least one set of points")
    ids = [str(i) for i in identities]
    id_colours = identity_colours(ids)
    emo = [e if e in EMOTION_COLOURS else None for e in emotions]
    n_rows = len(points)
    fig = Figure(figsize=(8.5, 3.2 * n_rows), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n_rows, 2, squeeze=False))
    size = 28 if len(ids) <= 100 else 12  # a batch's few points larger, a split's smaller
    for row, (title, xy) in enumerate(points.items()):
        xy = as_numpy(xy)
        if xy.shape != (len(ids), 2):
            raise ValueError(f"{title!r}: points have shape {xy.shape}, expected ({len(ids)}, 2)")
        id_ax, emo_ax = axes[row]
        id_ax.scatter(xy[:, 0], xy[:, 1], s=size, c=[id_colours[i] for i in ids], linewidths=0)
        emo_ax.scatter(
            xy[:, 0],
            xy[:, 1],
            s=size,
            c=[EMOTION_COLOURS.get(e, UNLABELLED_COLOUR) for e in emo],
            linewidths=0,
        )
        id_ax.set_title(f"{title}: coloured by identity", fontsize=10)
        emo_ax.set_title(f"{title}: coloured by emotion", fontsize=10)
        for ax in (id_ax, emo_ax):
            ax.set_xlabel("PC 1")
            ax.set_ylabel("PC 2")
            ax.grid(alpha=0.3)
    if legend_identities and len(id_colours) <= 12:
        handles = [_dot(c, n) for n, c in id_colours.items()]
        axes[0, 0].legend(handles=handles, fontsize=7, frameon=False, loc="best", ncol=2)
    present = [e for e in EMOTION_COLOURS if e in emo]
    axes[0, 1].legend(
        handles=[_dot(EMOTION_COLOURS[e], e) for e in present],
        fontsize=7,
        frameon=False,
        loc="best",
        ncol=2,
    )
    return fig


def _dot(colour: str, label: str) -> Line2D:
    return Line2D([], [], marker="o", linestyle="none", color=colour, label=label)


def transport_maps(
    cost: Any,
    plan: Any,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    row_title: str = "reference",
    col_title: str = "target",
) -> Figure:
    """The cost matrix M (left) and the transport plan P (right) between two sets of samples.

    The plan's panel carries its marginals: row sums (the mass a_i each reference sample sends)
    as bars on its right, column sums (b_j, the mass each target sample receives) above it.
    Rows and columns are labelled with ``row_labels`` / ``col_labels`` (e.g. emotions), and each
    row's largest plan entry is outlined: the target sample it is mostly matched to.
    """
    m, p = as_numpy(cost), as_numpy(plan)
    if m.shape != p.shape or m.shape != (len(row_labels), len(col_labels)):
        raise ValueError(
            f"cost {m.shape}, plan {p.shape} and labels "
            f"({len(row_labels)}, {len(col_labels)}) must agree"
        )
    n, k = m.shape
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    grid = fig.add_gridspec(2, 3, width_ratios=(1, 1, 0.22), height_ratios=(0.22, 1))
    cost_ax = fig.add_subplot(grid[1, 0])
    plan_ax = fig.add_subplot(grid[1, 1])
    top_ax = fig.add_subplot(grid[0, 1], sharex=plan_ax)
    side_ax = fig.add_subplot(grid[1, 2], sharey=plan_ax)

    im = cost_ax.imshow(m, cmap="magma_r", vmin=0, aspect="auto")
    fig.colorbar(im, ax=cost_ax, shrink=0.8, label="cost 1 − cos")
    cost_ax.set_title("cost matrix M", fontsize=10)
    im = plan_ax.imshow(p, cmap="viridis", vmin=0, aspect="auto")
    plan_ax.set_title("transport plan P", fontsize=10)
    best = p.argmax(1)
    for i, j in enumerate(best):
        plan_ax.add_patch(_box(j, i))
    for ax in (cost_ax, plan_ax):
        ax.set_xticks(range(k), list(col_labels), rotation=60, fontsize=7)
        ax.set_yticks(range(n), list(row_labels), fontsize=7)
        ax.set_xlabel(f"{col_title} sample j")
    cost_ax.set_ylabel(f"{row_title} sample i")
    plan_ax.tick_params(labelleft=False)

    top_ax.bar(range(k), p.sum(0), color="0.45")
    top_ax.set_title("column sums = b", fontsize=8)
    top_ax.tick_params(labelbottom=False, labelsize=7)
    side_ax.barh(range(n), p.sum(1), color="0.45")
    side_ax.set_title("row sums = a", fontsize=8)
    side_ax.tick_params(labelleft=False, labelsize=7)
    fig.colorbar(im, ax=side_ax, shrink=0.8, label="mass")
    return fig


def group_offset_scatter(
    tables: Mapping[str, pd.DataFrame],
    x: str,
    y: str,
    xlabel: str,
    ylabel: str,
) -> Figure:
    """One panel per table: each group (row) at (``x``, ``y``), labelled, with Pearson's r.

    Meant for ``analysis.per_group_error`` tables with an extra column of a known per-group
    offset, e.g. each person's resting-face valence against the model's mean valence error: a
    person-invariant model keeps r near 0.
    """
    if not tables:
        raise ValueError("group_offset_scatter needs at least one table")
    fig = Figure(figsize=(4.4 * len(tables), 3.8), layout="constrained")
    axes = fig.subplots(1, len(tables), squeeze=False, sharex=True, sharey=True)[0]
    for ax, (name, table) in zip(axes, tables.items(), strict=True):
        xs, ys = table[x].to_numpy(float), table[y].to_numpy(float)
        r = np.corrcoef(xs, ys)[0, 1] if len(xs) > 1 and xs.std() > 0 and ys.std() > 0 else np.nan
        ax.scatter(xs, ys, s=28, color="0.25")
        for label, xi, yi in zip(table.index, xs, ys, strict=True):
            ax.annotate(str(label), (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.axvline(0, color="0.6", linewidth=0.8)
        ax.set_xlabel(xlabel)
        ax.set_title(f"{name}: r = {r:.2f}", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    return fig


def _box(j: int, i: int):
    from matplotlib.patches import Rectangle

    return Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="white", linewidth=1.5)


__all__ = [
    "batch_grid",
    "group_offset_scatter",
    "identity_colours",
    "latent_maps",
    "pca_2d",
    "transport_maps",
]
