"""Several VA models read as one: the mean of their predictions, optionally over a mirrored copy
of each input (horizontal-flip test-time augmentation).

An ``Ensemble`` is what a checkpoint holding several members loads as
(``training.checkpoint.load_model``): ``forward`` returns (ŷ, z) like ``VAModel``, so ``predict``,
``evaluate``, ``peers`` and the robustness table use it unchanged. ŷ is the mean over members
(and, with ``hflip``, over the picture and its mirror image); z is the members' latents side by
side (each the mean over the views), since the latents of separately trained members do not share
axes. One member with ``hflip`` is test-time augmentation alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Ensemble(nn.Module):
    """``members`` (``VAModel``s of one shape) averaged; ``hflip`` adds each input's mirror image.

    ``config`` is the members' build arguments plus ``members`` (how many) and ``hflip``.
    """

    def __init__(self, members: Sequence[nn.Module], hflip: bool = False) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.hflip = bool(hflip)
        shape = dict(getattr(members[0], "config", {}))
        self.config = {**shape, "members": len(members), "hflip": self.hflip}

    def views(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The inputs each member reads: ``x``, and its mirror image with ``hflip``."""
        return [x, torch.flip(x, dims=(-1,))] if self.hflip else [x]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        views = self.views(x)
        preds, latents = [], []
        for member in self.members:
            outs = [member(view) for view in views]
            preds += [y for y, _ in outs]
            latents.append(torch.stack([z for _, z in outs]).mean(0))
        return torch.stack(preds).mean(0), torch.cat(latents, dim=1)


__all__ = ["Ensemble"]
