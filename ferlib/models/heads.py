"""VA heads: feature h (B, F) -> (ŷ (B, 2), z (B, latent)).

The output is linear (no tanh, no clipping) and all dropout is done by modules, so ``eval()``
switches it off (FER-Zoo's ResNet head used functional dropout that stayed on at test time).
"""

from __future__ import annotations

import torch
from torch import nn

from ..params import check_choice

HEADS: tuple[str, ...] = ("bottleneck", "alexnet_fc", "elim")

# kind -> (hidden width(s), latent width): FER-Zoo's narrow bottleneck, the paper's AlexNet FC,
# ELIM's faithful AlexNet latent head (docs/methods/elim.md §2).
_SIZES = {"bottleneck": (64, 512), "alexnet_fc": (4096, 4096), "elim": (256, 512)}
ELIM_EXPANSION = 20  # ELIM's f_θ: d -> 20d -> BatchNorm -> ReLU -> 2


class VAHead(nn.Module):
    """Dropout -> Linear F->hidden -> ReLU -> Dropout -> Linear hidden->latent -> ReLU (= z) -> 2.

    ``kind="bottleneck"`` (default, FER-Zoo): hidden 64, latent 512. ``kind="alexnet_fc"``
    (paper-style): hidden = latent = 4096. ``hidden``/``latent`` override the kind's sizes;
    ``hidden`` may be a list of widths (one Dropout → Linear → ReLU block each).

    ``kind="elim"`` (docs/methods/elim.md §2): every Linear after the first is followed by
    BatchNorm1d, and ``out`` is ELIM's f_θ, latent → 20·latent → BatchNorm1d → ReLU → 2.
    """

    def __init__(
        self,
        in_features: int,
        kind: str = "bottleneck",
        dropout: float = 0.5,
        latent: int | None = None,
        hidden: int | list[int] | None = None,
    ) -> None:
        super().__init__()
        check_choice(kind, HEADS, "head")
        hidden = hidden or _SIZES[kind][0]
        widths = [in_features, *([hidden] if isinstance(hidden, int) else hidden)]
        latent = latent or _SIZES[kind][1]
        self.kind, self.in_features, self.latent = kind, in_features, latent
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(widths, [*widths[1:], latent], strict=True)):
            layers += [nn.Dropout(dropout), nn.Linear(n_in, n_out)]
            if kind == "elim" and i > 0:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(nn.ReLU())
        self.body = nn.Sequential(*layers)
        if kind == "elim":
            wide = ELIM_EXPANSION * latent
            self.out: nn.Module = nn.Sequential(
                nn.Linear(latent, wide), nn.BatchNorm1d(wide), nn.ReLU(), nn.Linear(wide, 2)
            )
        else:
            self.out = nn.Linear(latent, 2)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.body(h)
        return self.out(z), z
