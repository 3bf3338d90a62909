"""The one figure style of FER-Zoo: colours, axis words, the circumplex and small helpers.

Every figure module (``ferlib.figures.*``) draws with these, so that a reader who learns the
colours once can read every figure: each emotion has one colour everywhere (``EMOTION_COLOURS``),
each split one colour (``SPLIT_COLOURS``), and images without an emotion label are grey
(``UNLABELLED_COLOUR``). Figures are built without pyplot, so they never pile up in pyplot's figure
list and a notebook shows each one once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.patches import Ellipse

from ..data.splits import SPLITS
from ..emotions import EMOTIONS

_PALETTE = sns.color_palette("colorblind").as_hex()
EMOTION_COLOURS: dict[str, str] = dict(
    zip(
        EMOTIONS,
        (
            _PALETTE[7],  # neutral: grey
            _PALETTE[1],  # happy: orange
            _PALETTE[0],  # sad: dark blue
            _PALETTE[9],  # surprise: light blue
            _PALETTE[4],  # fear: purple
            _PALETTE[2],  # disgust: green
            _PALETTE[3],  # angry: red
        ),
        strict=True,
    )
)
"""One colour per emotion, shared by every figure (seaborn's colour-blind-safe palette)."""

SPLIT_COLOURS: dict[str, str] = dict(
    zip(SPLITS, sns.color_palette("Set2", 3).as_hex(), strict=True)
)
"""One colour per split, from a different palette so that splits never look like emotions."""

UNLABELLED = "no label"
"""Legend text for images without an emotion label."""
UNLABELLED_COLOUR = "#bbbbbb"
"""Grey for images without an emotion label."""
VALENCE_LABEL = "valence (unpleasant → pleasant)"
AROUSAL_LABEL = "arousal (calm → excited)"
DIM_COLOURS = dict(zip(("valence", "arousal"), sns.color_palette("Dark2", 2).as_hex(), strict=True))
"""Valence and arousal bars/lines (Dark2: not confusable with the emotion palette)."""
MAX_WIDTH = 12.0
"""Inches; wider figures do not fit a notebook column."""


def covariance_ellipse(x: np.ndarray, y: np.ndarray, n_std: float, **kwargs) -> Ellipse:
    """The ``n_std``-sigma ellipse of the points' covariance (an outline; ``kwargs`` style it).

    Its axes are the covariance's eigenvectors, with half-lengths ``n_std * sqrt(eigenvalue)``.
    For a 2-D Gaussian the 1σ ellipse holds about 39 % of the points and the 2σ one about 86 %.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(x, y))  # ascending eigenvalues
    radii = n_std * np.sqrt(np.clip(eigenvalues, 0.0, None))
    major = eigenvectors[:, 1]
    angle = float(np.degrees(np.arctan2(major[1], major[0])))
    return Ellipse(
        (float(np.mean(x)), float(np.mean(y))),
        width=2 * radii[1],
        height=2 * radii[0],
        angle=angle,
        fill=False,
        **kwargs,
    )


def draw_circumplex(ax: Axes) -> None:
    """Unit circle, axes lines and quadrant words of Russell's circumplex, drawn lightly."""
    theta = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(theta), np.sin(theta), color="0.82", linewidth=1, zorder=0)
    ax.axhline(0, color="0.85", linewidth=0.8, zorder=0)
    ax.axvline(0, color="0.85", linewidth=0.8, zorder=0)
    for x, y, word in (
        (0.97, 0.97, "excited"),
        (-0.97, 0.97, "tense / afraid"),
        (-0.97, -0.97, "sad / bored"),
        (0.97, -0.97, "calm / content"),
    ):
        ax.text(
            x,
            y,
            word,
            ha="right" if x > 0 else "left",
            va="top" if y > 0 else "bottom",
            fontsize=8,
            color="0.55",
            style="italic",
            zorder=0,
        )
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_aspect("equal")
    ticks = [-1, -0.5, 0, 0.5, 1]
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel(VALENCE_LABEL)
    ax.set_ylabel(AROUSAL_LABEL)


def emotion_groups(names: Sequence[str | None]) -> list[tuple[str, np.ndarray, str]]:
    """How points are coloured by emotion: ``(legend label, row mask, colour)`` for each emotion
    present, in ``EMOTIONS`` order, then the rows without an emotion (None or another name) in
    ``UNLABELLED_COLOUR``. Labels carry the count: "happy (n=12)"."""
    names = np.asarray([None if n is None else str(n) for n in names], dtype=object)
    groups = []
    for name in EMOTIONS:
        mask = names == name
        if mask.any():
            groups.append((f"{name} (n={mask.sum()})", mask, EMOTION_COLOURS[name]))
    other = np.array([n not in EMOTIONS for n in names], dtype=bool)
    if other.any():
        groups.append((f"{UNLABELLED} (n={other.sum()})", other, UNLABELLED_COLOUR))
    return groups


def legend_right(ax: Axes, title: str | None = None, **kwargs) -> Legend:
    """The one legend placement: outside the axes, top right, no frame, small type, so that a
    legend never hides a point. ``kwargs`` go to ``Axes.legend`` (``handles``, ``markerscale``)."""
    return ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.02, 1),
        frameon=False,
        fontsize=8,
        title=title,
        title_fontsize=8,
        **kwargs,
    )


def message_figure(message: str) -> Figure:
    """A small figure holding only a centred message (for data a figure cannot show)."""
    fig = Figure(figsize=(6.5, 1.8), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10, transform=ax.transAxes)
    return fig


MIN_DPI = 100
"""The lowest resolution of a committed figure (``tests/course/test_figures.py`` checks them)."""


def as_jpeg(fig: Figure, dpi: int = MIN_DPI, quality: int = 85):
    """A grid of face pictures as an inline JPEG: the pictures are photographs, which PNG would
    store losslessly at several times the size. Plots (lines, points, bars, text) stay PNG: JPEG
    smears their edges and text. ``dpi`` below ``MIN_DPI`` is refused."""
    import io

    from IPython.display import Image

    if dpi < MIN_DPI:
        raise ValueError(f"a committed figure needs at least {MIN_DPI} dpi, not {dpi}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="jpeg", dpi=dpi, pil_kwargs={"quality": quality})
    return Image(data=buffer.getvalue(), format="jpeg")


__all__ = [
    "AROUSAL_LABEL",
    "DIM_COLOURS",
    "EMOTION_COLOURS",
    "MIN_DPI",
    "MAX_WIDTH",
    "SPLIT_COLOURS",
    "UNLABELLED",
    "UNLABELLED_COLOUR",
    "VALENCE_LABEL",
    "as_jpeg",
    "covariance_ellipse",
    "draw_circumplex",
    "emotion_groups",
    "legend_right",
    "message_figure",
]
