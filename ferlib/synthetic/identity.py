"""Virtual people: a fixed appearance per identity, plus the resting-face bias.

The resting-face bias is a personal offset in mouth curve and brow height that *looks like* affect
but is not in the label. A model that reads it predicts a person's face, not their emotion; that
person-dependence is what CAF and ELIM are designed to remove.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SKIN_TONES = (
    (255, 224, 196),
    (241, 194, 158),
    (224, 172, 125),
    (198, 134, 88),
    (141, 85, 54),
    (94, 60, 40),
)
HAIR_COLOURS = {
    "black": (30, 24, 22),
    "brown": (92, 58, 34),
    "blond": (214, 180, 104),
    "red": (160, 62, 28),
    "grey": (160, 160, 164),
    "white": (228, 228, 230),
}
IRIS_COLOURS = ((70, 45, 25), (60, 110, 160), (70, 120, 70), (40, 30, 25))
SUBJECTS = ("man", "woman", "person")
AGES = ("young", "middle-aged", "old", "teenage")
HAIR_STYLES = ("short", "long", "bald", "bun")


@dataclass(frozen=True)
class Identity:
    """Appearance of one virtual person; every image of that person shares it."""

    name: str
    subject: str
    age: str
    face_width: float  # fraction of the canvas
    face_height: float
    jaw: float  # 0 round … 1 square
    skin: tuple[int, int, int]
    hair_colour: str
    hair_style: str
    iris: tuple[int, int, int]
    eye_spacing: float  # fraction of face width between eye centres
    eye_size: float
    mouth_width: float  # fraction of face width
    glasses: bool
    beard: bool
    earrings: bool
    mouth_bias: float  # resting mouth curve, in valence units, before identity_bias scaling
    brow_bias: float  # resting brow height, + raised, before identity_bias scaling

    @property
    def hair_rgb(self) -> tuple[int, int, int]:
        return HAIR_COLOURS[self.hair_colour]


def sample_identity(index: int, seed: int) -> Identity:
    """Identity ``index`` of the set drawn with ``seed``; independent of how many others exist."""
    rng = np.random.default_rng([seed, 7_919, index])
    subject = SUBJECTS[rng.integers(len(SUBJECTS))]
    hair_colour = list(HAIR_COLOURS)[rng.integers(len(HAIR_COLOURS))]
    return Identity(
        name=f"id{index:03d}",
        subject=subject,
        age=AGES[rng.integers(len(AGES))],
        face_width=float(rng.uniform(0.46, 0.60)),
        face_height=float(rng.uniform(0.62, 0.76)),
        jaw=float(rng.uniform(0.0, 1.0)),
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))],
        hair_colour=hair_colour,
        hair_style=HAIR_STYLES[rng.integers(len(HAIR_STYLES))],
        iris=IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))],
        eye_spacing=float(rng.uniform(0.34, 0.46)),
        eye_size=float(rng.uniform(0.85, 1.2)),
        mouth_width=float(rng.uniform(0.32, 0.46)),
        glasses=bool(rng.random() < 0.25),
        beard=bool(subject == "man" and rng.random() < 0.4),
        earrings=bool(subject == "woman" and rng.random() < 0.4),
        mouth_bias=float(rng.uniform(-0.35, 0.35)),
        brow_bias=float(rng.uniform(-0.35, 0.35)),
    )
