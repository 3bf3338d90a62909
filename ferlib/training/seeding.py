"""Reproducible runs: one seed for every RNG, deterministic kernels on the CPU."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ..errors import UserError
from ..params import SEED


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; ask torch for deterministic algorithms.

    On the CPU this makes a run bit-reproducible (the resume test relies on it). On CUDA a few
    kernels have no deterministic version; those warn instead of failing. A seed outside
    ``params.SEED``, [0, 2**32), is refused: NumPy would fold it onto a smaller seed's stream.
    """
    if seed not in SEED:
        raise UserError(f"seed={seed!r}: a seed must be {SEED}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())
        torch.backends.cudnn.benchmark = False


def rng_state() -> dict[str, torch.Tensor]:
    """The torch RNG states a checkpoint needs (augmentation and dropout draw from them)."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
