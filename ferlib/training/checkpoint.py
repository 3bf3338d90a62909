"""Checkpoints: state_dicts and a JSON-safe config, written atomically, read with weights_only.

- ``last.pt``: everything a resume needs (modules, optimizers, schedulers, RNG and sampler
  states, epoch, history), rewritten after every epoch.
- ``checkpoint.pt``: the best model so far on validation mean CCC (model, config, val metrics):
  what ``evaluate``, ``predict`` and the notebooks load. It needs nothing but trunk and head.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_torch_save
from ..models import VAModel, build_model

FORMAT = 1
LAST = "last.pt"
BEST = "checkpoint.pt"


def save(obj: dict[str, Any], path: str | os.PathLike[str]) -> None:
    atomic_torch_save({"format": FORMAT, **obj}, path)


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint safely (no pickled code); clear errors for missing or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        text = " ".join(str(err).split())
        # torch's paragraph about weights_only, cut to its one useful clause
        unsafe = re.search(r"WeightsUnpickler error: (.*?)(?: Check the documentation|\.|$)", text)
        why = f"not a weights-only PyTorch file: {unsafe.group(1)}" if unsafe else text[:200]
        raise ValueError(f"{path}: not a readable FER-Zoo checkpoint ({why})") from err
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path}: not a FER-Zoo checkpoint (format {FORMAT})")
    return blob


def load_model(path: str | os.PathLike[str]) -> tuple[VAModel, dict[str, Any]]:
    """The trained VA model (trunk + head, eval mode) and the config it was trained with."""
    blob = load(path)
    config = blob.get("config")
    state = (blob.get("modules") or {}).get("model")
    if not isinstance(config, dict) or state is None:
        raise ValueError(f"{path}: holds no trained model; pass a run's {BEST}")
    # a resume file (last.pt) holds the same VA model under "model", for every method
    shape = blob.get("model_config") or {
        k: config[k] for k in ("backbone", "head", "width", "dropout") if k in config
    }
    try:
        model = build_model(**shape, pretrained=False)  # weights come from the checkpoint
        model.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        # torch's first line is a heading ("Error(s) in loading state_dict for VAModel:")
        first = next((x for x in lines if not x.endswith(":")), type(err).__name__)
        raise ValueError(
            f"{path}: its weights do not fit the model it describes ({first}); pass the "
            f"{BEST} of a finished run"
        ) from err
    return model.eval(), config
