"""Sparsemax (Martins & Astudillo, 2016): the Euclidean projection onto the probability simplex.

Unlike softmax it gives exact zeros, so it keeps only the few dominant units of a vector: AVCE's
attentive view (``docs/methods/avce.md`` §2). Closed form (sort, cumulative sum, threshold),
batched over the last dimension, with the exact backward; no cvxpy and no per-sample solver
(the note's D1).
"""

from __future__ import annotations

import torch


def threshold(z: torch.Tensor) -> torch.Tensor:
    """τ with Σ max(z − τ, 0) = 1 along the last dimension (kept as a size-1 dimension).

    Sorted descending, the support size is k* = max{k : 1 + k·z₍ₖ₎ > Σ_{j≤k} z₍ⱼ₎}; the condition
    holds exactly on a prefix, so k* is the number of indices where it holds.

    Taught in ``notebooks/12_avce.ipynb`` §1.
    """
    z_sorted = z.sort(dim=-1, descending=True).values
    cumsum = z_sorted.cumsum(dim=-1)
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    support = 1 + k * z_sorted > cumsum
    k_star = support.sum(dim=-1, keepdim=True)  # >= 1: k = 1 always qualifies
    return (cumsum.gather(-1, k_star - 1) - 1) / k_star.to(z.dtype)


class SparsemaxFunction(torch.autograd.Function):
    """p = max(z − τ(z), 0); backward: grad_z = s ⊙ (g − Σⱼ sⱼgⱼ / Σⱼ sⱼ), s = 1[p > 0].

    The Jacobian diag(s) − ssᵀ/|S| is written out rather than left to autograd through the sort,
    which would be correct almost everywhere but slower and harder to read.
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:
        p = (z - threshold(z)).clamp(min=0)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (p,) = ctx.saved_tensors
        s = (p > 0).to(grad.dtype)
        mean_on_support = (grad * s).sum(dim=-1, keepdim=True) / s.sum(dim=-1, keepdim=True)
        return s * (grad - mean_on_support)


def sparsemax(z: torch.Tensor) -> torch.Tensor:
    """Sparsemax over the last dimension: non-negative, rows sum to 1, usually sparse.

    Taught in ``notebooks/12_avce.ipynb`` §1.
    """
    return SparsemaxFunction.apply(z)


__all__ = ["SparsemaxFunction", "sparsemax", "threshold"]
