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


PARAMETERS: dict[str, Parameter] = {
    "dataset": Parameter("synthetic", str, "synthetic | diffusionfer | diffusionfer_hub | csv"),
    "data_dir": Parameter(None, (str, type(None)), "dataset folder or CSV; relative to the repo"),
    "image_size": Parameter(64, int, "network input size in px (64–224)"),
    "seed": Parameter(0, int, "random seed (data split, generator, training)"),
    "identities": Parameter(60, int, "SyntheticFER: number of virtual people"),
    "per_class": Parameter(300, int, "SyntheticFER: images per prompted emotion"),
    "synth_size": Parameter(112, int, "SyntheticFER: rendered image size in px"),
    "identity_bias": Parameter(1.0, (int, float), "SyntheticFER: resting-face bias (0 disables)"),
    "method": Parameter("baseline", str, "baseline | caf | avce | elim"),
    "backbone": Parameter("small_cnn", str, "small_cnn | alexnet | resnet18 | se_resnext50_32x4d"),
    "epochs": Parameter(10, int, "training epochs"),
    "batch_size": Parameter(64, int, "training batch size"),
    "lr": Parameter(1e-3, (int, float), "learning rate"),
    "device": Parameter("auto", str, "auto | cpu | cuda"),
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
        kind = PARAMETERS[key].kind
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
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
