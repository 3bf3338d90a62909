"""Per-sample changes to uint8 N×3×H×W image batches, the parameters given by the caller.

One implementation of each change serves two callers that differ only in where the randomness
comes from: train-time augmentation (``ferlib.data.augment``, the global RNG that checkpoints
save) and the evaluation's named image shifts (``ferlib.evaluation.shifts``, a seeded generator).
torchvision's transforms v2 functionals do the work where one value serves a group of images
(greyscale, blur, JPEG, resize); per-sample factors and angles, which v2 applies one value per
call, are batched tensor arithmetic here, because a v2 call per image costs more than a CPU
training step. Strengths that are lengths (blur sigma, small-face size, occluder side) are given
relative to the image side, so a shift means the same at 64 px and at 224 px.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as tnf
from torchvision.transforms.v2 import functional as F


def _check(batch: torch.Tensor) -> None:
    if batch.dtype != torch.uint8 or batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"expected a uint8 N×3×H×W batch, got {tuple(batch.shape)} {batch.dtype}")


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.round_().clamp_(0, 255).to(torch.uint8)


def _per_sample(values: torch.Tensor | float, n: int) -> torch.Tensor:
    """A float N×1×1×1 tensor from one value or N values."""
    return torch.as_tensor(values, dtype=torch.float32).expand(n).reshape(n, 1, 1, 1)


def by_value(
    batch: torch.Tensor, values: torch.Tensor, change: Callable[[torch.Tensor, float], torch.Tensor]
) -> torch.Tensor:
    """``change(rows, value)`` applied to the rows of ``batch`` that share each of ``values``
    (one per row): one v2 call per distinct value, not per image."""
    out = batch.clone()
    for value in torch.unique(values).tolist():
        rows = (values == value).nonzero().squeeze(1)
        out[rows] = change(batch[rows], value)
    return out


def greyscale(batch: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma in all three channels (v2 ``rgb_to_grayscale``)."""
    _check(batch)
    return F.rgb_to_grayscale(batch, num_output_channels=3)


def colour(
    batch: torch.Tensor,
    brightness: torch.Tensor | float = 1.0,
    contrast: torch.Tensor | float = 1.0,
    saturation: torch.Tensor | float = 1.0,
) -> torch.Tensor:
    """Brightness, contrast and saturation factors (1: unchanged), one per image or one for all.

    The definitions of v2 ``adjust_brightness`` / ``adjust_contrast`` / ``adjust_saturation``
    (scale; blend with the image's mean grey; blend with its greyscale), applied in that order
    with per-image factors and clamped to [0, 255] after each step, as v2 does.
    """
    _check(batch)
    n = len(batch)
    x = batch.float().mul_(_per_sample(brightness, n)).clamp_(0, 255)
    c = _per_sample(contrast, n)
    mean = F.rgb_to_grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    x = (x * c + mean * (1 - c)).clamp_(0, 255)
    s = _per_sample(saturation, n)
    x = (x * s + F.rgb_to_grayscale(x) * (1 - s)).clamp_(0, 255)
    return _to_uint8(x)


def blur(batch: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of standard deviation ``sigma`` × the image side (v2 ``gaussian_blur``)."""
    _check(batch)
    px = max(float(sigma) * batch.shape[-1], 1e-3)
    kernel = 2 * int(torch.tensor(3 * px).ceil()) + 1
    return F.gaussian_blur(batch, [kernel, kernel], [px, px])


def jpeg(batch: torch.Tensor, quality: int) -> torch.Tensor:
    """Encoded and decoded as JPEG at ``quality`` (1–100; v2 ``jpeg``)."""
    _check(batch)
    return F.jpeg(batch, int(quality))


def downscale(batch: torch.Tensor, fraction: float) -> torch.Tensor:
    """Resized to ``fraction`` of its side (antialiased) and back up (bilinear): a small face in
    a photograph, enlarged to the network's input (v2 ``resize``)."""
    _check(batch)
    height, width = batch.shape[-2:]
    small = [max(1, round(height * fraction)), max(1, round(width * fraction))]
    return F.resize(F.resize(batch, small, antialias=True), [height, width], antialias=False)


def rotate(batch: torch.Tensor, degrees: torch.Tensor | float) -> torch.Tensor:
    """Rotated about the centre by ``degrees`` (one per image; the sign is the direction),
    bilinear, the uncovered corners black (v2 ``rotate``'s default fill), one ``grid_sample``."""
    _check(batch)
    n = len(batch)
    theta = torch.as_tensor(degrees, dtype=torch.float32).expand(n).deg2rad()
    cos, sin = theta.cos(), theta.sin()
    zero = torch.zeros_like(cos)
    # output -> input sampling coordinates, in the normalised [-1, 1] frame of a square image
    matrix = torch.stack([cos, -sin, zero, sin, cos, zero], dim=1).view(n, 2, 3)
    grid = tnf.affine_grid(matrix, list(batch.shape), align_corners=False)
    out = tnf.grid_sample(batch.float(), grid, mode="bilinear", align_corners=False)
    return _to_uint8(out)


def occlude(
    batch: torch.Tensor, top: torch.Tensor, left: torch.Tensor, side: float, fill: int = 0
) -> torch.Tensor:
    """A ``side`` × image-side square of value ``fill`` at (``top``, ``left``) in each image
    (fractions of the image side in [0, 1 - side]): a hand, a cup, a phone in front of the face."""
    _check(batch)
    height, width = batch.shape[-2:]
    h, w = max(1, round(side * height)), max(1, round(side * width))
    y0 = (torch.as_tensor(top).float() * height).round().long().view(-1, 1, 1)
    x0 = (torch.as_tensor(left).float() * width).round().long().view(-1, 1, 1)
    ys = torch.arange(height).view(1, -1, 1)
    xs = torch.arange(width).view(1, 1, -1)
    inside = (ys >= y0) & (ys < y0 + h) & (xs >= x0) & (xs < x0 + w)
    return batch.masked_fill(inside.unsqueeze(1), fill)


def hflip(batch: torch.Tensor) -> torch.Tensor:
    """Mirrored left to right (v2 ``horizontal_flip``)."""
    _check(batch)
    return F.horizontal_flip(batch)
