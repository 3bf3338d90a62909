"""The seven DiffusionFER emotion classes and their integer codes (shared by every dataset)."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "angry")
"""Class names indexed by DiffusionFER's expression code (0 neutral … 6 angry)."""

CODE: dict[str, int] = {name: code for code, name in enumerate(EMOTIONS)}


def emotion_name(code: int) -> str:
    """Name for an expression code, with a clear error for codes outside 0–6."""
    if not 0 <= int(code) < len(EMOTIONS):
        raise ValueError(f"expression code {code!r} is not one of 0–6 ({', '.join(EMOTIONS)})")
    return EMOTIONS[int(code)]
