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

from ..params import PARAMETERS, config_from
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
    differs, and ``profile contents`` when the profile both name has changed since the refresh
    (its changed values: now, then)."""
    path = _path(notebook)
    committed, values = _compared(committed_config(path)), _compared(values)
    out = {
        k: (values[k], committed[k])
        for k in committed
        if k in values and k not in NOT_COMPARED and values[k] != committed[k]
    }
    then = runner.committed_profile(path)
    if then is not None and values.get("profile") and "profile" not in out:
        now = runner.profile_contents(values["profile"])
        changed = sorted(k for k in {*now, *then} if now.get(k) != then.get(k))
        if changed:
            out["profile contents"] = (
                {k: now.get(k) for k in changed},
                {k: then.get(k) for k in changed},
            )
    return out


def _compared(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with the overrides that cannot move a number (``NOT_COMPARED``) left out."""
    extra = {k: v for k, v in dict(values.get("overrides") or {}).items() if k not in NOT_COMPARED}
    return {**values, "overrides": extra} if "overrides" in values else dict(values)


def run_methods(values: Mapping[str, Any], method: str | None = None) -> list[str]:
    """The methods a chapter's run trains or reads: its own (a method chapter), its ``method``,
    or its ``methods``."""
    if method is not None:
        return [method]
    if values.get("method"):
        return [values["method"]]
    return list(values.get("methods") or [])


def describe_run(values: Mapping[str, Any], method: str | None = None) -> list[str]:
    """The effective configuration in a few lines: the profile, the data, the training and each
    method's recipe (the values other than FER-Zoo's defaults), the overrides and the seeds."""
    lines = []
    if values.get("profile"):
        lines.append(f"profile: {values['profile']}")
    methods = run_methods(values, method)
    configs = {m: config_from(values, method=m) for m in methods} or {None: config_from(values)}
    first = next(iter(configs.values()))
    if values.get("profile") or "dataset" in values:
        lines.append(f"data: {describe_data(first)}")
    if values.get("profile") or "epochs" in values:
        recipes = [
            (f"{m}: " if len(configs) > 1 else "") + (recipe_text(c) or "the defaults")
            for m, c in configs.items()
        ]
        lines.append(
            f"training: {first['epochs']} epochs; recipe (values other than FER-Zoo's defaults): "
            + "; ".join(recipes)
        )
    for key in ("overrides", "method", "methods", "seeds"):
        if values.get(key):
            lines.append(f"{key}: {values[key]}")
    return lines


def describe_data(config: Mapping[str, Any]) -> str:
    """``SyntheticFER (identities 60, …)`` or ``diffusionfer from data/diffusionfer``."""
    if config["dataset"] == "synthetic":
        knobs = ", ".join(f"{k} {config[k]}" for k in DATA_SHOWN if k in config)
        return f"SyntheticFER ({knobs})"
    where = f" from {config['data_dir']}" if config.get("data_dir") else ""
    return f"{config['dataset']}{where}"


def recipe_text(config: Mapping[str, Any]) -> str:
    """The values of a run configuration that differ from FER-Zoo's defaults (its recipe), as
    ``dropout 0.25, milestones [750, 900]``; empty for the defaults."""
    return ", ".join(
        f"{k} {v}"
        for k, v in config.items()
        if PARAMETERS[k].group in ("training", "method")
        and k not in NOT_COMPARED
        and k not in ("epochs", "device", "method", "seed")
        and v != PARAMETERS[k].default
    )


def start(notebook: str, namespace: Mapping[str, Any]) -> Claims:
    """Print this run's effective configuration and return the chapter's ``Claims``.

    ``namespace`` is the notebook's ``globals()``: its declared parameters are read from it, and
    everything else from its ``profile`` (``params.config_from``).
    """
    path = _path(notebook)
    values = {k: namespace[k] for k in declared_parameters(path) if k in namespace}
    for line in describe_run(values, runner.method_of(path)):
        print(line)
    differ = differences(path, values)
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


__all__ = [
    "committed_config",
    "describe_data",
    "describe_run",
    "differences",
    "recipe_text",
    "run_methods",
    "start",
]
