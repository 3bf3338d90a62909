"""Evaluate a model on a whole split: predictions gathered once, metrics computed globally."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch.utils.data import DataLoader

from ..data.transforms import normalize
from ..errors import UserError
from .metrics import VAMetrics


def to_model_input(
    images: torch.Tensor, device: torch.device, channels_last: bool = False
) -> torch.Tensor:
    """uint8 batch from a loader -> normalised float batch on ``device``."""
    x = normalize(images.to(device, non_blocking=True))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``model`` in ``eval()`` inside the block, back in its own mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def model_outputs(
    model: torch.nn.Module, loader: DataLoader, device: torch.device, channels_last: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(predictions N×2, latents N×D, targets N×2) on the CPU in loader order (float64 for the
    predictions and targets). The model is in ``eval()`` for the pass, then back in its mode."""
    preds, latents, targets = [], [], []
    with evaluating(model):
        for images, y, _ in loader:
            out, z = model(to_model_input(images, device, channels_last))
            preds.append(out.float().cpu())
            latents.append(z.float().cpu())
            targets.append(y)
    if not preds:
        raise UserError("evaluation split is empty")
    return torch.cat(preds).double(), torch.cat(latents), torch.cat(targets).double()


@torch.no_grad()
def trunk_features(
    model: torch.nn.Module, loader: DataLoader, device: torch.device
) -> torch.Tensor:
    """The trunk's features h (N, F) on the CPU in loader order, in ``eval()`` for the pass.

    Every method shares the trunk's shape, so h is where methods compare like with like (their
    head latents z differ in size: 512 for the Baseline, 8 for CAF, 64 for ELIM on the CPU).
    """
    with evaluating(model):
        return torch.cat(
            [model.trunk(to_model_input(images, device)).float().cpu() for images, _, _ in loader]
        )


@torch.no_grad()
def recalibrate_batchnorm(
    model: torch.nn.Module, loader: DataLoader, device: torch.device
) -> torch.nn.Module:
    """A copy of ``model`` whose BatchNorm statistics are re-estimated on ``loader``'s images as
    inference sees them (dropout off, one plain pass): the exact mean over batches.

    A diagnostic: when training feeds BatchNorm other inputs than inference does (ELIM runs its
    VA head on shift-normalised identity groups), the running statistics it keeps can miss the
    inputs it meets at test time. The original model is left untouched.
    """
    copy_ = copy.deepcopy(model).to(device).eval()
    norms = [m for m in copy_.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise ValueError("the model has no BatchNorm layer to recalibrate")
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: every batch weighs the same
        norm.train()
    for images, _, _ in loader:
        copy_(to_model_input(images, device))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    return copy_.eval()


def predict_loader(
    model: torch.nn.Module, loader: DataLoader, device: torch.device, channels_last: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """(predictions, targets), each N×2 float64 on the CPU, in loader order."""
    preds, _, targets = model_outputs(model, loader, device, channels_last)
    return preds, targets


def evaluate(
    model: torch.nn.Module, loader: DataLoader, device: torch.device, channels_last: bool = False
) -> dict[str, float]:
    """The project metrics (RMSE, PCC, CCC, SAGR for V and A, and mean CCC) on ``loader``."""
    preds, targets = predict_loader(model, loader, device, channels_last)
    metric = VAMetrics()
    metric.update(preds, targets)
    return metric.compute()
