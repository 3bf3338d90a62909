"""Figures for looking at a dataset before training on it.

Every function takes an ``FERData`` and returns a matplotlib ``Figure``; none calls ``plt.show``
or sets a backend. Figures are built without pyplot, so they never pile up in pyplot's figure list
and a notebook shows each one once: end the cell with the call (or ``display(fig)``), and save
with ``fig.savefig(path)``.

Colours, axis words and the circumplex come from ``ferlib.figures.style``, shared by every figure.

``by`` picks which label an image is grouped under:

- ``"prompted"``: the emotion asked for when the face was generated (its folder);
- ``"expression"``: the expression annotators saw (the sheet's code; what models learn).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..data.images import CorruptImageError, read_rgb
from ..data.records import FERData
from ..data.splits import SPLITS
from ..emotions import EMOTIONS
from .style import (
    AROUSAL_LABEL,
    EMOTION_COLOURS,
    SPLIT_COLOURS,
    UNLABELLED,
    UNLABELLED_COLOUR,
    VALENCE_LABEL,
    covariance_ellipse,
    draw_circumplex,
    emotion_groups,
    legend_right,
    message_figure,
)

By = Literal["prompted", "expression"]
_BY_TEXT = {"prompted": "prompted emotion (folder)", "expression": "annotated expression"}


def emotion_labels(data: FERData, by: By = "expression") -> pd.Series:
    """Each row's emotion name under ``by`` (None where missing), aligned with ``data.frame``."""
    frame = data.frame
    if by == "prompted":
        names = [p if isinstance(p, str) and p in EMOTIONS else None for p in frame["prompted"]]
    elif by == "expression":
        names = [None if pd.isna(c) else EMOTIONS[int(c)] for c in frame["expression"]]
    else:
        raise ValueError(f"by must be 'prompted' or 'expression', not {by!r}")
    return pd.Series(names, index=frame.index, dtype=object)


def sample_grid(data: FERData, per_class: int = 6, by: By = "prompted", seed: int = 0) -> Figure:
    """Random images of each emotion, one row per emotion, each titled with its valence/arousal.

    Look at the data before modelling it: the tiles show what a class looks like and how far
    apart two faces of the same class can sit on the VA plane. The draw is fixed by ``seed``.
    Uses ``data.images`` when present, else decodes each file.
    """
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, not {per_class}")
    if data.images is not None and len(data.images) != len(data.frame):
        raise ValueError(
            f"data.images has {len(data.images)} rows but the frame has "
            f"{len(data.frame)}; they must be aligned"
        )
    labels = emotion_labels(data, by).to_numpy()
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(0.95 * per_class + 1.0, 0.95 * len(EMOTIONS) + 0.6), layout="constrained")
    axes = fig.subplots(len(EMOTIONS), per_class, squeeze=False)
    for row, name in enumerate(EMOTIONS):
        members = np.flatnonzero(labels == name)
        chosen = rng.choice(members, size=min(per_class, members.size), replace=False)
        for col, ax in enumerate(axes[row]):
            ax.set_xticks([])
            ax.set_yticks([])
            if col < chosen.size:
                _show_image(ax, data, int(chosen[col]))
            else:
                ax.set_frame_on(False)
        axes[row, 0].set_ylabel(
            f"{name}\nn={members.size}",
            rotation=0,
            ha="right",
            va="center",
            fontsize=9,
            color=EMOTION_COLOURS[name],
            fontweight="bold",
        )
    fig.suptitle(
        f"{per_class} random images per {_BY_TEXT[by]} (seed {seed})\n"
        "v = valence, a = arousal, both in [-1, 1]",
        fontsize=10,
    )
    return fig


def _show_image(ax: Axes, data: FERData, i: int) -> None:
    row = data.frame.iloc[i]
    if data.images is not None:
        pixels = data.images[i].permute(1, 2, 0).numpy()  # CHW -> HWC for imshow
    else:
        try:
            pixels = np.asarray(read_rgb(row["path"])[0])
        except CorruptImageError:
            ax.text(
                0.5, 0.5, "unreadable", ha="center", va="center", fontsize=7, transform=ax.transAxes
            )
            return
    ax.imshow(pixels)
    ax.set_title(f"v={_signed(row['valence'])} a={_signed(row['arousal'])}", fontsize=6.5, pad=2)


def _signed(x: float) -> str:
    """``+0.42`` / ``-0.10`` / ``+0.00`` (never ``-0.00``)."""
    return f"{round(float(x), 2) + 0.0:+.2f}"


def prompted_vs_annotated(data: FERData, normalize: bool = True) -> Figure:
    """Heatmap of the prompted emotion (rows) against the annotated expression (columns).

    A generator does not always draw what it was asked for: off-diagonal cells are images whose
    annotators saw another emotion than the prompt. With ``normalize`` each row shows shares
    (each non-empty row sums to 1), else image counts. Rows missing either label are skipped.
    """
    prompted = emotion_labels(data, "prompted")
    if prompted.isna().all():
        raise ValueError(
            f"dataset {data.name!r} has no prompted emotions (the emotion folder "
            "of each image), so there is nothing to compare the annotations with; "
            "this figure needs a DiffusionFER-style <emotion>/ folder layout"
        )
    annotated = emotion_labels(data, "expression")
    both = prompted.notna() & annotated.notna()
    if not both.any():
        raise ValueError(
            f"dataset {data.name!r}: no image has both a prompted emotion and an "
            "annotated expression"
        )
    counts = pd.crosstab(prompted[both], annotated[both]).reindex(
        index=list(EMOTIONS), columns=list(EMOTIONS), fill_value=0
    )
    totals = counts.sum(axis=1)
    table = counts.div(totals.replace(0, np.nan), axis=0) if normalize else counts
    cells = np.array(
        [
            [
                "" if count == 0 else _share(value) if normalize else f"{count:d}"
                for count, value in zip(count_row, value_row, strict=True)
            ]
            for count_row, value_row in zip(counts.to_numpy(), table.to_numpy(), strict=True)
        ]
    )

    fig = Figure(figsize=(6.6, 5.2), layout="constrained")
    ax = fig.subplots()
    sns.heatmap(
        table,
        ax=ax,
        cmap="Blues",
        vmin=0,
        vmax=1 if normalize else None,
        annot=cells,
        fmt="",
        annot_kws={"fontsize": 8},
        linewidths=0.5,
        linecolor="white",
        square=True,
        cbar_kws={"label": "share of the prompted row" if normalize else "images"},
    )
    ax.set_yticklabels([f"{name} (n={totals[name]})" for name in EMOTIONS], rotation=0)
    ax.set_xticklabels(EMOTIONS, rotation=35, ha="right")
    for tick, name in zip(ax.get_yticklabels(), EMOTIONS, strict=True):
        tick.set_color(EMOTION_COLOURS[name])
    for tick, name in zip(ax.get_xticklabels(), EMOTIONS, strict=True):
        tick.set_color(EMOTION_COLOURS[name])
    agree = np.trace(counts.to_numpy()) / counts.to_numpy().sum()
    ax.set_title(
        f"Does the face show the prompted emotion?\n{agree:.0%} of {int(both.sum())} "
        "images sit on the diagonal (annotation = prompt)",
        fontsize=10,
    )
    ax.set_xlabel("annotated expression (what raters saw)")
    ax.set_ylabel("prompted emotion (folder)")
    return fig


def _share(x: float) -> str:
    return "<1%" if x < 0.005 else f"{x:.0%}"


def va_scatter(data: FERData, by: By = "expression", ellipses: bool = True) -> Figure:
    """Every image as a point on the valence/arousal plane, coloured by emotion.

    Emotion categories are regions of one continuous space (Russell's circumplex), and they
    overlap: that overlap is why VA regression and classification are different problems. With
    ``ellipses``, each class with at least 3 points gets its 1σ and 2σ covariance ellipses and
    an X at its mean. Images without a label under ``by`` are drawn in light grey.
    """
    fig = Figure(figsize=(7.4, 5.4), layout="constrained")
    ax = fig.subplots()
    _scatter_on(ax, data, by, ellipses)
    _scatter_legend(ax, by, ellipses)
    ax.set_title(
        f"Valence–arousal plane, {len(data.frame)} images by {_BY_TEXT[by]}\n"
        "each emotion a region of one continuous space (regions can overlap)",
        fontsize=10,
    )
    return fig


def va_scatter_pair(data: FERData, left: By = "prompted", right: By = "expression") -> Figure:
    """The same images on the valence/arousal plane twice, side by side on shared axes: coloured
    by ``left`` and by ``right`` (e.g. the emotion asked for and the one annotators saw)."""
    fig = Figure(figsize=(12.0, 5.0), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, by in zip(axes, (left, right), strict=True):
        _scatter_on(ax, data, by, ellipses=True)
        ax.set_title(f"coloured by {_BY_TEXT[by]}", fontsize=10)
    _scatter_legend(axes[1], right, ellipses=True)
    fig.suptitle(f"Valence–arousal plane, {len(data.frame)} images", fontsize=10)
    return fig


def _scatter_on(ax: Axes, data: FERData, by: By, ellipses: bool) -> None:
    """``va_scatter``'s points, ellipses and means on ``ax``."""
    frame = data.frame
    labels = emotion_labels(data, by).to_numpy()
    valence = frame["valence"].to_numpy(dtype=float)
    arousal = frame["arousal"].to_numpy(dtype=float)
    draw_circumplex(ax)
    for label, mask, colour in emotion_groups(list(labels)):
        unlabelled = colour == UNLABELLED_COLOUR
        v, a = valence[mask], arousal[mask]
        ax.scatter(
            v,
            a,
            s=10 if unlabelled else 14,
            color=colour,
            alpha=0.6 if unlabelled else 0.55,
            edgecolors="none",
            label=label,
            clip_on=False,
            zorder=0 if unlabelled else 1,
        )
        if unlabelled or not ellipses or mask.sum() < 3:
            continue
        for n_std, style in ((1, "-"), (2, "--")):
            ax.add_patch(
                covariance_ellipse(v, a, n_std, edgecolor=colour, linestyle=style, linewidth=1.6)
            )
        ax.plot(
            v.mean(),
            a.mean(),
            marker="X",
            markersize=9,
            color=colour,
            markeredgecolor="black",
            linestyle="none",
        )


def _scatter_legend(ax: Axes, by: By, ellipses: bool) -> None:
    """The emotions' legend of ``_scatter_on``, with the ellipses' and means' keys."""
    handles, _ = ax.get_legend_handles_labels()
    if ellipses:
        handles += [
            Line2D([], [], color="0.3", linestyle="-", label="1σ ellipse (~39%)"),
            Line2D([], [], color="0.3", linestyle="--", label="2σ ellipse (~86%)"),
            Line2D(
                [],
                [],
                color="0.3",
                marker="X",
                linestyle="none",
                markersize=8,
                markeredgecolor="black",
                label="class mean",
            ),
        ]
    legend_right(ax, _BY_TEXT[by], handles=handles, markerscale=1.6)


def va_marginals(data: FERData, by: By = "expression") -> Figure:
    """Valence and arousal distributions: all images (grey histogram, black curve) and each
    emotion (coloured density curves).

    Each emotion's curve has area 1 (``common_norm=False``), so the curves compare where classes
    sit, not how many images they have (``split_counts`` shows that). A class needs at least 3
    images and two distinct values for a curve; smaller ones are listed as skipped.
    """
    frame = data.frame
    if frame.empty:
        return message_figure(f"Dataset {data.name!r} has no images to plot.")
    table = pd.DataFrame(
        {
            "valence": frame["valence"].to_numpy(dtype=float),
            "arousal": frame["arousal"].to_numpy(dtype=float),
            "emotion": emotion_labels(data, by).to_numpy(),
        }
    )
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=False)
    drawn: set[str] = set()
    for ax, column, xlabel in zip(
        axes, ("valence", "arousal"), (VALENCE_LABEL, AROUSAL_LABEL), strict=True
    ):
        drawn.update(_marginal_panel(ax, table, column, xlabel))
    legend_right(axes[1], _BY_TEXT[by], handles=_marginal_handles(table, drawn))
    fig.suptitle(
        f"Where each {_BY_TEXT[by]} sits on valence and on arousal "
        "(each coloured curve has area 1)",
        fontsize=10,
    )
    return fig


def _marginal_panel(ax: Axes, table: pd.DataFrame, column: str, xlabel: str) -> list[str]:
    """One dimension's panel of ``va_marginals``: the histogram of all images, each emotion's
    density curve and the density of all; the emotions that got a curve."""
    values = table[column]
    # bins centred on multiples of 0.1: DiffusionFER's labels are quantised to that grid
    sns.histplot(
        x=values,
        bins=np.linspace(-1.05, 1.05, 22),
        stat="density",
        color="0.85",
        edgecolor="white",
        ax=ax,
    )
    curves = [name for name in EMOTIONS if _can_kde(values[table["emotion"] == name])]
    if curves:
        sns.kdeplot(
            data=table[table["emotion"].isin(curves)],
            x=column,
            hue="emotion",
            hue_order=curves,
            palette=EMOTION_COLOURS,
            common_norm=False,
            clip=(-1, 1),
            linewidth=1.4,
            legend=False,
            ax=ax,
        )
    if _can_kde(values):
        sns.kdeplot(x=values, color="black", linewidth=2.2, clip=(-1, 1), ax=ax)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xticks([-1, -0.5, 0, 0.5, 1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(column)
    return curves


def _marginal_handles(table: pd.DataFrame, drawn: set[str]) -> list[Patch | Line2D]:
    """``va_marginals``' legend: all images, each emotion with a curve, and those without."""
    present = [name for name in EMOTIONS if (table["emotion"] == name).any()]
    handles: list[Patch | Line2D] = [
        Patch(color="0.85", label=f"all images (n={len(table)}), histogram"),
        Line2D([], [], color="black", linewidth=2.2, label="all images (density)"),
        *(
            Line2D([], [], color=EMOTION_COLOURS[name], linewidth=1.4, label=name)
            for name in present
            if name in drawn
        ),
    ]
    skipped = [name for name in present if name not in drawn]
    if skipped:
        handles.append(
            Line2D(
                [], [], linestyle="none", label="too few images for a curve:\n" + ", ".join(skipped)
            )
        )
    return handles


def _can_kde(values: pd.Series) -> bool:
    """A density estimate needs a few points that are not all equal."""
    values = values.dropna()
    return len(values) >= 3 and values.nunique() >= 2


def identity_counts(data: FERData) -> Figure:
    """Images per identity (person), coloured by split.

    Splitting by identity keeps the people in val/test unseen in training, so test scores
    measure generalisation to new faces rather than recognition of familiar ones. The title says
    whether any identity sits in more than one split. A dataset without identities gets a
    figure that says so (its splits were drawn per file).
    """
    frame = data.frame
    if not frame["identity"].notna().any():
        return message_figure(
            f"No identities in dataset {data.name!r}: every identity is "
            "missing.\nIts splits were drawn per file, so one person could "
            "appear in both train and test."
        )
    counts = pd.crosstab(frame["identity"], frame["split"]).reindex(
        columns=list(SPLITS), fill_value=0
    )
    home = counts.to_numpy().argmax(axis=1)  # the split holding most of each person's images
    order = sorted(
        range(len(counts)), key=lambda i: (home[i], -counts.iloc[i].sum(), str(counts.index[i]))
    )
    counts = counts.iloc[order]
    n = len(counts)

    fig = Figure(figsize=(float(np.clip(3.5 + 0.14 * n, 6.5, 12)), 3.8), layout="constrained")
    ax = fig.subplots()
    x = np.arange(n)
    _stacked_split_bars(
        ax,
        x,
        counts,
        0.8,
        lambda split, h: f"{split} ({int((h > 0).sum())} people, {int(h.sum())} images)",
    )
    if n <= 60:
        ax.set_xticks(x, [str(name) for name in counts.index], rotation=90, fontsize=7)
    else:
        ax.set_xticks([])
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_xlabel(f"identity ({n} people)")
    ax.set_ylabel("images")
    legend_right(ax, "split")
    shared = int(((counts > 0).sum(axis=1) > 1).sum())
    verdict = (
        "every person is in exactly one split,\nso val/test faces are unseen in training"
        if shared == 0
        else f"{shared} people appear in more than one split:\ntheir faces leak into testing"
    )
    unassigned = int(frame["identity"].isna().sum())
    if unassigned:
        verdict += f"\n({unassigned} images have no identity and are not shown)"
    ax.set_title(f"Images per identity, coloured by split\n{verdict}", fontsize=10)
    return fig


def split_counts(data: FERData, by: By = "expression") -> Figure:
    """Stacked bars of images per emotion, one colour per split.

    Shows class imbalance (which emotions are rare) and whether val/test hold every class.
    Images without a label under ``by`` get their own bar.
    """
    frame = data.frame
    labels = emotion_labels(data, by).fillna(UNLABELLED)
    order = list(EMOTIONS) + ([UNLABELLED] if (labels == UNLABELLED).any() else [])
    counts = pd.crosstab(labels, frame["split"]).reindex(
        index=order, columns=list(SPLITS), fill_value=0
    )

    fig = Figure(figsize=(7.2, 4.0), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(order))
    bottom = _stacked_split_bars(ax, x, counts, 0.7, lambda split, h: f"{split} ({int(h.sum())})")
    for xi, total in zip(x, bottom, strict=True):
        ax.text(xi, total, f"{int(total)}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, order, rotation=30, ha="right")
    for tick, name in zip(ax.get_xticklabels(), order, strict=True):
        tick.set_color(EMOTION_COLOURS.get(name, "0.4"))
    ax.set_ylim(0, max(1.0, bottom.max()) * 1.12)
    ax.set_xlabel(_BY_TEXT[by])
    ax.set_ylabel("images")
    legend_right(ax, "split (images)")
    ax.set_title(
        f"Images per {_BY_TEXT[by]} and split ({len(frame)} images)\n"
        "rare classes are hard to learn and noisy to evaluate",
        fontsize=10,
    )
    return fig


def _stacked_split_bars(
    ax: Axes, x: np.ndarray, counts: pd.DataFrame, width: float, label
) -> np.ndarray:
    """One bar per row of ``counts``, stacked by split column; returns the bar tops."""
    bottom = np.zeros(len(x))
    for split in SPLITS:
        heights = counts[split].to_numpy()
        ax.bar(
            x,
            heights,
            bottom=bottom,
            color=SPLIT_COLOURS[split],
            width=width,
            label=label(split, heights),
        )
        bottom += heights
    return bottom


__all__ = [
    "emotion_labels",
    "identity_counts",
    "prompted_vs_annotated",
    "sample_grid",
    "split_counts",
    "va_marginals",
    "va_scatter",
    "va_scatter_pair",
]
