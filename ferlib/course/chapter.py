"""The first output of every chapter: what this run is, and whether its readings are checked.

``start("11_caf", globals())`` prints the run's effective configuration — the data set, the
training recipe (every value that differs from FER-Zoo's defaults), the epochs and the seeds — so
a reader never has to guess from the ``parameters`` cell what made the outputs below it. It then
compares the run with the configuration of the chapter's committed outputs (the notebook's own
defaults overlaid with ``ferzoo.committed_parameters`` in its metadata, which ``ferlib notebooks
--refresh`` records) and returns the chapter's ``Claims``: enforced on that configuration,
reported (marked, not raised) on any other, such as nbval's two-epoch budget or a student's own
data. ``FERZOO_CLAIMS=enforce|report`` overrides the comparison (the refresh enforces).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..params import PARAMETERS
from . import runner
from .claims import ENV, Claims
from .runner import committed_record, declared_parameters, notebook_dir

NOT_COMPARED = ("device", "num_workers", "wandb", "eval_batch_size", "progress")
"""Parameters that change where and how fast a run goes, never its numbers on the CPU."""

DATA_SHOWN = ("identities", "per_class", "identity_bias", "data_seed")
"""SyntheticFER's knobs, printed with its name."""


def committed_config(notebook: str | Path) -> dict[str, Any]:
    """The parameters the chapter's committed outputs were made with: its declared defaults,
    overlaid with what the refresh recorded."""
    path = _path(notebook)
    return {**declared_defaults(path), **committed_record(path)}


def declared_defaults(notebook: str | Path) -> dict[str, Any]:
    """The values of the chapter's ``parameters`` cell."""
    return runner.declared_defaults(_path(notebook))


def differences(notebook: str | Path, values: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{name: (this run's value, the committed one)}`` for every compared parameter that
    differs."""
    committed = committed_config(notebook)
    return {
        k: (values[k], committed[k])
        for k in committed
        if k in values and k not in NOT_COMPARED and values[k] != committed[k]
    }


def describe_run(values: Mapping[str, Any]) -> list[str]:
    """The effective configuration in a few lines: data, recipe, epochs, seeds."""
    lines = []
    data = str(values.get("dataset", ""))
    if data == "synthetic":
        knobs = ", ".join(f"{k} {values[k]}" for k in DATA_SHOWN if k in values)
        data = f"SyntheticFER ({knobs})"
    elif values.get("data_dir"):
        data = f"{data} from {values['data_dir']}"
    if data:
        lines.append(f"data: {data}")
    recipe = {
        k: v
        for k, v in values.items()
        if k in PARAMETERS
        and PARAMETERS[k].group in ("training", "method")
        and k not in NOT_COMPARED
        and k not in ("epochs", "device")
        and v != PARAMETERS[k].default
    }
    if "epochs" in values:
        lines.append(
            f"training: {values['epochs']} epochs; recipe (values other than FER-Zoo's defaults): "
            + (", ".join(f"{k} {v}" for k, v in recipe.items()) or "the defaults")
        )
    for key in ("method", "methods", "seeds", "method_recipes"):
        if values.get(key):
            lines.append(f"{key}: {values[key]}")
    return lines


def start(notebook: str, namespace: Mapping[str, Any]) -> Claims:
    """Print this run's effective configuration and return the chapter's ``Claims``.

    ``namespace`` is the notebook's ``globals()``: its declared parameters are read from it.
    """
    values = {k: namespace[k] for k in declared_parameters(_path(notebook)) if k in namespace}
    for line in describe_run(values):
        print(line)
    differ = differences(notebook, values)
    forced = os.environ.get(ENV, "").strip().lower()
    if forced in ("enforce", "report"):
        enforced, reason = forced == "enforce", f"{ENV}={forced}"
    else:
        enforced = not differ
        reason = "this run differs from the committed one in " + ", ".join(
            f"{k} {mine!r} (committed {theirs!r})" for k, (mine, theirs) in differ.items()
        )
    if enforced:
        print("readings: checked against this run's numbers (one they do not support fails)")
    else:
        print(f"readings: shown, not enforced ({reason})")
    return Claims(enforced, reason)


def _path(notebook: str | Path) -> Path:
    path = Path(notebook)
    return path if path.suffix == ".ipynb" else notebook_dir() / f"{path.name}.ipynb"


__all__ = ["committed_config", "describe_run", "differences", "start"]
