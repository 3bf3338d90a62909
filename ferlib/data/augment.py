"""Train-time photometric and geometric augmentation of uint8 batches, from the ``aug_*`` params.

DiffusionFER's generated faces are all colourful, clean and frontal, so a model trained on them
learns that colour and sharpness are always there; on a greyscale, blurred or compressed photo
its CCC falls (``ferlib evaluate --shift``). Each ``aug_*`` parameter shows the training batches
one such change, per image, drawn from the global RNG that seeding sets and checkpoints save (so
runs repeat and resume exactly). The changes are ``ferlib.data.image_ops``, the same code as the
evaluation's shifts. Every key defaults to off, and a run with all of them off draws nothing:
default runs are bit-for-bit what they were, and their run identity leaves the keys out
(``ferlib.params.identity_config``).
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

import torch

from ..params import PARAMETERS, option
from . import image_ops as ops

AUGMENT_KEYS: tuple[str, ...] = tuple(k for k in PARAMETERS if k.startswith("aug_"))
"""The augmentation parameters (``aug_*`` in ``ferlib.params``)."""

BLUR_SIGMAS = (0.01, 0.015, 0.02, 0.025, 0.03)  # fractions of the image side
JPEG_QUALITIES = (10, 20, 30, 40, 50)
DOWNSCALE_FRACTIONS = (1 / 4, 1 / 3, 1 / 2)
OCCLUDER_SIDES = (0.2, 0.3, 0.4)


def _pick(values: tuple, n: int) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.float32)[torch.randint(len(values), (n,))]


def _occlude_anywhere(batch: torch.Tensor, side: float) -> torch.Tensor:
    room = torch.rand(2, len(batch)) * (1 - side)
    return ops.occlude(batch, room[0], room[1], side)


@dataclass(frozen=True)
class Augmentation:
    """The training batches' extra changes; probabilities per image, 0 = off."""

    greyscale_p: float = 0.0
    jitter: float = 0.0
    blur_p: float = 0.0
    jpeg_p: float = 0.0
    downscale_p: float = 0.0
    rotate: float = 0.0
    occlusion_p: float = 0.0

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Augmentation:
        return cls(*(float(option(config, key)) for key in AUGMENT_KEYS))

    @property
    def active(self) -> bool:
        return any(astuple(self))

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """``batch`` (uint8 N×3×H×W) augmented, in this order: rotation, downscale, blur, colour
        jitter, greyscale, JPEG, occlusion (the camera, then the file, then the scene)."""
        n = len(batch)
        if self.rotate:
            batch = ops.rotate(batch, (torch.rand(n) * 2 - 1) * self.rotate)
        batch = self._some(batch, self.downscale_p, DOWNSCALE_FRACTIONS, ops.downscale)
        batch = self._some(batch, self.blur_p, BLUR_SIGMAS, ops.blur)
        if self.jitter:
            low, high = max(0.0, 1 - self.jitter), 1 + self.jitter
            b, c, s = (low + (high - low) * torch.rand(n) for _ in range(3))
            batch = ops.colour(batch, b, c, s)
        batch = self._some(batch, self.greyscale_p, (1,), lambda part, _: ops.greyscale(part))
        batch = self._some(batch, self.jpeg_p, JPEG_QUALITIES, ops.jpeg)
        return self._some(batch, self.occlusion_p, OCCLUDER_SIDES, _occlude_anywhere)

    @staticmethod
    def _some(batch: torch.Tensor, p: float, strengths: tuple, change) -> torch.Tensor:
        """``change(rows, strength)`` on each image with probability ``p``, the strength drawn
        from ``strengths`` per image (one v2 call per distinct strength)."""
        if not p:
            return batch
        n = len(batch)
        rows = (torch.rand(n) < p).nonzero().squeeze(1)
        values = _pick(strengths, len(rows))
        out = batch.clone()
        if len(rows):
            out[rows] = ops.by_value(batch[rows], values, change)
        return out
