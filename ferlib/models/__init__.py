"""Models: trunk (image -> h) + VA head (h -> ŷ, z), shared by all four methods.

At inference every method is ``VAModel`` only; method-specific modules live with the methods.
``Ensemble`` (``ensemble.py``) reads several ``VAModel``s as one, with optional flip TTA.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ..params import check_choice
from .backbones import BACKBONES, build_backbone
from .ensemble import Ensemble
from .heads import HEADS, VAHead


class VAModel(nn.Module):
    """``trunk`` then ``head``; ``forward`` returns (ŷ (B, 2), z (B, latent)).

    ``config`` holds the build arguments (JSON-able) so a checkpoint is state_dict + config.
    """

    def __init__(self, trunk: nn.Module, head: VAHead, config: dict | None = None) -> None:
        super().__init__()
        self.trunk, self.head = trunk, head
        self.config = dict(config or {})

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """h = trunk(x), the feature that CAF's critic reads."""
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.trunk(x))


def parameter_count(module: nn.Module) -> int:
    """How many numbers ``module`` learns (its parameters' elements, trainable or not)."""
    return sum(p.numel() for p in module.parameters())


def build_model(
    backbone: str = "small_cnn",
    head: str = "bottleneck",
    pretrained: bool | str | os.PathLike = False,
    width: int = 1,
    dropout: float = 0.5,
    hidden: int | list[int] | None = None,
    latent: int | None = None,
) -> VAModel:
    """A fresh ``VAModel``; defaults are the CPU-quick model (small_cnn + bottleneck, 165,346).

    ``hidden``/``latent`` resize the head (CAF's regressor is 64→8→2); ``model.config`` records
    every argument but ``pretrained``, so ``build_model(**model.config)`` rebuilds the same shape.

    Taught in ``notebooks/10_baseline.ipynb`` §1.
    """
    check_choice(head, HEADS, "head")  # fail before building a (possibly large) trunk
    trunk = build_backbone(backbone, pretrained=pretrained, width=width)
    va_head = VAHead(trunk.out_features, kind=head, dropout=dropout, latent=latent, hidden=hidden)
    config = {
        "backbone": backbone,
        "head": head,
        "width": width,
        "dropout": dropout,
        "hidden": hidden,
        "latent": latent,
    }
    return VAModel(trunk, va_head, config)


__all__ = [
    "BACKBONES",
    "HEADS",
    "Ensemble",
    "VAHead",
    "VAModel",
    "build_backbone",
    "build_model",
]
