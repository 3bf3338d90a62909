"""Figures for judging trained models: learning curves, predictions against labels, where on the
valence/arousal plane the errors are, errors per group, and methods compared over seeds.

Same conventions as ``ferlib.figures.data``: every function returns a matplotlib ``Figure`` built
without pyplot (no ``plt.show``, no backend set), and each emotion has its colour from
``EMOTION_COLOURS``. The numbers come from
``ferlib.evaluation.errors`` and ``ferlib.evaluation.metrics``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..evaluation.arrays import va_array
from ..evaluation.errors import va_error_grid
from ..evaluation.metrics import va_metrics
from ..reporting.runs import method_rank
from .style import (
    DIM_COLOURS,
    EMOTION_COLOURS,
    MAX_WIDTH,
    UNLABELLED_COLOUR,
    emotion_groups,
    legend_right,
    message_figure,
)


def _quiet_metrics(preds: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """``va_metrics`` without its NaN warnings (a title shows "nan" instead)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return va_metrics(preds, targets)


# --------------------------------------------------------------------------------------------


def learning_curves(history: pd.DataFrame | Sequence[dict[str, Any]]) -> Figure:
    """Training loss (left) and validation CCC (right: mean, valence, arousal) against epoch.

    ``history`` is a run's ``history.csv`` as a frame, or ``TrainResult.history``. The best
    epoch (highest ``val_ccc_mean``, the first one on ties, as the trainer picks it) is marked by a
    dashed vertical line in both panels and a star on the mean CCC curve. Where the history's
    ``lr`` column falls (the learning-rate schedule's drops), a dotted line sits between the last
    epoch at the old rate and the first at the new one, in both panels.
    """
    frame = pd.DataFrame(list(history) if not isinstance(history, pd.DataFrame) else history)
    if frame.empty or "epoch" not in frame.columns:
        return message_figure("No training history to plot (no epoch finished).")
    frame = frame.apply(pd.to_numeric, errors="coerce").sort_values("epoch")
    epoch = frame["epoch"].to_numpy(dtype=float)

    fig = Figure(figsize=(10, 3.8), layout="constrained")
    loss_ax, ccc_ax = fig.subplots(1, 2)
    if "train_loss" in frame.columns:
        loss_ax.plot(epoch, frame["train_loss"], marker="o", markersize=3, color="0.2")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss")
    loss_ax.set_title("training loss (mean over the epoch)", fontsize=10)

    styles = (
        ("val_ccc_mean", "mean of valence and arousal", "black", 2.2),
        ("val_ccc_v", "valence", DIM_COLOURS["valence"], 1.3),
        ("val_ccc_a", "arousal", DIM_COLOURS["arousal"], 1.3),
    )
    for column, label, colour, width in styles:
        if column in frame.columns:
            ccc_ax.plot(
                epoch, frame[column], marker="o", markersize=3, color=colour, lw=width, label=label
            )
    ccc_ax.set_xlabel("epoch")
    ccc_ax.set_ylabel("validation CCC")

    title = "validation CCC (higher is better)"
    scores = frame.get("val_ccc_mean")
    if scores is not None and scores.notna().any():
        best = int(np.nanargmax(scores.to_numpy(dtype=float)))
        best_epoch, best_score = epoch[best], float(scores.iloc[best])
        label = f"best epoch {best_epoch:g}"
        for ax in (loss_ax, ccc_ax):
            ax.axvline(best_epoch, color="0.5", linestyle="--", linewidth=1, label=label)
        ccc_ax.plot(
            best_epoch,
            best_score,
            marker="*",
            markersize=14,
            color="gold",
            markeredgecolor="black",
            linestyle="none",
            zorder=5,
        )
        title += f"\nbest epoch {best_epoch:g}: mean CCC {best_score:.3f}"
    ccc_ax.set_title(title, fontsize=10)
    if "lr" in frame.columns:
        lr = frame["lr"].to_numpy(dtype=float)
        for k in np.flatnonzero(lr[1:] < lr[:-1]) + 1:
            label = f"learning rate ×{lr[k] / lr[k - 1]:.2g}"
            first = label not in [line.get_label() for line in loss_ax.get_lines()]
            for ax in (loss_ax, ccc_ax):
                ax.axvline(
                    (epoch[k - 1] + epoch[k]) / 2,
                    color="tab:red",
                    linestyle=":",
                    linewidth=1.2,
                    label=label if first else None,
                )
        if (lr[1:] < lr[:-1]).any():
            loss_ax.legend(fontsize=8, frameon=False, loc="upper right")
    ccc_ax.legend(fontsize=8, frameon=False, loc="best")
    for ax in (loss_ax, ccc_ax):
        if len(epoch) <= 20:
            ax.set_xticks(epoch)
        ax.grid(alpha=0.3)
    return fig


def term_curves(
    history: pd.DataFrame | Sequence[dict[str, Any]], labels: dict[str, str] | None = None
) -> Figure:
    """Each training term a method logged (history columns ``term_*``), epoch mean vs epoch.

    One small panel per term, each on its own scale (terms differ by orders of magnitude);
    ``labels`` maps a term's name (without ``term_``) to a panel title.
    """
    frame = pd.DataFrame(list(history) if not isinstance(history, pd.DataFrame) else history)
    names = [c[len("term_") :] for c in frame.columns if c.startswith("term_")]
    if frame.empty or not names:
        return message_figure("This run logged no training terms besides the loss.")
    frame = frame.apply(pd.to_numeric, errors="coerce").sort_values("epoch")
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(min(MAX_WIDTH, 3.0 * cols), 2.6 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, name in zip(axes, names, strict=False):
        ax.plot(frame["epoch"], frame[f"term_{name}"], marker="o", markersize=2, color="0.2")
        ax.set_title((labels or {}).get(name, name), fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    return fig


# --------------------------------------------------------------------------------------------


def pred_vs_true(targets: Any, preds: Any, labels: Sequence[str | None] | None = None) -> Figure:
    """Predicted against true valence (left) and arousal (right), one point per image.

    Points on the dashed identity line are perfect. With ``labels`` (one emotion name or None
    per row) points take the emotion's colour. Both axes cover [-1, 1] and any prediction
    outside it. Each title gives that dimension's CCC and RMSE over all points.
    """
    y, p = va_array(targets, "targets"), va_array(preds, "preds")
    if p.shape != y.shape:
        raise ValueError(f"preds {p.shape} and targets {y.shape} differ in shape")
    if len(y) == 0:
        return message_figure("No predictions to plot.")
    if labels is not None:
        names = np.array([x if isinstance(x, str) else None for x in labels], dtype=object)
        if len(names) != len(y):
            raise ValueError(f"labels has {len(names)} entries but there are {len(y)} rows")
    metrics = _quiet_metrics(p, y)
    finite = np.concatenate([p[np.isfinite(p)], y[np.isfinite(y)]])
    lo, hi = min(-1.0, float(finite.min())), max(1.0, float(finite.max()))
    pad = 0.04 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    size = 14 if len(y) <= 500 else 6

    fig = Figure(figsize=(10.4, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for i, (ax, dim) in enumerate(zip(axes, ("valence", "arousal"), strict=True)):
        ax.plot([lo, hi], [lo, hi], color="0.5", linestyle="--", linewidth=1, zorder=0)
        ax.axhline(0, color="0.88", linewidth=0.8, zorder=0)
        ax.axvline(0, color="0.88", linewidth=0.8, zorder=0)
        if labels is None:
            ax.scatter(y[:, i], p[:, i], s=size, color="0.25", alpha=0.5, edgecolors="none")
        else:
            for label, mask, colour in emotion_groups(names):
                ax.scatter(
                    y[mask, i],
                    p[mask, i],
                    s=size,
                    color=colour,
                    alpha=0.6,
                    edgecolors="none",
                    label=label,
                    zorder=0 if colour == UNLABELLED_COLOUR else 1,
                )
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel(f"true {dim}")
        ax.set_ylabel(f"predicted {dim}")
        d = dim[0]
        ax.set_title(
            f"{dim}: CCC {metrics[f'ccc_{d}']:.3f}, RMSE {metrics[f'rmse_{d}']:.3f}", fontsize=10
        )
    if labels is not None:
        legend_right(axes[1], "annotated expression", markerscale=1.5)
    fig.suptitle(
        f"Predictions against labels ({len(y)} images); the dashed line is a perfect prediction",
        fontsize=10,
    )
    return fig


# --------------------------------------------------------------------------------------------


def error_heatmap(targets: Any, preds: Any, bins: int = 8) -> Figure:
    """Mean Euclidean VA error of the images whose *label* falls in each cell of the VA plane.

    Dark cells are regions the model gets wrong; each cell with images shows how many it holds
    (a dark cell of 2 images matters less than one of 200). Empty cells are left blank.
    """
    grid, counts, edges = va_error_grid(targets, preds, bins)
    fig = Figure(figsize=(5.8, 4.9), layout="constrained")
    ax = fig.subplots()
    cmap = sns.color_palette("rocket_r", as_cmap=True).with_extremes(bad="white")
    top = max(float(np.nanmax(grid)), 1e-9) if np.isfinite(grid).any() else 1.0
    image = ax.imshow(
        np.ma.masked_invalid(grid.T),
        origin="lower",
        extent=(-1, 1, -1, 1),
        cmap=cmap,
        vmin=0,
        vmax=top,
        interpolation="nearest",
    )
    fig.colorbar(image, ax=ax, label="mean |error| (Euclidean)", shrink=0.9)
    centres = (edges[:-1] + edges[1:]) / 2
    fontsize = 7 if bins <= 10 else 5
    for i, j in zip(*np.nonzero(counts), strict=True):
        r, g, b, _ = cmap(image.norm(grid[i, j]))
        dark = 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.45  # relative luminance of the cell
        ax.text(
            centres[i],
            centres[j],
            f"{counts[i, j]}",
            ha="center",
            va="center",
            fontsize=fontsize,
            color="white" if dark else "black",
        )
    ax.set_xticks(edges if bins <= 10 else [-1, -0.5, 0, 0.5, 1])
    ax.set_yticks(edges if bins <= 10 else [-1, -0.5, 0, 0.5, 1])
    ax.tick_params(labelsize=8)
    ax.set_xlabel("valence")
    ax.set_ylabel("arousal")
    ax.set_title(
        f"Mean error by true label, {int(counts.sum())} images\n"
        "numbers: images per cell; blank: no image",
        fontsize=10,
    )
    return fig


# --------------------------------------------------------------------------------------------


def group_error_bars(table: pd.DataFrame, title: str = "") -> Figure:
    """Mean absolute error of valence and arousal per group, side by side.

    ``table`` is ``analysis.per_group_error`` output (index: groups; columns ``mae_v``, ``mae_a``,
    ``n``). Dashed lines give the overall MAE (weighted by ``n``). Many groups (e.g. 60
    identities) get narrow vertical labels; the figure is never wider than 12 inches.
    """
    if table.empty:
        return message_figure(f"{title}\nNo group has any image." if title else "No groups.")
    groups = [str(g) for g in table.index]
    n_groups = len(groups)
    width = float(np.clip(2.5 + 0.24 * n_groups, 5.5, MAX_WIDTH))
    fig = Figure(figsize=(width, 3.9), layout="constrained")
    ax = fig.subplots()
    x = np.arange(n_groups)
    bar = 0.4
    counts = table["n"].to_numpy(dtype=float) if "n" in table.columns else np.ones(n_groups)
    for k, (column, dim) in enumerate((("mae_v", "valence"), ("mae_a", "arousal"))):
        values = table[column].to_numpy(dtype=float)
        colour = DIM_COLOURS[dim]
        ax.bar(x + (k - 0.5) * bar, values, width=bar, color=colour, label=f"{dim} MAE")
        overall = float(np.average(values, weights=counts)) if counts.sum() else math.nan
        ax.axhline(
            overall,
            color=colour,
            linestyle="--",
            linewidth=1,
            label=f"{dim}, all images: {overall:.3f}",
        )
    if n_groups <= 12 and "n" in table.columns:
        ticks = [f"{g}\n(n={int(n)})" for g, n in zip(groups, counts, strict=True)]
    else:
        ticks = groups
    if n_groups <= 8:
        ax.set_xticks(x, ticks, fontsize=8)
    elif n_groups <= 120:
        ax.set_xticks(x, ticks, rotation=90, fontsize=8 if n_groups <= 40 else 6)
    else:
        ax.set_xticks([])
    for tick, name in zip(ax.get_xticklabels(), groups, strict=False):
        if name in EMOTION_COLOURS:
            tick.set_color(EMOTION_COLOURS[name])
    ax.set_xlim(-0.6, n_groups - 0.4)
    ax.set_ylabel("mean absolute error")
    ax.set_xlabel(f"{table.index.name or 'group'} ({n_groups})")
    legend_right(ax)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or "Mean absolute error per group", fontsize=10)
    return fig


def paired_differences(table: pd.DataFrame, title: str = "") -> Figure:
    """Each method's score with its interval (left), and its paired difference from the reference
    method with that interval (right), one row per method, the reference on top.

    ``table`` is ``ferlib.evaluation.errors.paired_bootstrap`` output. On the right, a difference
    whose interval lies wholly above 0 is drawn green (better than the reference on these test
    images), wholly below 0 red (worse), otherwise grey (this test set cannot tell them apart).
    """
    if table.empty:
        return message_figure("No methods to compare.")
    key = table.attrs.get("key", "score")
    reference = table.attrs.get("reference", table.index[0])
    level = table.attrs.get("level", 0.95)
    names = [str(m) for m in table.index]
    labels = [
        f"{m}\n({int(s)} seed{'s' * (s != 1)})" for m, s in zip(names, table["seeds"], strict=True)
    ]
    y = np.arange(len(names))
    fig = Figure(figsize=(9.0, 1.3 + 0.55 * len(names)), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    value = table["value"].to_numpy(dtype=float)
    span = np.vstack([value - table["low"].to_numpy(float), table["high"].to_numpy(float) - value])
    left.errorbar(value, y, xerr=span, fmt="o", color="0.2", ecolor="0.4", capsize=3)
    for yi, v in zip(y, value, strict=True):
        left.annotate(
            f"{v:.3f}", (v, yi), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=8
        )
    left.set_xlabel(f"{key} on the test split ({level:.0%} interval)")
    left.set_title("each method: score and its own interval", fontsize=10)
    diff = table["diff"].to_numpy(dtype=float)
    low, high = table["diff_low"].to_numpy(float), table["diff_high"].to_numpy(float)
    for yi, d, lo, hi in zip(y, diff, low, high, strict=True):
        colour = "#1b9e77" if lo > 0 else "#d95f02" if hi < 0 else "0.5"
        right.errorbar(d, yi, xerr=[[d - lo], [hi - d]], fmt="o", color=colour, capsize=3)
        right.annotate(
            f"{d:+.3f}",
            (d, yi),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color=colour,
        )
    right.axvline(0, color="0.3", linewidth=1, linestyle="--")
    right.set_xlabel(f"difference from {reference} (paired, {level:.0%} interval)")
    right.set_title(
        "minus the reference, image for image\ngreen: better, red: worse, grey: cannot tell",
        fontsize=10,
    )
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
        ax.margins(y=0.25)
    left.set_yticks(y, labels, fontsize=8)
    left.invert_yaxis()  # the reference on top
    n = table.attrs.get("n")
    fig.suptitle(
        title or f"Methods against {reference}" + (f" on the same {n} test images" if n else ""),
        fontsize=10,
    )
    return fig


# --------------------------------------------------------------------------------------------


def method_comparison(summary: pd.DataFrame) -> Figure:
    """Mean CCC of valence and arousal per method (bars) with the std over seeds (error bars).

    ``summary`` is ``summarize_runs`` output; one panel per dataset, methods in
    ``method_rank`` order (the Baseline first). A configuration
    trained with a single seed has no error bar. When a dataset has several configurations of one
    method, their labels add the backbone, image size and identity bias that tell them apart.
    """
    needed = {"dataset", "method", "ccc_v_mean", "ccc_a_mean"}
    if summary.empty or not needed <= set(summary.columns):
        return message_figure("No finished runs to compare.")
    data = summary.assign(_dataset=summary["dataset"].astype(str))
    keys = [(d, method_rank(m)) for d, m in zip(data["_dataset"], data["method"], strict=True)]
    data = data.iloc[sorted(range(len(data)), key=keys.__getitem__)]  # the Baseline first
    datasets = list(dict.fromkeys(data["_dataset"]))
    per_panel = [int((data["_dataset"] == d).sum()) for d in datasets]
    width = float(np.clip(1.8 + 0.85 * sum(per_panel) + 0.8 * len(datasets), 5.5, MAX_WIDTH))
    fig = Figure(figsize=(width, 4.0), layout="constrained")
    axes = np.atleast_1d(
        fig.subplots(1, len(datasets), sharey=True, width_ratios=[max(n, 1) for n in per_panel])
    )
    low = min(0.0, float(np.nanmin(data[["ccc_v_mean", "ccc_a_mean"]].to_numpy(float))) - 0.05)
    tops = [
        data[f"ccc_{d}_mean"].clip(lower=0) + data.get(f"ccc_{d}_std", 0).fillna(0) for d in "va"
    ]
    high = max(1.05, float(np.nanmax(pd.concat(tops).to_numpy(float))) + 0.1)
    for ax, dataset in zip(axes, datasets, strict=True):
        rows = data[data["_dataset"] == dataset]
        _ccc_bars(ax, rows)
        ax.set_xticks(np.arange(len(rows)), _configuration_labels(rows), fontsize=8)
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.set_ylim(low, high)
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.grid(axis="y", alpha=0.3)
        ax.set_title(f"dataset: {dataset}", fontsize=10)
    axes[0].set_ylabel("test CCC (mean over seeds)")
    legend_right(axes[-1])
    fig.suptitle("Methods compared: bars are means over seeds, whiskers ± 1 std", fontsize=10)
    return fig


def _configuration_labels(rows: pd.DataFrame) -> list[str]:
    """One tick label per row: its method, with what tells apart several configurations of one
    method (backbone, image size, identity bias), and its number of seeds."""
    labels = [str(m) for m in rows["method"]]
    if len(set(labels)) < len(labels):
        varying = [
            k
            for k in ("backbone", "image_size", "identity_bias")
            if k in rows.columns and rows[k].astype(str).nunique() > 1
        ]
        labels = [
            "\n".join([str(r["method"]), *(f"{k}={r[k]}" for k in varying)])
            for _, r in rows.iterrows()
        ]
    if "n_seeds" in rows.columns:
        labels = [
            f"{lab}\n({int(n)} seed{'s' * (n != 1)})"
            for lab, n in zip(labels, rows["n_seeds"], strict=True)
        ]
    return labels


def _ccc_bars(ax: Axes, rows: pd.DataFrame, bar: float = 0.38) -> None:
    """Side by side per row: the mean CCC of valence and of arousal, whiskers of ± 1 std over
    seeds (none for a single seed), and each mean written above its bar."""
    x = np.arange(len(rows))
    for k, (d, dim) in enumerate((("v", "valence"), ("a", "arousal"))):
        means = rows[f"ccc_{d}_mean"].to_numpy(dtype=float)
        std_col = f"ccc_{d}_std"
        stds = (
            rows[std_col].to_numpy(dtype=float) if std_col in rows else np.full_like(means, np.nan)
        )
        xs = x + (k - 0.5) * bar
        ax.bar(xs, means, width=bar, color=DIM_COLOURS[dim], label=f"CCC {dim}")
        spread = np.isfinite(stds) & np.isfinite(means)
        if spread.any():  # a single seed has no std, hence no whisker
            ax.errorbar(
                xs[spread],
                means[spread],
                yerr=stds[spread],
                fmt="none",
                ecolor="black",
                elinewidth=1.2,
                capsize=3,
            )
        for xi, m, s in zip(xs, means, np.nan_to_num(stds, nan=0.0), strict=True):
            if np.isfinite(m):
                y_text = max(m, 0.0) + s + 0.01
                ax.text(xi, y_text, f"{m:.2f}", ha="center", va="bottom", fontsize=7)


__all__ = [
    "error_heatmap",
    "group_error_bars",
    "learning_curves",
    "method_comparison",
    "paired_differences",
    "pred_vs_true",
]
