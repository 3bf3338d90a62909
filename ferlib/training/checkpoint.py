"""Checkpoints: state_dicts and a JSON-safe config, written atomically, read with weights_only.

- ``last.pt``: everything a resume needs (modules, optimizers, schedulers, RNG and sampler
  states, epoch, history), rewritten after every epoch.
- ``checkpoint.pt``: the best model so far on validation mean CCC (model, config, val metrics):
  what ``evaluate``, ``predict`` and the notebooks load. It needs nothing but trunk and head.
- An ensemble checkpoint (``ensemble_checkpoint``, what ``ferlib ship-model`` writes): several
  such models of one shape under ``model`` (``members.<i>.…``) and an ``ensemble`` entry
  (``{"members": N, "hflip": bool}``) that ``load_model`` reads to build a ``models.Ensemble``; a
  checkpoint without the entry loads as one ``VAModel``, as before.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_torch_save
from ..errors import UserError
from ..models import BACKBONES, HEADS, Ensemble, VAModel, build_model
from ..params import DATA_KEYS, PARAMETERS, ParameterError, check_value

FORMAT = 1
LAST = "last.pt"
BEST = "checkpoint.pt"
MAX_MEMBERS = 64
"""The most members an ensemble checkpoint may declare (a bound on what loading builds)."""


class CheckpointError(UserError):
    """A file that is not a usable FER-Zoo checkpoint; the message names it and why."""


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
        raise CheckpointError(f"{path}: not a readable FER-Zoo checkpoint ({why})") from err
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a FER-Zoo checkpoint (format {FORMAT})")
    return blob


SHAPE_KEYS = ("backbone", "head", "width", "dropout")
"""The config keys that describe the model (``build_model``'s arguments)."""
INFERENCE_KEYS = ("image_size",)
"""What inference reads of a checkpoint's config (``predict``: the input size)."""
EVALUATION_KEYS = (*DATA_KEYS, "eval_batch_size", "amp")
"""What ``ferlib evaluate`` reads: the data the model was trained on (its test split), the
batch size and the layout (``image_size`` is among the data keys)."""


def check_config_keys(path: str | os.PathLike[str], config: dict[str, Any], keys: Any) -> None:
    """Raise a one-line ``ParameterError`` naming ``path`` and the key when one of ``keys`` is
    missing from a checkpoint's ``config`` or has the wrong type or range."""
    for key in keys:
        if key not in config:
            raise ParameterError(
                f"{path}: its config has no {key!r} ({PARAMETERS[key].help}); pass the {BEST} "
                "of a FER-Zoo run"
            )
        check_value(key, config[key], f"{path}: config")


def model_shape(path: str | os.PathLike[str], blob: dict[str, Any]) -> dict[str, Any]:
    """``build_model``'s arguments for the VA model in ``blob`` (a checkpoint's content).

    Every checkpoint written now records them (``model_config``); a resume file written before
    ``last.pt`` did is rebuilt through its method, whose VA head may differ from the ``head``
    parameter (CAF's regressor, AVCE's R, ELIM's heads).
    """
    config = blob["config"]
    shape = blob.get("model_config")
    if shape is None and blob.get("method", "baseline") != "baseline":
        from ..methods import build_method  # only here: inference does not need the methods

        check_config_keys(path, config, ("method", *SHAPE_KEYS))
        shape = build_method({**config, "pretrained": False}).core.config
    if shape is None:
        check_config_keys(path, config, SHAPE_KEYS)
        shape = {k: config[k] for k in SHAPE_KEYS}
    if not isinstance(shape, dict):
        raise CheckpointError(
            f"{path}: its model_config is not a mapping; pass the {BEST} of a run"
        )
    for key in SHAPE_KEYS:
        if key in shape:
            check_value(key, shape[key], f"{path}: model_config")
    for key, choices in (("backbone", BACKBONES), ("head", HEADS)):
        if key in shape and shape[key] not in choices:
            raise ParameterError(
                f"{path}: model_config: unknown {key} {shape[key]!r}; choose one of: "
                f"{', '.join(choices)}"
            )
    return shape


def ensemble_spec(path: str | os.PathLike[str], blob: dict[str, Any]) -> dict[str, Any] | None:
    """The ``ensemble`` entry of a checkpoint's content (None for a single model), checked."""
    spec = blob.get("ensemble")
    if spec is None:
        return None
    members = spec.get("members") if isinstance(spec, dict) else None
    counted = isinstance(members, int) and not isinstance(members, bool)
    if not counted or not 1 <= members <= MAX_MEMBERS or not isinstance(spec.get("hflip"), bool):
        raise CheckpointError(
            f"{path}: its ensemble entry is not {{'members': 1 to {MAX_MEMBERS}, 'hflip': true "
            "or false}; pass a checkpoint written by ferlib ship-model"
        )
    return spec


def ensemble_checkpoint(blobs: list[dict[str, Any]], hflip: bool) -> dict[str, Any]:
    """One checkpoint's content holding the models of ``blobs`` (checkpoints' contents, of one
    shape) as an ensemble (``models.Ensemble``), with the first one's config and metadata."""
    if not blobs:
        raise ValueError("an ensemble needs at least one member")
    shapes = [blob["model_config"] for blob in blobs]
    if any(shape != shapes[0] for shape in shapes):
        raise ValueError(f"the members differ in shape: {shapes}")
    state = {
        f"members.{i}.{name}": tensor
        for i, blob in enumerate(blobs)
        for name, tensor in blob["modules"]["model"].items()
    }
    keep = {k: blobs[0][k] for k in ("method", "config", "model_config", "data") if k in blobs[0]}
    spec = {"members": len(blobs), "hflip": hflip}
    return {**keep, "modules": {"model": state}, "ensemble": spec}


def _untrained(shape: dict[str, Any], spec: dict[str, Any] | None) -> VAModel | Ensemble:
    """A fresh model of ``shape``, or an ensemble of ``spec["members"]`` of them."""
    if spec is None:
        return build_model(**shape, pretrained=False)
    members = [build_model(**shape, pretrained=False) for _ in range(spec["members"])]
    return Ensemble(members, spec["hflip"])


def load_model(
    path: str | os.PathLike[str], needs: tuple[str, ...] = INFERENCE_KEYS
) -> tuple[VAModel | Ensemble, dict[str, Any]]:
    """The trained VA model (trunk + head, eval mode) and the config it was trained with.

    ``path`` is a run's ``checkpoint.pt`` or ``last.pt`` (every method's resume file holds the
    same VA model under ``model``), or an ensemble checkpoint (``ensemble_checkpoint``), which
    loads as a ``models.Ensemble`` of its members. The config must hold ``needs``
    (``INFERENCE_KEYS``, or ``EVALUATION_KEYS`` to score it on its data) with valid values: a
    missing or mistyped one is refused in one line naming the file and the key.
    """
    blob = load(path)
    config = blob.get("config")
    state = (blob.get("modules") or {}).get("model")
    if not isinstance(config, dict) or state is None:
        raise CheckpointError(f"{path}: holds no trained model; pass a run's {BEST}")
    check_config_keys(path, config, needs)
    shape = model_shape(path, blob)
    spec = ensemble_spec(path, blob)
    try:
        model = _untrained(shape, spec)  # weights come from the checkpoint
        model.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        # torch's first line is a heading ("Error(s) in loading state_dict for VAModel:")
        first = next((x for x in lines if not x.endswith(":")), type(err).__name__)
        raise CheckpointError(
            f"{path}: its weights do not fit the model it describes ({first}); pass the "
            f"{BEST} of a finished run"
        ) from err
    return model.eval(), config
