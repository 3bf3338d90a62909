"""Parameter profiles: one set of names shared by ``params/*.yaml``, notebooks and ``--set``.

``PARAMETERS`` is the registry. A profile key outside it is an error (papermill itself only warns
about unknown parameters, so a typo would silently fall back to a default); so is an override
aimed at a notebook that does not declare it.

A profile may also hold per-method sections under ``recipes:`` (``RECIPES``): each method's own
training settings over the profile's shared ones. A run of a method resolves, lowest first, as
registry defaults < the profile's top-level keys < that method's section < explicit overrides
(``--set``, ``--method``); ``resolve_config`` is the one function that does it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError
from .paths import repo_root


class ParameterError(UserError):
    """An unknown or ill-typed parameter; the message lists the valid names."""


GROUPS = ("data", "training", "method", "course")
"""What a parameter decides: which images a run sees and how they are split (``data``), how any
method trains (``training``), one method's own settings (``method``, named ``<method>_…``), or
only what a notebook shows (``course``: never part of a run's configuration)."""


@dataclass(frozen=True)
class Bounds:
    """The values a numeric parameter may take (for a list: each of its items)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: ``low`` itself is excluded
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '≥'} {self.low}"
        if self.low is None:
            return f"{'<' if self.high_open else '≤'} {self.high}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"in {left}{self.low}, {self.high}{right}"


def at_least(low: float) -> Bounds:
    return Bounds(low)


POSITIVE = Bounds(0, low_open=True)
"""Strictly above zero (a learning rate, a temperature)."""
PROBABILITY = Bounds(0, 1, high_open=True)
"""[0, 1): dropout, Adam betas, momentum."""
SEED = Bounds(0, 2**32, high_open=True)
"""[0, 2**32): the seeds every RNG of a run takes as they are (NumPy's global seed is 32-bit;
a larger one would be folded onto a smaller one's streams, or overflow torch's)."""


METHOD_NAMES: list[str] = []
"""The registered methods' names, in registration order: ``ferlib.methods`` fills it
(``register_method``: the Baseline, CAF, AVCE, ELIM), and the ``method`` and ``methods``
parameters, ``recipes:`` sections, the command line and the results tables read it. Filled when
``ferlib.methods`` is imported: checking a method name before that is an error
(``method_names``)."""

MIN_IMAGE_SIZE: dict[str, int] = {
    "small_cnn": 15,
    "alexnet": 63,
    "resnet18": 1,
    "se_resnext50_32x4d": 3,
}
"""The backbones (``ferlib.models.backbones.BACKBONES``) and the smallest input (px) each trunk
runs on: below it a convolution or pooling window is larger than its input (measured;
tests/cli/test_faults.py checks small_cnn and alexnet at the edge). ``check_config`` refuses a
smaller ``image_size``."""


@dataclass(frozen=True)
class Parameter:
    default: Any
    kind: type | tuple[type, ...]
    help: str
    group: str = "training"
    bounds: Bounds | None = None  # every numeric parameter has one (tests/test_params.py)
    late: bool = False  # added after runs existed: left out of a run's name at its default
    choices: Sequence[str] | None = None
    """The allowed strings (for a list: of each item), the first the default; validation, help
    (``describe``) and the docs read them. ``METHOD_NAMES`` for the names of the methods."""

    @property
    def run(self) -> bool:
        """Part of a training run's configuration (``course`` parameters are notebook-only)."""
        return self.group != "course"


PARAMETERS: dict[str, Parameter] = {
    "dataset": Parameter(
        "synthetic", str, "synthetic | diffusionfer | diffusionfer_hub | csv", group="data"
    ),
    "data_dir": Parameter(
        None, (str, type(None)), "dataset folder or CSV; relative to the repo", group="data"
    ),
    "image_size": Parameter(
        64, int, "network input size in px (64–224)", group="data", bounds=Bounds(8, 1024)
    ),
    "seed": Parameter(
        0, int, "training seed (initial weights, batches, augmentation)", bounds=SEED
    ),
    "data_seed": Parameter(
        0,
        int,
        "SyntheticFER: generator seed (the people and images)",
        group="data",
        bounds=at_least(0),
    ),
    "identities": Parameter(
        60, int, "SyntheticFER: number of virtual people", group="data", bounds=at_least(1)
    ),
    "per_class": Parameter(
        300, int, "SyntheticFER: images per prompted emotion", group="data", bounds=at_least(1)
    ),
    "synth_size": Parameter(
        112, int, "SyntheticFER: rendered image size in px", group="data", bounds=Bounds(16, 1024)
    ),
    "identity_bias": Parameter(
        1.0,
        (int, float),
        "SyntheticFER: resting-face bias (0 disables)",
        group="data",
        bounds=at_least(0),
    ),
    "method": Parameter("baseline", str, "the method to train", choices=METHOD_NAMES),
    "backbone": Parameter(
        "small_cnn", str, "trunk: image -> feature h", choices=tuple(MIN_IMAGE_SIZE)
    ),
    "width": Parameter(
        1, int, "small_cnn channel multiplier (2 doubles every layer)", bounds=at_least(1)
    ),
    "head": Parameter("bottleneck", str, "bottleneck | alexnet_fc"),
    "dropout": Parameter(0.5, (int, float), "head dropout probability", bounds=PROBABILITY),
    "pretrained": Parameter(
        False, (bool, str), "False, True (ImageNet from the torch cache) or a local weights file"
    ),
    "sup_loss": Parameter(
        "ccc_pcc",
        str,
        "supervised loss: MSE + PCC + CCC terms, or MSE alone",
        choices=("ccc_pcc", "mse"),
    ),
    "epochs": Parameter(45, int, "passes over the training split", bounds=at_least(1)),
    "batch_size": Parameter(64, int, "training batch size", bounds=at_least(1)),
    "eval_batch_size": Parameter(
        256, int, "evaluation batch size (metrics are global anyway)", bounds=at_least(1)
    ),
    "lr": Parameter(
        1e-3, (int, float), "learning rate (every optimizer of the method)", bounds=POSITIVE
    ),
    "betas": Parameter([0.5, 0.99], list, "Adam betas", bounds=PROBABILITY),
    "milestones": Parameter(
        [500, 750], list, "iterations at which the LR is multiplied by gamma", bounds=at_least(0)
    ),
    "gamma": Parameter(0.5, (int, float), "LR decay factor at each milestone", bounds=POSITIVE),
    "early_stopping": Parameter(
        0, int, "stop after this many epochs without a better val CCC (0: off)", bounds=at_least(0)
    ),
    "device": Parameter("auto", str, "auto | cpu | cuda | mps"),
    "amp": Parameter(True, bool, "mixed precision and channels-last on CUDA (ignored on CPU)"),
    "wandb": Parameter(False, bool, "log to Weights & Biases (offline unless WANDB_MODE says)"),
    "num_workers": Parameter(
        0, int, "DataLoader workers (0: the tensor store is fast enough)", bounds=at_least(0)
    ),
    # --- train-time augmentation (ferlib/data/augment.py; README "Robustness"), all off by
    # default; the measured effect of each is in the README's robustness section ---
    "aug_greyscale_p": Parameter(
        0.0,
        (int, float),
        "augmentation: probability of greyscale per image (0: off)",
        bounds=Bounds(0, 1),
        late=True,
    ),
    "aug_jitter": Parameter(
        0.0,
        (int, float),
        "augmentation: brightness, contrast, saturation ×U(1-s, 1+s) per image (0: off)",
        bounds=Bounds(0, 1),
        late=True,
    ),
    "aug_blur_p": Parameter(
        0.0,
        (int, float),
        "augmentation: probability of a blur, sigma 1-3 % of the side",
        bounds=Bounds(0, 1),
        late=True,
    ),
    "aug_jpeg_p": Parameter(
        0.0,
        (int, float),
        "augmentation: probability of JPEG at quality 10-50",
        bounds=Bounds(0, 1),
        late=True,
    ),
    "aug_downscale_p": Parameter(
        0.0,
        (int, float),
        "augmentation: probability of a downscale to 1/4-1/2 and back",
        bounds=Bounds(0, 1),
        late=True,
    ),
    "aug_rotate": Parameter(
        0.0,
        (int, float),
        "augmentation: rotation by ±U(0, this many degrees) (0: off)",
        bounds=Bounds(0, 180),
        late=True,
    ),
    "aug_occlusion_p": Parameter(
        0.0,
        (int, float),
        "augmentation: probability of a black square of 20-40 % of the side",
        bounds=Bounds(0, 1),
        late=True,
    ),
    # --- CAF (ferlib/methods/caf.py; docs/methods/caf.md) ---
    "caf_grouping": Parameter(
        "otsu",
        str,
        "CAF strong/weak split: Otsu per batch (paper), once on the training labels, or the "
        "authors' threshold (code)",
        group="method",
        choices=("otsu", "otsu_global", "code"),
    ),
    "caf_margin": Parameter(
        "paper",
        str,
        "CAF adaptive margin: the paper's or the authors' code's",
        group="method",
        choices=("paper", "code"),
    ),
    "caf_margin_grad": Parameter(
        "detached",
        str,
        "CAF margin in L_c: a constant (paper) or carrying its MI term's gradient (code)",
        group="method",
        choices=("detached", "carried"),
    ),
    "caf_authors_code": Parameter(
        False, bool, "CAF: every caf flag at the authors' code value", group="method"
    ),
    "caf_aknn_c": Parameter(
        0.7,
        (int, float),
        "CAF AKNN confidence c (the third-party FER-Zoo toolbox used 1.2)",
        group="method",
        bounds=POSITIVE,
    ),
    "caf_rho": Parameter(
        1e-6,
        (int, float),
        "CAF augmented-Lagrangian rho of the critic",
        group="method",
        bounds=at_least(0),
    ),
    "caf_adv_weight": Parameter(
        0.1,
        (int, float),
        "CAF weight of the adversarial trunk step",
        group="method",
        bounds=at_least(0),
    ),
    "caf_betas": Parameter(
        [0.5, 0.9],
        list,
        "CAF Adam betas of trunk, regressor and critic",
        group="method",
        bounds=PROBABILITY,
    ),
    # --- AVCE (ferlib/methods/avce.py; docs/methods/avce.md) ---
    "avce_critic": Parameter(
        "paper",
        str,
        "AVCE similarity: angle + intensity (paper) or the authors' code's",
        group="method",
        choices=("paper", "code"),
    ),
    "avce_negatives": Parameter(
        "shuffled",
        str,
        "AVCE RPC negatives: a shuffled partner (paper) or the sample itself (code)",
        group="method",
        choices=("shuffled", "same_sample"),
    ),
    "avce_rpc_reduction": Parameter(
        "mean",
        str,
        "AVCE RPC J: its mean × avce_lambda, or the authors' code's reduction",
        group="method",
        choices=("mean", "code"),
    ),
    "avce_view_head_init": Parameter(
        "default",
        str,
        "AVCE H and V init: PyTorch's default or the authors' code's",
        group="method",
        choices=("default", "code"),
    ),
    "avce_authors_code": Parameter(
        False, bool, "AVCE: every avce flag at the authors' code value", group="method"
    ),
    "avce_alpha": Parameter(
        0.5,
        (int, float),
        "AVCE RPC weight alpha of the negative term",
        group="method",
        bounds=at_least(0),
    ),
    "avce_beta": Parameter(
        0.005,
        (int, float),
        "AVCE RPC weight beta (positive penalty)",
        group="method",
        bounds=at_least(0),
    ),
    "avce_gamma": Parameter(
        0.5,
        (int, float),
        "AVCE RPC weight gamma (negative penalty)",
        group="method",
        bounds=at_least(0),
    ),
    "avce_lambda": Parameter(
        0.0256, (int, float), "AVCE weight of the RPC objective", group="method", bounds=at_least(0)
    ),
    "avce_w_int": Parameter(
        0.8,
        (int, float),
        "AVCE weight of the critic's intensity term",
        group="method",
        bounds=Bounds(0, 1),
    ),
    "avce_margin": Parameter(
        1.0,
        (int, float),
        "AVCE step-B margin on the squared view distance",
        group="method",
        bounds=at_least(0),
    ),
    "avce_hold": Parameter(
        0.01,
        (int, float),
        "AVCE step-B weight of the hold term",
        group="method",
        bounds=at_least(0),
    ),
    "avce_betas": Parameter(
        [0.5, 0.9],
        list,
        "AVCE Adam betas of trunk and regressor",
        group="method",
        bounds=PROBABILITY,
    ),
    "avce_view_lr": Parameter(
        0.01,
        (int, float),
        "AVCE SGD lr of view head H and embedding V",
        group="method",
        bounds=POSITIVE,
    ),
    "avce_view_momentum": Parameter(
        0.9, (int, float), "AVCE SGD momentum of H and V", group="method", bounds=PROBABILITY
    ),
    "avce_step_b_upper": Parameter(
        "still",
        str,
        "AVCE step B, R's layers above q: held still, or Adam's momentum-only step as in the "
        "code (torch 1.7.1)",
        group="method",
        late=True,
        choices=("still", "code"),
    ),
    # --- ELIM (ferlib/methods/elim.py; docs/methods/elim.md) ---
    "elim_p": Parameter(
        8,
        int,
        "ELIM: identities per P×K batch; K = batch_size / elim_p",
        group="method",
        bounds=at_least(1),
    ),
    "elim_ids_per_step": Parameter(
        5,
        int,
        "ELIM: identities per OT step: a reference + targets",
        group="method",
        bounds=at_least(2),
    ),
    "elim_weight": Parameter(
        0.5,
        (int, float),
        "ELIM: c_elim, weight of the ELIM loss",
        group="method",
        bounds=at_least(0),
    ),
    "elim_warmup_start": Parameter(
        5, int, "ELIM: W1, first iteration with an ELIM step", group="method", bounds=at_least(0)
    ),
    "elim_warmup_end": Parameter(
        50,
        int,
        "ELIM: W2, the ELIM weight is t/W2 before it, then 1",
        group="method",
        bounds=at_least(1),
    ),
    "elim_reg": Parameter(
        0.2,
        (int, float),
        "ELIM: Sinkhorn entropic strength reg = 1/λ",
        group="method",
        bounds=POSITIVE,
    ),
    "elim_head_lr_scale": Parameter(
        0.2,
        (int, float),
        "ELIM: VA head lr as a multiple of lr",
        group="method",
        bounds=at_least(0),
    ),
    "elim_sampler": Parameter(
        "pk",
        str,
        "ELIM batches: P identities × K images, or plain random ones (code)",
        group="method",
        choices=("pk", "random"),
    ),
    "elim_marginals": Parameter(
        "balanced",
        str,
        "ELIM OT marginals: balanced, or the authors' code's",
        group="method",
        choices=("balanced", "code"),
    ),
    "elim_sinkhorn": Parameter(
        "pot",
        str,
        "ELIM Sinkhorn loop: POT's (ends on a row update) or the authors' (ends on a column one)",
        group="method",
        choices=("pot", "code"),
    ),
    "elim_sinkhorn_iters": Parameter(
        200, int, "ELIM: Sinkhorn iterations (code: 5)", group="method", bounds=at_least(1)
    ),
    "elim_shift_mode": Parameter(
        "per_sample",
        str,
        "ELIM identity shift: each sample's, the first sample's (code), or none",
        group="method",
        choices=("per_sample", "first_sample", "none"),
    ),
    "elim_bn_stats": Parameter(
        "all",
        str,
        "ELIM: VA head BatchNorm running statistics from all passes (code) or the raw latents",
        group="method",
        choices=("all", "raw"),
    ),
    "elim_step_b_forward": Parameter(
        "model",
        str,
        "ELIM step B's batch pass: the model (trunk + both heads) or the code's (trunk + latent "
        "head)",
        group="method",
        late=True,
        choices=("model", "code"),
    ),
    "elim_authors_code": Parameter(
        False, bool, "ELIM: every elim flag at the authors' code value", group="method"
    ),
    "methods": Parameter(
        METHOD_NAMES,
        list,
        "methods the evaluation compares (default: every registered one)",
        group="course",
        choices=METHOD_NAMES,
    ),
    "seeds": Parameter(
        [0, 1, 2],
        list,
        "training seeds the evaluation compares (missing ones are trained)",
        group="course",
        bounds=SEED,
    ),
    "profile": Parameter(
        "quick",
        str,
        "the params profile a chapter reads every value it does not declare from: its data, its "
        "training and each method's recipe (a name in params/ or a YAML path)",
        group="course",
    ),
    "overrides": Parameter(
        {},
        dict,
        "any other parameter over the profile and the method's recipe, e.g. {'epochs': 10}",
        group="course",
    ),
    "photos": Parameter(
        "examples/photos",
        str,
        "a folder of pictures chapter 40 reads (relative to the repository root, or absolute)",
        group="course",
    ),
    "min_face": Parameter(
        40,
        int,
        "chapter 40: detected faces narrower than this (px) are 'too small' (ferlib predict's "
        "--min-face, whose default is 32; the chapter explains why it reads the demo at 40)",
        group="course",
        bounds=at_least(1),
    ),
    "n_boot": Parameter(
        1000,
        int,
        "bootstrap resamples for confidence intervals",
        group="course",
        bounds=at_least(1),
    ),
}


def keys_in(group: str) -> tuple[str, ...]:
    """The registered parameter names of one of ``GROUPS``, in registry order."""
    if group not in GROUPS:
        raise ParameterError(
            f"unknown parameter group {group!r}; choose one of: {', '.join(GROUPS)}"
        )
    return tuple(k for k, p in PARAMETERS.items() if p.group == group)


DATA_KEYS = keys_in("data")
"""The parameters that decide which images a run saw and how they were split."""


def identity_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without the ``late`` keys that are at their default: what names a run.

    Those keys (the ``aug_*`` augmentations, later method switches) were added after runs
    existed; leaving them out while at their default keeps every earlier run's folder and resume
    check valid.
    """
    return {
        k: v
        for k, v in config.items()
        if not (k in PARAMETERS and PARAMETERS[k].late and v == PARAMETERS[k].default)
    }


def method_names() -> tuple[str, ...]:
    """The registered methods' names (``METHOD_NAMES``), in registration order.

    None registered means ``ferlib.methods`` was never imported: a ``RuntimeError`` (a bug, not
    the user's), rather than refusing every method name or planning no method at all.
    """
    if not METHOD_NAMES:
        raise RuntimeError(
            "no method is registered yet: import ferlib.methods (it registers them) first"
        )
    return tuple(METHOD_NAMES)


def add_method(name: str, parameters: Mapping[str, Parameter] | None = None) -> None:
    """Register a method's name and its own parameters that ``PARAMETERS`` does not list yet.

    ``ferlib.methods.register_method`` calls it. ``parameters`` are named ``<name>_…`` in group
    ``method``; a name registered twice, or with an underscore (it would make another method's
    prefix), is an error.
    """
    if not name.isidentifier() or "_" in name or name != name.lower():
        raise ValueError(f"method name {name!r}: use lower-case letters and digits, no underscore")
    if name in METHOD_NAMES:
        raise ValueError(f"method {name!r} is registered already")
    own = f"{name}_"
    for key, par in (parameters or {}).items():
        if key in PARAMETERS:
            raise ValueError(f"parameter {key!r} is registered already")
        if par.group != "method" or not key.startswith(own):
            raise ValueError(f"{key!r}: a method's own parameter is named {own}… in group method")
    PARAMETERS.update(parameters or {})
    METHOD_NAMES.append(name)


def describe(key: str) -> str:
    """``key``'s help with its choices, as help texts and error messages show it."""
    par = PARAMETERS[key]
    if par.choices is None:
        return par.help
    return f"{par.help}; one of: {' | '.join(par.choices)}"


def check_choice(name: str, choices: tuple[str, ...], what: str) -> None:
    """Raise a one-line ValueError listing the valid choices when ``name`` is not one of them."""
    if name not in choices:
        raise ParameterError(f"unknown {what} {name!r}; choose one of: {', '.join(choices)}")


def option(config: dict[str, Any], name: str) -> Any:
    """``config[name]``, or the registered default when the config predates the parameter (a
    copy when it is a list: ``methods``' default is the live registry)."""
    if name in config:
        return config[name]
    default = PARAMETERS[name].default
    return list(default) if isinstance(default, list) else default


def profile_path(profile: str | Path) -> Path:
    """``quick`` -> ``params/quick.yaml``; a path is used as given."""
    p = Path(profile)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p if p.is_absolute() else (Path.cwd() / p)
    return repo_root() / "params" / f"{profile}.yaml"


def available_profiles() -> list[str]:
    return sorted(p.stem for p in (repo_root() / "params").glob("*.yaml"))


_TYPE_NAMES = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    list: "a list",
    dict: "a mapping",
    type(None): "null",
}


def _expected(kinds: tuple[type, ...]) -> str:
    """``(int, float)`` -> "a number"; ``(str, NoneType)`` -> "a string or null"."""
    names = [_TYPE_NAMES.get(k, k.__name__) for k in kinds if not (k is int and float in kinds)]
    return " or ".join(names)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_value(key: str, value: Any, source: str = "parameters") -> None:
    """Raise a one-line ``ParameterError`` unless ``value`` has ``key``'s type and range."""
    par = PARAMETERS[key]
    kinds = par.kind if isinstance(par.kind, tuple) else (par.kind,)
    # bool is an int subclass: True must not pass as an image size
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ParameterError(
            f"{source}: {key}={value!r} should be {_expected(kinds)} ({describe(key)})"
        )
    if par.choices is not None:
        _check_choices(key, value, source)
    if isinstance(value, dict):  # overrides: parameters over a chapter's profile
        validate(value, f"{source}: {key}")
    if par.bounds is None:
        return
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not _is_number(item):
            if isinstance(value, list):
                raise ParameterError(f"{source}: {key}={value!r} should be a list of numbers")
            continue  # a non-numeric member of a union (pretrained's path)
        if item not in par.bounds:
            what = "each item of " if isinstance(value, list) else ""
            raise ParameterError(
                f"{source}: {key}={value!r}: {what}{key} must be {par.bounds} ({describe(key)})"
            )


def _check_choices(key: str, value: Any, source: str) -> None:
    """A one-line ``ParameterError`` naming the choices unless ``value`` (for a list: each item)
    is one of ``key``'s; a method's name is refused in ``ferlib.methods.check_method``'s words."""
    methods = PARAMETERS[key].choices is METHOD_NAMES
    choices = method_names() if methods else tuple(PARAMETERS[key].choices or ())
    for item in value if isinstance(value, list) else [value]:
        if item in choices:
            continue
        listed = ", ".join(choices)
        if methods:
            raise ParameterError(f"{source}: unknown method {item!r}; choose from {listed}")
        what = f"{key}={value!r}: unknown item" if isinstance(value, list) else f"unknown {key}"
        raise ParameterError(f"{source}: {what} {item!r}; choose one of: {listed}")


def validate(params: dict[str, Any], source: str = "parameters") -> dict[str, Any]:
    """Check every key is registered and every value has the registered type and range."""
    for key, value in params.items():
        if key not in PARAMETERS:
            raise ParameterError(
                f"{source}: unknown parameter {key!r}; valid: {', '.join(sorted(PARAMETERS))}"
            )
        check_value(key, value, source)
    return params


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    """Checks across parameters: the backbone must accept ``image_size``."""
    smallest = MIN_IMAGE_SIZE.get(config.get("backbone", ""))
    if smallest is not None and config.get("image_size", smallest) < smallest:
        raise ParameterError(
            f"image_size={config['image_size']} is too small for backbone "
            f"{config['backbone']!r}: it needs at least {smallest} px"
        )
    return config


RECIPES = "recipes"
"""The profile key of the per-method sections, ``recipes: {avce: {batch_size: 256, lr: 1e-4}}``.
Not a registered parameter (``resolve_config`` reads it, and a chapter through its ``profile``:
``config_from``, ``recipes_from``), and not ``methods``, which already names the list of methods
chapter 20 compares."""

RECIPE_GROUPS = ("training", "method")
"""What a method's section may set: how it trains, and its own ``<method>_…`` settings. The data
(and so the split) is shared by every method of a run; course settings are notebook-only."""

NOT_IN_RECIPES = ("method", "seed")
"""Training parameters that pick the run rather than describe its recipe."""


def recipe_keys(method: str) -> tuple[str, ...]:
    """The parameters ``method``'s section of a profile may set, in registry order."""
    own = f"{method}_"
    return tuple(
        k
        for k, p in PARAMETERS.items()
        if p.group in RECIPE_GROUPS
        and k not in NOT_IN_RECIPES
        and (p.group != "method" or k.startswith(own))
    )


def validate_recipes(recipes: Any, source: str = "parameters") -> dict[str, dict[str, Any]]:
    """Check a profile's ``recipes:`` mapping; returns it with empty sections as ``{}``.

    Every method must exist, and every key of its section must be registered, belong to
    ``RECIPE_GROUPS`` (a data key is the same for all methods: set it at the top level) and, for a
    method parameter, be that method's own; values are checked like top-level ones.
    """
    if recipes is None:
        return {}
    if not isinstance(recipes, Mapping):
        raise ParameterError(f"{source}: {RECIPES} is a mapping of method: {{name: value}}")
    names = method_names()
    out: dict[str, dict[str, Any]] = {}
    for method, section in recipes.items():
        if method not in names:
            raise ParameterError(
                f"{source}: unknown method {method!r} in {RECIPES}; choose one of: "
                f"{', '.join(names)}"
            )
        where = f"{source}: {RECIPES}.{method}"
        if section is None:
            section = {}
        if not isinstance(section, Mapping):
            raise ParameterError(f"{where} is a mapping of name: value")
        allowed = recipe_keys(method)
        for key, value in section.items():
            if key not in PARAMETERS:
                raise ParameterError(
                    f"{where}: unknown parameter {key!r}; a method's section may set: "
                    f"{', '.join(sorted(allowed))}"
                )
            if key not in allowed:
                group = PARAMETERS[key].group
                why = {
                    "data": "a data setting is shared by every method: set it at the top level",
                    "course": "a notebook-only setting is not part of a run",
                    "method": f"it belongs to another method (a section holds only {method}_…)",
                }.get(group, "it picks the run rather than its recipe")
                raise ParameterError(f"{where}: {key!r} cannot be set per method: {why}")
            check_value(key, value, where)
        out[method] = dict(section)
    return out


def with_recipe(
    profile: dict[str, Any], recipes: dict[str, dict[str, Any]], method: str | None
) -> dict[str, Any]:
    """A profile's top-level keys with ``method``'s section over them: the profile as that
    method's runs (and its chapter) see it."""
    return {**profile, **(recipes.get(method) or {})} if method else dict(profile)


class _ValueLoader(yaml.SafeLoader):
    """PyYAML's safe loader, which reads YAML 1.1, plus YAML 1.2's floats without a dot."""


_ValueLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def load_yaml(text: str) -> Any:
    """YAML text as parameter values are read everywhere (profiles, ``--set``, search spaces).

    YAML 1.1 takes ``1e-3``, ``1E-3`` or ``-2e+1`` for strings (its floats need a dot and a signed
    exponent), so ``lr: 1e-3`` would be refused as "should be a number"; here they are floats, as
    in YAML 1.2 and Python. Everything else reads as ``yaml.safe_load`` reads it.
    """
    return yaml.load(text, Loader=_ValueLoader)  # a SafeLoader: no arbitrary objects


def _yaml_problem(err: yaml.YAMLError) -> tuple[int | None, str]:
    """The line (0-based) where the faulty construct starts and the parser's one-line reason."""
    mark = getattr(err, "context_mark", None) or getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return (mark.line if mark is not None else None), problem


def _read_profile(profile: str | Path) -> tuple[Path, dict[str, Any]]:
    """A profile file's mapping, unvalidated, with a one-line error for a missing or bad file."""
    path = profile_path(profile)
    if not path.is_file():
        raise ParameterError(
            f"no params profile {str(profile)!r} ({path}); available: "
            f"{', '.join(available_profiles())}"
        )
    text = path.read_text()
    try:
        data = load_yaml(text) or {}
    except yaml.YAMLError as err:
        line, problem = _yaml_problem(err)
        where = ""
        if line is not None and line < len(text.splitlines()):
            where = f" at line {line + 1} ({text.splitlines()[line].strip()!r})"
        raise ParameterError(f"{path}: not valid YAML{where}: {problem}") from err
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: a params profile is a mapping of name: value")
    return path, data


def load_profile(profile: str | Path) -> dict[str, Any]:
    """A validated profile from ``params/``: its top-level keys (its ``recipes:`` sections are
    ``load_recipes``'s)."""
    path, data = _read_profile(profile)
    return validate({k: v for k, v in data.items() if k != RECIPES}, str(path))


def load_recipes(profile: str | Path) -> dict[str, dict[str, Any]]:
    """A profile's validated per-method sections, ``{method: {name: value}}`` ({} when none)."""
    path, data = _read_profile(profile)
    return validate_recipes(data.get(RECIPES), str(path))


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``["lr=0.01", "data_dir=null"]`` -> typed values (YAML scalars), validated."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ParameterError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = load_yaml(raw)
        except yaml.YAMLError as err:
            raise ParameterError(
                f"--set {key.strip()}: {raw!r} is not valid YAML ({_yaml_problem(err)[1]})"
            ) from err
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
    profile: str | Path | Mapping[str, Any] | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A complete run configuration: registry defaults, then the profile's top-level keys, then
    the section of the chosen method in its ``recipes:`` (``overrides``' ``method``, else the
    profile's), then ``overrides``.

    ``profile`` is a name in ``params/``, a YAML path, or a mapping already in hand (top-level
    keys plus an optional ``recipes`` entry): to build another method's run on the same settings,
    pass the shared keys and the sections, ``resolve_config({**shared, RECIPES: recipes},
    {"method": name, "seed": seed})``, so that its section applies and nothing of the first
    method's does.
    """
    config = defaults()
    if profile is None:
        top, recipes = {}, {}
    elif isinstance(profile, Mapping):
        top = validate({k: v for k, v in profile.items() if k != RECIPES}, "profile")
        recipes = validate_recipes(profile.get(RECIPES), "profile")
    else:
        top, recipes = load_profile(profile), load_recipes(profile)
    config.update(top)
    overrides = validate(dict(overrides or {}), "overrides")
    config.update(recipes.get(overrides.get("method", config["method"])) or {})
    config.update(overrides)
    check_config(config)
    # notebook-only settings (which methods to compare, bootstrap size) and other methods'
    # settings never enter a run's configuration, so they cannot change its identity (its hash)
    own = f"{config['method']}_"
    return {
        k: v
        for k, v in config.items()
        if PARAMETERS[k].run and (PARAMETERS[k].group != "method" or k.startswith(own))
    }


def config_from(
    namespace: Mapping[str, Any], *, recipe: bool = True, **fixed: Any
) -> dict[str, Any]:
    """A run configuration from a chapter's variables (its ``parameters`` cell), plus ``fixed``.

    A chapter with a ``profile``: that profile, the section of the method (``fixed``'s, else
    the profile's) in its ``recipes:``, the chapter's ``overrides``, then ``fixed`` — so the
    notebook and ``ferlib train --params <profile>`` agree, and no other variable of the chapter
    can slip into a run. ``recipe=False`` leaves every section out: the values the methods share,
    over which ``runs.seed_runs`` puts each method's own. Without ``profile``: FER-Zoo's defaults
    and every registered name the namespace defines.
    """
    if namespace.get("profile"):
        extra = {**dict(namespace.get("overrides") or {}), **fixed}
        if not recipe:
            return resolve_config(load_profile(namespace["profile"]), extra)
        return resolve_config(namespace["profile"], extra)
    picked = {k: v for k, v in namespace.items() if k in PARAMETERS and not k.startswith("_")}
    return resolve_config(None, {**picked, **fixed})


def recipes_from(namespace: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The per-method sections of a chapter's ``profile`` (``{}`` without one)."""
    profile = namespace.get("profile")
    return load_recipes(profile) if profile else {}
