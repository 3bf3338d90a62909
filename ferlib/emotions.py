"""The seven DiffusionFER emotion classes, their integer codes (shared by every dataset) and
their valence/arousal in the real DiffusionFER-S (``VA_STATS``, which SyntheticFER imitates)."""

from __future__ import annotations

import math

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "angry")
"""Class names indexed by DiffusionFER's expression code (0 neutral … 6 angry)."""

CODE: dict[str, int] = {name: code for code, name in enumerate(EMOTIONS)}

VA_STATS: dict[str, tuple[float, float, float, float]] = {
    # annotated expression: (valence mean, valence std, arousal mean, arousal std)
    "neutral": (-0.03, 0.10, 0.02, 0.09),
    "happy": (0.42, 0.09, 0.28, 0.15),
    "sad": (-0.21, 0.11, -0.15, 0.07),
    "surprise": (-0.08, 0.17, 0.52, 0.14),
    "fear": (-0.40, 0.12, 0.23, 0.16),
    "disgust": (-0.51, 0.14, 0.17, 0.14),
    "angry": (-0.53, 0.20, 0.53, 0.21),
}
"""Valence and arousal per annotated expression in the real DiffusionFER-S ``dataset_sheet.csv``
(the cropped set). SyntheticFER draws its labels around them (``SynthConfig.va_stats``; edit
them here to change what the generator draws)."""


def emotion_centres() -> dict[str, tuple[float, float]]:
    """Mean (valence, arousal) of each expression in DiffusionFER-S (``VA_STATS``)."""
    return {name: (stats[0], stats[2]) for name, stats in VA_STATS.items()}


def nearest_emotion(valence: float, arousal: float) -> str:
    """The expression whose DiffusionFER-S mean is nearest to (valence, arousal) in the plane.

    A convenience label for a predicted point, not a classifier: the seven means sit close
    together (neutral, sad and surprise are within 0.6 of each other), so points between them
    get whichever is nearest.
    """
    centres = emotion_centres()
    return min(centres, key=lambda n: math.dist(centres[n], (valence, arousal)))
