"""Figures for predictions on real inputs: annotated pictures and valence–arousal traces.

``annotate`` draws on the picture itself (boxes in the emotion's colour, V/A written above each
face, grey boxes for faces that were found but not predicted), so that ``ferlib predict
--annotate DIR`` writes images a user can flip through. ``va_trace_figure`` draws a video's
valence and arousal over time, raw and smoothed, against the truth when it is known.

Taught in ``notebooks/40_real_faces.ipynb`` §2 and §4.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from .style import (
    DIM_COLOURS,
    EMOTION_COLOURS,
    UNLABELLED_COLOUR,
    draw_circumplex,
    legend_right,
)


def annotate(image: np.ndarray, rows: Sequence[Mapping]) -> Image.Image:
    """``image`` with each row's box and ``V +0.42 A +0.28 happy`` (or its status) drawn on."""
    out = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(out)
    from PIL import ImageFont

    width = max(2, round(min(out.size) / 160))
    font = ImageFont.load_default(size=max(11, round(min(out.size) / 28)))
    for row in rows:
        if row.get("x") is None:
            continue
        x, y, w, h = (int(row[k]) for k in ("x", "y", "w", "h"))
        ok = row.get("valence") is not None
        colour = EMOTION_COLOURS.get(row.get("emotion"), UNLABELLED_COLOUR) if ok else "#888888"
        draw.rectangle((x, y, x + w, y + h), outline=colour, width=width)
        text = (
            f"V {row['valence']:+.2f} A {row['arousal']:+.2f} {row['emotion']}"
            if ok
            else str(row.get("status"))
        )
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        lift = bottom + 6
        y_text = y - lift if y >= lift else y + h  # above the box, or below it at the top edge
        draw.rectangle((x, y_text, x + right - left + 6, y_text + lift), fill=colour)
        draw.text((x + 3, y_text + 2), text, fill="white", font=font)
    return out


def va_trace_figure(
    time: np.ndarray,
    predicted: Mapping[str, np.ndarray],
    smoothed: Mapping[str, np.ndarray] | None = None,
    truth: Mapping[str, np.ndarray] | None = None,
    title: str | None = None,
) -> Figure:
    """Valence (top) and arousal (bottom) over time: raw dots, smoothed line, dashed truth.

    Frames without a predicted face are gaps, not zeros.
    """
    fig = Figure(figsize=(9, 4.6), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    for ax, dim in zip(axes, ("valence", "arousal"), strict=True):
        colour = DIM_COLOURS[dim]
        ax.plot(time, predicted[dim], ".", color=colour, alpha=0.45, label="predicted")
        if smoothed is not None:
            ax.plot(time, smoothed[dim], "-", color=colour, linewidth=2, label="smoothed")
        if truth is not None:
            ax.plot(truth["time"], truth[dim], "--", color="0.25", linewidth=1.5, label="truth")
        ax.axhline(0, color="0.85", linewidth=0.8, zorder=0)
        ax.set_ylim(-1, 1)
        ax.set_ylabel(dim)
        legend_right(ax)
    axes[-1].set_xlabel("time (s)")
    if title:
        axes[0].set_title(title)
    return fig


def _free_spot(x: float, y: float, taken: list[tuple[float, float]], step: float) -> tuple:
    """Of eight spots ``step`` away from ``(x, y)`` inside the circumplex's square, the one
    farthest from every spot in ``taken`` (points and numbers already drawn)."""
    best, best_room = (x + step, y + step), -1.0
    for angle in np.linspace(np.pi / 4, 2 * np.pi + np.pi / 4, 8, endpoint=False):
        spot = (x + step * np.cos(angle), y + step * np.sin(angle))
        if max(abs(spot[0]), abs(spot[1])) > 0.95:
            continue
        room = min((np.hypot(spot[0] - u, spot[1] - w) for u, w in taken), default=np.inf)
        if room > best_room:
            best, best_room = spot, room
    return best


def circumplex_points_figure(
    valence: Sequence[float],
    arousal: Sequence[float],
    labels: Sequence[str],
    emotions: Sequence[str],
    max_named: int = 12,
) -> Figure:
    """Predicted faces as points on the circumplex, coloured by the nearest emotion.

    Up to ``max_named`` points are numbered, each number on the free side of its point (away from
    the other points and numbers), and the legend says which face each number is and its nearest
    emotion; with more points the legend names the colours only."""
    fig = Figure(figsize=(7.6, 5.2), layout="constrained")
    ax = fig.subplots()
    draw_circumplex(ax)
    points = list(zip(valence, arousal, labels, emotions, strict=True))
    named = len(points) <= max_named
    taken = [(float(v), float(a)) for v, a, _, _ in points]
    for number, (v, a, label, emotion) in enumerate(points, start=1):
        colour = EMOTION_COLOURS.get(emotion, UNLABELLED_COLOUR)
        entry = f"{number}: {label} ({emotion})" if named else None
        ax.scatter([v], [a], s=60, color=colour, edgecolor="white", zorder=3, label=entry)
        if named:
            spot = _free_spot(float(v), float(a), taken, 0.07)
            taken.append(spot)
            ax.text(*spot, str(number), fontsize=9, ha="center", va="center", zorder=4)
    if not named:
        for emotion in dict.fromkeys(emotions):
            colour = EMOTION_COLOURS.get(emotion, UNLABELLED_COLOUR)
            ax.scatter([], [], s=60, color=colour, label=emotion)
    title = "face (nearest emotion)" if named else "nearest emotion"
    legend_right(ax, title)
    return fig


def pictures_figure(
    images: Sequence[np.ndarray | Image.Image], titles: Sequence[str], width: float = 9.0
) -> Figure:
    """Pictures side by side, each with its title (crops, shifted faces, annotated photos)."""
    n = len(images)
    fig = Figure(figsize=(width, width / n * 1.25), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n))
    for ax, image, title in zip(axes, images, titles, strict=True):
        ax.imshow(np.asarray(image))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    return fig


def shift_drops_figure(drops: Mapping[str, Mapping[str, float]]) -> Figure:
    """Drop in mean CCC under each shift, one bar group per shift, one bar per model."""
    models = list(drops)
    shifts = list(next(iter(drops.values())))
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(shifts))
    width = 0.8 / len(models)
    greys = ("#4d4d4d", "#a6a6a6", "#d9d9d9")
    for i, model in enumerate(models):
        ax.bar(
            x + (i - (len(models) - 1) / 2) * width,
            [drops[model][s] for s in shifts],
            width,
            label=model,
            color=greys[i % len(greys)],
        )
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_xticks(x, shifts, rotation=30, ha="right")
    ax.set_ylabel("drop in mean CCC\n(clean − shifted)")
    legend_right(ax)
    return fig


__all__ = [
    "annotate",
    "circumplex_points_figure",
    "pictures_figure",
    "shift_drops_figure",
    "va_trace_figure",
]
