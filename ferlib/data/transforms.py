"""Tensor augmentation (torchvision transforms v2) on uint8 images from the store.

Train: random crop + horizontal flip (a flip leaves valence and arousal unchanged).
Eval: centre crop. Normalisation to ImageNet statistics happens once per batch on the device.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def train_transform(image_size: int) -> v2.Transform:
    return v2.Compose([v2.RandomCrop(image_size), v2.RandomHorizontalFlip()])


def eval_transform(image_size: int) -> v2.Transform:
    return v2.CenterCrop(image_size)


_normalize = v2.Compose(
    [v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
)


def normalize(batch: torch.Tensor) -> torch.Tensor:
    """uint8 N×3×H×W -> float32, ImageNet-normalised."""
    return _normalize(batch)


def denormalize(batch: torch.Tensor) -> torch.Tensor:
    """Inverse of ``normalize`` into [0, 1] floats, for plotting."""
    mean = torch.tensor(IMAGENET_MEAN, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=batch.device).view(1, 3, 1, 1)
    return (batch * std + mean).clamp(0, 1)
