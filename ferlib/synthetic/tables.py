"""The statistics SyntheticFER imitates. Edit these tables to change what the generator draws.

How often Stable Diffusion rendered the prompted emotion as each annotated one, from the real
DiffusionFER-S ``dataset_sheet.csv`` (the cropped set), and how far a prompt's intensity word
moves the face. The VA per annotated expression, also the real sheet's, lives with the emotions
(``ferlib.emotions.VA_STATS``).
"""

from __future__ import annotations

from ..emotions import EMOTIONS, VA_STATS

PROMPT_FIDELITY: dict[str, dict[str, float]] = {
    # prompted emotion -> share of images annotated as each expression (rows sum to 1)
    "angry": {
        "angry": 0.60,
        "surprise": 0.16,
        "neutral": 0.11,
        "disgust": 0.07,
        "fear": 0.04,
        "sad": 0.02,
    },
    "disgust": {
        "disgust": 0.47,
        "neutral": 0.26,
        "angry": 0.12,
        "surprise": 0.07,
        "sad": 0.05,
        "fear": 0.03,
    },
    "fear": {"fear": 0.77, "neutral": 0.18, "surprise": 0.05},
    "surprise": {"surprise": 0.70, "angry": 0.22, "fear": 0.05, "neutral": 0.03},
    "happy": {"happy": 0.99, "neutral": 0.01},
    "neutral": {"neutral": 0.99, "angry": 0.01},
    "sad": {"sad": 0.98, "neutral": 0.01, "angry": 0.01},
}

INTENSITY_WORDS: tuple[tuple[str, float], ...] = (
    # prompt intensity word, and how far it scales the emotion away from neutral in the VA plane
    ("slightly", 0.75),
    ("", 0.92),
    ("very", 1.08),
    ("extremely", 1.25),
)


def validate_tables(
    va_stats: dict[str, tuple[float, float, float, float]] = VA_STATS,
    fidelity: dict[str, dict[str, float]] = PROMPT_FIDELITY,
) -> None:
    """Raise ``ValueError`` on an unknown emotion or a fidelity row that does not sum to 1."""
    missing = set(EMOTIONS) - set(va_stats)
    if missing:
        raise ValueError(f"VA_STATS lacks {sorted(missing)}")
    for prompted, row in fidelity.items():
        unknown = (set(row) | {prompted}) - set(EMOTIONS)
        if unknown:
            raise ValueError(
                f"PROMPT_FIDELITY[{prompted!r}] names unknown emotions {sorted(unknown)}"
            )
        total = sum(row.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"PROMPT_FIDELITY[{prompted!r}] sums to {total:.4f}, not 1")
