"""Baseline (AffectNet, TAC 2017): plain supervised VA regression, the control arm.

image -> trunk -> h -> bottleneck head -> (v, a). One loss, L_sup (MSE + PCC + CCC terms), and two
Adams (trunk, head) with betas (0.5, 0.99). Spec: ``docs/methods/baseline.md``.
"""

from __future__ import annotations

import torch

from .base import Method
from .losses import sup_loss


class Baseline(Method):
    name = "baseline"

    def loss(self, pred: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return sup_loss(pred.float(), targets, self.config["sup_loss"])

    def training_step(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        iteration: int,
        index: torch.Tensor | None = None,
    ) -> dict[str, float]:
        with self.autocast():
            pred, _ = self.model(images)
        loss = self.loss(pred, targets)
        self.backward_and_step(loss, ("trunk", "head"))
        return {"loss": loss.item()}
