"""Optional ImageNet weights for the trunks, offline by default.

A download happens only when the user asks for pretrained weights *and* sets
``FERZOO_ALLOW_DOWNLOAD=1``; otherwise the file must already sit in the torch hub cache
(``torch.hub.get_dir()/checkpoints``, the place torchvision itself uses) or be passed as a local
path (relative paths from the repository root, like ``data_dir``, so that a profile means the same
file from the command line and from a notebook). Missing weights fail at once with a message
saying how to get them, never with a hang.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import OfflineError, UserError
from ..paths import resolve

ALLOW_DOWNLOAD_ENV = "FERZOO_ALLOW_DOWNLOAD"

# Keys of a full ImageNet checkpoint that the trunk does not use (the 1000-way classifier).
_IGNORED_PREFIXES = {"alexnet": ("classifier.",), "se_resnext50_32x4d": ("last_linear.",)}


def imagenet_url(name: str) -> str:
    """The URL of ``name``'s ImageNet checkpoint (torchvision's enum, or pretrainedmodels')."""
    import torchvision.models as tvm

    if name == "alexnet":
        return tvm.AlexNet_Weights.IMAGENET1K_V1.url
    if name == "resnet18":
        return tvm.ResNet18_Weights.IMAGENET1K_V1.url
    if name == "se_resnext50_32x4d":
        from pretrainedmodels.models.senet import pretrained_settings

        return pretrained_settings[name]["imagenet"]["url"]
    raise UserError(
        f"backbone {name!r} has no ImageNet weights; use pretrained=False or a local file path"
    )


def cached_weights_path(name: str) -> Path:
    """Where the torch hub cache keeps ``name``'s ImageNet file (honours ``TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(imagenet_url(name))


def download_allowed() -> bool:
    """True when the user opted in to downloads with ``FERZOO_ALLOW_DOWNLOAD=1``."""
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


def imagenet_file(name: str) -> Path:
    """The cached ImageNet file for ``name``, downloading it only if the user allowed that."""
    path = cached_weights_path(name)
    if path.is_file():
        return path
    url = imagenet_url(name)
    if not download_allowed():
        raise OfflineError(
            f"ImageNet weights for {name!r} are not in the torch hub cache: expected {path} "
            f"(from {url}). Either set {ALLOW_DOWNLOAD_ENV}=1 on a machine with a network to "
            "download them there, or pass pretrained='<path to a local .pth state_dict>'."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(path), progress=True)
    return path


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a plain ``state_dict`` safely (``weights_only=True``: no pickled code runs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except RuntimeError as err:  # not a torch file, or a truncated one: the user's file
        raise UserError(str(err)) from err
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise UserError(f"{path} does not hold a state_dict (a mapping of names to tensors)")
    return dict(state)


def load_trunk_weights(
    trunk: nn.Module, name: str, pretrained: bool | str | os.PathLike
) -> nn.Module:
    """Fill ``trunk`` (backbone ``name``) in place from ImageNet (True) or a local file (path;
    a relative one from the repository root).

    Accepts a full ImageNet checkpoint (its classifier keys are dropped) or a trunk-only one; any
    other mismatch raises a ValueError naming the file and the offending keys.
    """
    if pretrained is False or pretrained is None:
        return trunk
    path = imagenet_file(name) if pretrained is True else resolve(pretrained)
    state = read_state_dict(path)
    ignored = _IGNORED_PREFIXES.get(name, ())
    state = {k: v for k, v in state.items() if not k.startswith(ignored)}

    expected = trunk.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        problems = [
            f"{label} ({len(items)}): {', '.join(items[:5])}{', ...' if len(items) > 5 else ''}"
            for label, items in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("shape mismatches", shapes),
            )
            if items
        ]
        raise UserError(f"{path} does not fit backbone {name!r}: " + "; ".join(problems))
    trunk.load_state_dict(state, strict=True)
    return trunk
