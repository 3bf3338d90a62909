"""Parameter profiles: one set of names shared by ``params/*.yaml``, notebooks and ``--set``.

``PARAMETERS`` is the registry. A profile key outside it is an error (papermill itself only warns
about unknown parameters, so a typo would silently fall back to a default); so is an override
aimed at a notebook that does not declare it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .paths import repo_root


class ParameterError(ValueError):
    """An unknown or ill-typed parameter; the message lists the valid names."""


@dataclass(frozen=True)
class Parameter:
    default: Any
    kind: type | tuple[type, ...]
    help: str
    run: bool = True  # part of a training run's configuration (False: notebook-only)


PARAMETERS: dict[str, Parameter] = {
    "dataset": Parameter("synthetic", str, "synthetic | diffusionfer | diffusionfer_hub | csv"),
    "data_dir": Parameter(None, (str, type(None)), "dataset folder or CSV; relative to the repo"),
    "image_size": Parameter(64, int, "network input size in px (64–224)"),
    "seed": Parameter(0, int, "training seed (initial weights, batches, augmentation)"),
    "data_seed": Parameter(0, int, "SyntheticFER: generator seed (the people and images)"),
    "identities": Parameter(60, int, "SyntheticFER: number of virtual people"),
    "per_class": Parameter(300, int, "SyntheticFER: images per prompted emotion"),
    "synth_size": Parameter(112, int, "SyntheticFER: rendered image size in px"),
    "identity_bias": Parameter(1.0, (int, float), "SyntheticFER: resting-face bias (0 disables)"),
    "method": Parameter("baseline", str, "baseline (more methods: caf, avce, elim)"),
    "backbone": Parameter("small_cnn", str, "small_cnn | alexnet | resnet18 | se_resnext50_32x4d"),
    "width": Parameter(1, int, "small_cnn channel multiplier (2 doubles every layer)"),
    "head": Parameter("bottleneck", str, "bottleneck | alexnet_fc"),
    "dropout": Parameter(0.5, (int, float), "head dropout probability"),
    "pretrained": Parameter(
        False, (bool, str), "False, True (ImageNet from the torch cache) or a local weights file"
    ),
    "sup_loss": Parameter("ccc_pcc", str, "ccc_pcc (MSE + PCC + CCC terms) | mse"),
    "epochs": Parameter(45, int, "passes over the training split"),
    "batch_size": Parameter(64, int, "training batch size"),
    "eval_batch_size": Parameter(256, int, "evaluation batch size (metrics are global anyway)"),
    "lr": Parameter(1e-3, (int, float), "learning rate (every optimizer of the method)"),
    "betas": Parameter([0.5, 0.99], list, "Adam betas"),
    "milestones": Parameter([500, 750], list, "iterations at which the LR is multiplied by gamma"),
    "gamma": Parameter(0.5, (int, float), "LR decay factor at each milestone"),
    "early_stopping": Parameter(
        0, int, "stop after this many epochs without a better val CCC (0: off)"
    ),
    "device": Parameter("auto", str, "auto | cpu | cuda | mps"),
    "amp": Parameter(True, bool, "mixed precision and channels-last on CUDA (ignored on CPU)"),
    "wandb": Parameter(False, bool, "log to Weights & Biases (offline unless WANDB_MODE says)"),
    "num_workers": Parameter(0, int, "DataLoader workers (0: the tensor store is fast enough)"),
    "methods": Parameter(
        ["baseline"], list, "methods compared by the evaluation notebook", run=False
    ),
    "n_boot": Parameter(1000, int, "bootstrap resamples for confidence intervals", run=False),
}


def profile_path(profile: str | Path) -> Path:
    """``quick`` -> ``params/quick.yaml``; a path is used as given."""
    p = Path(profile)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p if p.is_absolute() else (Path.cwd() / p)
    return repo_root() / "params" / f"{profile}.yaml"


def available_profiles() -> list[str]:
    return sorted(p.stem for p in (repo_root() / "params").glob("*.yaml"))


def validate(params: dict[str, Any], source: str = "parameters") -> dict[str, Any]:
    """Check every key is registered and every value has the registered type."""
    for key, value in params.items():
        if key not in PARAMETERS:
            raise ParameterError(
                f"{source}: unknown parameter {key!r}; valid: {', '.join(sorted(PARAMETERS))}"
            )
        kinds = PARAMETERS[key].kind
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        # bool is an int subclass: True must not pass as an image size
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ParameterError(f"{source}: {key}={value!r} should be {PARAMETERS[key].help}")
    return params


def load_profile(profile: str | Path) -> dict[str, Any]:
    """A validated profile from ``params/``."""
    path = profile_path(profile)
    if not path.is_file():
        raise ParameterError(
            f"no params profile {str(profile)!r} ({path}); available: "
            f"{', '.join(available_profiles())}"
        )
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: a params profile is a mapping of name: value")
    return validate(data, str(path))


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``["lr=0.01", "data_dir=null"]`` -> typed values (YAML scalars), validated."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ParameterError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(raw)
    return validate(out, "--set")


def parameters_for(
    declared: dict[str, Any],
    profile: dict[str, Any],
    overrides: dict[str, Any] | None = None,
    notebook: str = "notebook",
) -> dict:
    """What to inject into one notebook: the profile keys it declares, plus explicit overrides.

    A profile may carry keys for other notebooks (training keys mean nothing to data exploration),
    but every profile key is registered (``validate``), and an explicit override must be declared
    by the notebook it is aimed at.
    """
    undeclared = sorted(set(overrides or {}) - set(declared))
    if undeclared:
        raise ParameterError(
            f"{notebook} does not declare {undeclared}; it declares {', '.join(sorted(declared))}"
        )
    chosen = {k: v for k, v in profile.items() if k in declared}
    chosen.update(overrides or {})
    return chosen


def defaults() -> dict[str, Any]:
    """Every run parameter at its default (copies: lists are mutable)."""
    return {
        k: (list(p.default) if isinstance(p.default, list) else p.default)
        for k, p in PARAMETERS.items()
        if p.run
    }


def resolve_config(
    profile: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A complete run configuration: registry defaults, then the profile, then overrides."""
    config = defaults()
    if profile is not None:
        config.update(load_profile(profile))
    config.update(validate(dict(overrides or {}), "overrides"))
    # notebook-only settings (which methods to compare, bootstrap size) never enter a run's
    # configuration, so they cannot change its identity
    return {k: v for k, v in config.items() if PARAMETERS[k].run}


def config_from(namespace: dict[str, Any], **fixed: Any) -> dict[str, Any]:
    """A run configuration from a notebook's variables (its parameters cell), plus ``fixed``.

    Only registered names are picked up, so the notebook and ``ferlib train`` agree on meaning.
    """
    picked = {k: v for k, v in namespace.items() if k in PARAMETERS and not k.startswith("_")}
    return resolve_config(None, {**picked, **fixed})
