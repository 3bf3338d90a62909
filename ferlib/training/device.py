"""Pick the compute device: CUDA, else Apple MPS, else CPU (or what the user asks for)."""

from __future__ import annotations

import torch

from ..errors import UserError

DEVICES = ("auto", "cpu", "cuda", "mps")


def select_device(choice: str = "auto") -> torch.device:
    if choice not in DEVICES:
        raise UserError(f"unknown device {choice!r}; choose from {', '.join(DEVICES)}")
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' requested but no CUDA GPU is visible")
    return torch.device(choice)


def use_channels_last(device: torch.device, amp: bool) -> bool:
    """Whether to train and evaluate in the channels-last memory layout.

    On the CPU always: oneDNN's convolutions are faster in it (``ferlib bench --layout``: on the
    2-core machine the four methods train 1.13× to 1.18× faster from the loader). On CUDA
    together with mixed precision, where tensor cores want it. The layout changes the order of
    floating-point operations, not the model: checkpoints are layout-free.
    """
    return device.type == "cpu" or (device.type == "cuda" and amp)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads; no GPU found)"
    return device.type
