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


_MEAN_255 = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255
_INV_STD_255 = 1 / (torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255)


def normalize(batch: torch.Tensor) -> torch.Tensor:
    """uint8 N×3×H×W -> float32, ImageNet-normalised.

    Equivalent to ``v2.ToDtype(scale=True)`` + ``v2.Normalize`` but in place after one float
    conversion: about 14x faster on a CPU batch, where it otherwise costs as much as the loader.
    """
    mean = _MEAN_255.to(batch.device)
    inv_std = _INV_STD_255.to(batch.device)
    return batch.float().sub_(mean).mul_(inv_std)


def denormalize(batch: torch.Tensor) -> torch.Tensor:
    """Inverse of ``normalize`` into [0, 1] floats, for plotting."""
    mean = torch.tensor(IMAGENET_MEAN, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=batch.device).view(1, 3, 1, 1)
    return (batch * std + mean).clamp(0, 1)
