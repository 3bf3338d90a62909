"""The shared supervised loss L_sup of ``docs/methods/metrics.md`` §5, used by all four methods.

L_sup = MSE_v + MSE_a + 0.5·(1 − mean PCC) + 0.5·(1 − mean CCC), over the mini-batch, with
population batch moments. It is a per-batch training objective, not a metric: evaluation uses
`ferlib.evaluation.metrics`, which has no epsilon and scores the whole split at once.
"""

from __future__ import annotations

import torch

from ..errors import UserError
from ..params import PARAMETERS

LOSS_KINDS: tuple[str, ...] = tuple(PARAMETERS["sup_loss"].choices or ())
"""The ``sup_loss`` parameter's choices: L_sup with its PCC and CCC terms, or the MSE alone."""
EPS = 1e-8


def loss_terms(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Differentiable per-dimension pieces of L_sup: `mse_*`, `pcc_*`, `ccc_*` for v and a.

    ρ = cov / sqrt(σ_y²σ_ŷ² + ε) and c = 2cov / (σ_y² + σ_ŷ² + (μ_y − μ_ŷ)² + ε): with ε inside
    and no square root of a lone variance, gradients stay finite when the predictions are constant
    (as at initialisation). CCC uses the covariance directly, never a product of stds.

    Taught in ``notebooks/10_baseline.ipynb`` §2.
    """
    if pred.ndim != 2 or pred.shape[1] != 2 or pred.shape != target.shape:
        raise ValueError(
            f"pred and target must both have shape (N, 2), got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    if pred.shape[0] < 2:
        raise ValueError(
            f"the supervised loss needs a batch of at least 2 samples (got {pred.shape[0]}): "
            "a correlation needs two samples; training loaders use drop_last=True"
        )
    mu_p, mu_y = pred.mean(0), target.mean(0)
    dp, dy = pred - mu_p, target - mu_y
    var_p, var_y, cov = dp.pow(2).mean(0), dy.pow(2).mean(0), (dp * dy).mean(0)
    mse = (pred - target).pow(2).mean(0)
    pcc = cov / torch.sqrt(var_y * var_p + EPS)
    ccc = 2 * cov / (var_y + var_p + (mu_y - mu_p).pow(2) + EPS)
    return {
        "mse_v": mse[0],
        "mse_a": mse[1],
        "pcc_v": pcc[0],
        "pcc_a": pcc[1],
        "ccc_v": ccc[0],
        "ccc_a": ccc[1],
    }


def sup_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "ccc_pcc") -> torch.Tensor:
    """L_sup on a (N, 2) batch, N >= 2 for both kinds (so switching kind never changes which batches
    are accepted).

    `kind="ccc_pcc"` (project default): MSE_v + MSE_a + 0.5·(1 − mean ρ) + 0.5·(1 − mean c). The
    MSEs are summed, not averaged. `kind="mse"`: MSE_v + MSE_a, the AffectNet paper's objective.

    Taught in ``notebooks/10_baseline.ipynb`` §2.
    """
    if kind not in LOSS_KINDS:
        raise UserError(f"unknown loss kind {kind!r}; choose one of {LOSS_KINDS}")
    t = loss_terms(pred, target)
    loss = t["mse_v"] + t["mse_a"]
    if kind == "ccc_pcc":
        loss = loss + 0.5 * (1 - (t["pcc_v"] + t["pcc_a"]) / 2)
        loss = loss + 0.5 * (1 - (t["ccc_v"] + t["ccc_a"]) / 2)
    return loss
