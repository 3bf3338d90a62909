"""A short SyntheticFER video with known valence and arousal in every frame.

One virtual person moves through a path of expressions (neutral → happy → surprise → angry →
sad → neutral, the DiffusionFER-S mean of each, with straight moves between them) while the head
drifts, turns a little and the light changes, the nuisances a real video has. Because the truth
is known frame by frame, a predicted valence–arousal trace can be drawn against it: the one
video demo whose ground truth the project can ship (it ships no third-party videos).

Taught in ``notebooks/40_real_faces.ipynb`` §4.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..emotions import emotion_centres, nearest_emotion
from .identity import sample_identity
from .render import Nuisance, render_face

PATH: tuple[str, ...] = ("neutral", "happy", "surprise", "angry", "sad", "neutral")
"""The expressions the clip visits, in order."""


@dataclass(frozen=True)
class ClipConfig:
    """Size, length and randomness of the clip (``identity`` picks the virtual person)."""

    seconds: float = 12.0
    fps: float = 10.0
    width: int = 320
    height: int = 240
    face_size: int = 144
    identity: int = 2  # a face the Haar cascade finds in every frame (it misses many cartoons)
    seed: int = 0
    head_drift: float = 0.12  # fraction of the frame the head moves
    head_turn_deg: float = 6.0
    light_change: float = 0.35  # relative brightness swing over the clip


def va_path(t: np.ndarray, seconds: float) -> np.ndarray:
    """True (valence, arousal) at times ``t``: hold each expression, then move to the next.

    Each of the ``len(PATH) - 1`` legs takes the same time; its first 40 % holds the
    expression and the rest moves along a straight line (smoothstep in time) to the next.
    """
    centres = emotion_centres()
    points = np.array([centres[name] for name in PATH])
    legs = len(PATH) - 1
    phase = np.clip(np.asarray(t, dtype=float) / seconds, 0, 1 - 1e-9) * legs
    leg = phase.astype(int)
    s = np.clip((phase - leg - 0.4) / 0.6, 0, 1)
    s = s * s * (3 - 2 * s)
    return points[leg] * (1 - s[:, None]) + points[leg + 1] * s[:, None]


def render_clip(cfg: ClipConfig = ClipConfig()) -> Iterator[tuple[float, np.ndarray, dict]]:
    """``(time, RGB frame, truth)`` per frame; truth holds valence, arousal and expression."""
    who = sample_identity(cfg.identity, cfg.seed)
    steady = Nuisance(rotation_deg=0, scale_jitter=0, translate=0, lighting=0, noise=0, blur=0)
    count = round(cfg.seconds * cfg.fps)
    times = np.arange(count) / cfg.fps
    truth = va_path(times, cfg.seconds)
    ys, xs = np.mgrid[0 : cfg.height, 0 : cfg.width]
    room = (150 + 40 * xs / cfg.width - 30 * ys / cfg.height)[..., None] * np.array(
        [1.0, 0.95, 0.9]
    )
    noise = np.random.default_rng(cfg.seed)
    for t, (valence, arousal) in zip(times, truth, strict=True):
        expression = nearest_emotion(valence, arousal)
        # the same rng seed every frame: the same background texture, only the face changes
        face = render_face(
            who,
            valence,
            arousal,
            expression,
            np.random.default_rng(cfg.seed),
            cfg.face_size,
            nuisance=steady,
        )
        turn = cfg.head_turn_deg * math.sin(2 * math.pi * t / 5.0)
        face = face.rotate(turn, resample=Image.BILINEAR, fillcolor=(128, 128, 128))
        frame = Image.fromarray(room.astype(np.uint8))
        cx = cfg.width / 2 + cfg.head_drift * cfg.width * math.sin(2 * math.pi * t / 7.0)
        cy = cfg.height / 2 + cfg.head_drift * cfg.height * 0.5 * math.sin(2 * math.pi * t / 3.0)
        frame.paste(face, (round(cx - cfg.face_size / 2), round(cy - cfg.face_size / 2)))
        light = 1 + cfg.light_change * (t / cfg.seconds - 0.5)
        pixels = np.asarray(frame, dtype=np.float32) * light
        pixels += noise.normal(0, 2.0, pixels.shape)
        yield (
            float(t),
            pixels.clip(0, 255).astype(np.uint8),
            {
                "valence": float(valence),
                "arousal": float(arousal),
                "expression": expression,
            },
        )


__all__ = ["PATH", "ClipConfig", "render_clip", "va_path"]
