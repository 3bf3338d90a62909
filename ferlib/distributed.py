"""DDP under ``torchrun``: NCCL on GPUs, gloo on CPU; rank 0 alone logs and writes files.

At the bottom of the package (it imports nothing of ``ferlib``): the trainer joins the process
group, and the methods take their collective steps (``average_gradients``, ``rank_mean``,
``all_ranks``) without importing the trainer's package.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment (if any)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    return info


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def weight_digest(module: torch.nn.Module) -> str:
    """SHA-256 of every parameter's bytes: equal digests mean bit-identical weights."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def gather_strings(info: DistInfo, value: str) -> list[str]:
    """``value`` from every rank, in rank order (a one-element list without DDP)."""
    if not info.enabled:
        return [value]
    out: list[str] = [""] * info.world_size
    dist.all_gather_object(out, value)
    return out


# --- collective helpers for methods that step modules outside the DDP wrapper -----------------
def is_distributed() -> bool:
    """True inside a process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def average_gradients(parameters: list[torch.nn.Parameter]) -> None:
    """Average ``parameters``' gradients over the ranks, in place (what DDP does for its module).

    For modules run outside DistributedDataParallel, e.g. on sub-batches whose size differs
    between ranks (CAF's steps B and C). A no-op without DDP.
    """
    if not is_distributed():
        return
    world = dist.get_world_size()
    for p in parameters:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


def rank_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of ``value`` over the ranks (``value`` itself without DDP), so that a method's
    state updated from it (CAF's λ) stays the same on every rank."""
    if is_distributed():
        value = value.clone()
        dist.all_reduce(value)
        value /= dist.get_world_size()
    return value


def all_ranks(ok: bool, device: torch.device) -> bool:
    """True when ``ok`` holds on every rank, so that all ranks take the same optimizer steps."""
    if not is_distributed():
        return ok
    flag = torch.tensor(int(ok), device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())
