"""VA heads: feature h (B, F) -> (ŷ (B, 2), z (B, latent)).

The output is linear (no tanh, no clipping) and all dropout is done by modules, so ``eval()``
switches it off (FER-Zoo's ResNet head used functional dropout that stayed on at test time).
"""

from __future__ import annotations

import torch
from torch import nn

from .backbones import check_choice

HEADS: tuple[str, ...] = ("bottleneck", "alexnet_fc")

# kind -> (hidden width, latent width): FER-Zoo's narrow bottleneck, the paper's AlexNet FC.
_SIZES = {"bottleneck": (64, 512), "alexnet_fc": (4096, 4096)}


class VAHead(nn.Module):
    """Dropout -> Linear F->hidden -> ReLU -> Dropout -> Linear hidden->latent -> ReLU (= z) -> 2.

    ``kind="bottleneck"`` (default, FER-Zoo): hidden 64, latent 512. ``kind="alexnet_fc"``
    (paper-style): hidden = latent = 4096. ``hidden``/``latent`` override the kind's sizes.
    """

    def __init__(
        self,
        in_features: int,
        kind: str = "bottleneck",
        dropout: float = 0.5,
        latent: int | None = None,
        hidden: int | None = None,
    ) -> None:
        super().__init__()
        check_choice(kind, HEADS, "head")
        hidden = hidden or _SIZES[kind][0]
        latent = latent or _SIZES[kind][1]
        self.kind, self.in_features, self.latent = kind, in_features, latent
        self.body = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, latent),
            nn.ReLU(),
        )
        self.out = nn.Linear(latent, 2)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.body(h)
        return self.out(z), z
