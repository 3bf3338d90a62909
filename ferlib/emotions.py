"""The seven DiffusionFER emotion classes and their integer codes (shared by every dataset)."""

from __future__ import annotations

import math

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "angry")
"""Class names indexed by DiffusionFER's expression code (0 neutral … 6 angry)."""

CODE: dict[str, int] = {name: code for code, name in enumerate(EMOTIONS)}


def emotion_name(code: int) -> str:
    """Name for an expression code, with a clear error for codes outside 0–6."""
    if not 0 <= int(code) < len(EMOTIONS):
        raise ValueError(f"expression code {code!r} is not one of 0–6 ({', '.join(EMOTIONS)})")
    return EMOTIONS[int(code)]


def emotion_centres() -> dict[str, tuple[float, float]]:
    """Mean (valence, arousal) of each expression in DiffusionFER-S (``synthetic.tables``)."""
    from .synthetic.tables import VA_STATS

    return {name: (stats[0], stats[2]) for name, stats in VA_STATS.items()}


def nearest_emotion(valence: float, arousal: float) -> str:
    """The expression whose DiffusionFER-S mean is nearest to (valence, arousal) in the plane.

    A convenience label for a predicted point, not a classifier: the seven means sit close
    together (neutral, sad and surprise are within 0.6 of each other), so points between them
    get whichever is nearest.
    """
    centres = emotion_centres()
    return min(centres, key=lambda n: math.dist(centres[n], (valence, arousal)))
