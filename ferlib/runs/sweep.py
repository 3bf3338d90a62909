"""Where each method's mechanism pays: sweeps over SyntheticFER's controlled conditions.

The papers each claim a gain in a regime: unseen people, person-specific resting faces, few
identities. SyntheticFER controls both: ``identity_bias`` (how strongly each person's resting face
shifts their labelled expression's look) and ``identities`` (how many people the data holds; the
split keeps the test people unseen). A sweep trains every method at every value of one axis with
the same seeds (each with its own recipe from the profile), then scores each point on its test
people:

- mean CCC, seed-averaged, and each method's **paired** difference from the Baseline with a 95 %
  bootstrap interval over the test images (``evaluation.errors.paired_bootstrap``: both models
  scored on the same resamples, so what makes an image hard for both cancels);
- identity leakage: a linear probe naming the unseen test people from the trunk features h
  (``evaluation.leakage.identity_probe``), seed-averaged, beside chance;
- the resting-face slope: how much of each test person's resting mouth offset (known, since
  SyntheticFER drew it) passes into the predicted valence (``resting_slope``; 0 at bias 0).

``ferlib sweep --axis NAME`` (``run_sweep``) trains what is missing and writes the table
(``reporting.regimes.COLUMNS``); its verdicts and sentences are ``reporting.regimes``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ..data import FERData, load_from_config, make_loader
from ..data.pk_sampler import identity_codes
from ..errors import UserError
from ..evaluation.errors import paired_bootstrap, per_group_error
from ..evaluation.leakage import identity_probe
from ..evaluation.metrics import va_metrics
from ..evaluation.outputs import model_outputs, trunk_features
from ..params import ParameterError, resolve_config
from ..paths import check_writable_dir
from ..reporting.regimes import COLUMNS
from ..reporting.tables import markdown_table
from ..training.checkpoint import load_model
from .parallel import train_runs
from .store import run_folder

AXES: dict[str, tuple[float, ...]] = {
    "identity_bias": (0.0, 0.5, 1.0, 1.5, 2.0),
    "identities": (10, 20, 40, 60, 160),
}
"""The swept SyntheticFER settings and the values a sweep takes by default (each axis passes
through the course's own setting: bias 1, 60 people)."""


def point_config(
    profile: str | Path | Mapping[str, Any], method: str, seed: int, axis: str, value: float
) -> tuple[dict[str, Any], str]:
    """One run of a sweep: the profile with ``method``'s own recipe, at ``axis = value``; and a
    note of any change the point forces.

    ELIM draws ``elim_p`` training people per batch; with fewer training people than that (10
    identities leave 6 to train on), ``elim_p`` drops to the largest divisor of the batch size
    that fits, and the note says so.
    """
    if axis not in AXES:
        raise ParameterError(f"unknown sweep axis {axis!r}; choose from {sorted(AXES)}")
    value = int(value) if axis == "identities" else float(value)
    config = resolve_config(profile, {"method": method, "seed": seed, axis: value})
    note = ""
    if method == "elim":
        people = train_people(config)
        if people < config["elim_p"]:
            batch = config["batch_size"]
            p = max(d for d in range(2, people + 1) if batch % d == 0 and batch // d >= 2)
            note = f"elim_p {config['elim_p']} -> {p} ({people} training people)"
            config = {**config, "elim_p": p}
    return config, note


def train_people(config: Mapping[str, Any]) -> int:
    """How many people SyntheticFER's split leaves for training at ``config``'s size."""
    from ..synthetic.builder import SynthConfig, identity_splits

    synth = SynthConfig(identities=int(config["identities"]), seed=int(config["data_seed"]))
    return sum(1 for split in identity_splits(synth).values() if split == "train")


def resting_offsets(identities: Sequence[str], config: Mapping[str, Any]) -> np.ndarray:
    """Each image's resting mouth offset in valence units: ``identity_bias`` times the mouth bias
    SyntheticFER drew for its person (``id012`` is person 12 of ``data_seed``). A model that
    reads the resting face as affect adds this to its valence."""
    from ..synthetic.identity import sample_identity

    bias, seed = float(config["identity_bias"]), int(config["data_seed"])
    people = {p: bias * sample_identity(int(str(p)[2:]), seed).mouth_bias for p in set(identities)}
    return np.array([people[p] for p in identities])


def resting_table(
    frame: pd.DataFrame, preds: np.ndarray, config: Mapping[str, Any]
) -> pd.DataFrame:
    """Each person's mean error (``per_group_error`` by identity) beside their resting mouth
    offset in valence units (``resting_valence``, ``resting_offsets``)."""
    table = per_group_error(frame, np.asarray(preds), by="identity")
    table["resting_valence"] = resting_offsets(list(table.index), config)
    return table


def resting_slope(preds: np.ndarray, labels: np.ndarray, offsets: np.ndarray) -> float:
    """Least-squares slope of the valence error (prediction − label) on the resting offset, over
    the test images: 1 means the whole resting face passes into the prediction, 0 none of it.
    NaN when every offset is 0 (no bias: nothing to pass on)."""
    x = np.asarray(offsets, dtype=np.float64)
    x = x - x.mean()
    if not np.any(x):
        return float("nan")
    error = np.asarray(preds)[:, 0] - np.asarray(labels)[:, 0]
    return float((x * (error - error.mean())).sum() / (x * x).sum())


def sweep_configs(
    profile: str | Path | Mapping[str, Any],
    axis: str,
    values: Sequence[float],
    methods: Sequence[str],
    seeds: Sequence[int],
) -> list[dict[str, Any]]:
    """Every run of a sweep, value by value (so that a partial sweep is a usable one)."""
    return [
        point_config(profile, method, seed, axis, value)[0]
        for value in values
        for method in methods
        for seed in seeds
    ]


def score_point(
    runs: Mapping[str, Sequence[Path]],
    data: FERData,
    image_size: int,
    n_boot: int = 1000,
    device: torch.device | None = None,
    offsets: np.ndarray | None = None,
) -> pd.DataFrame:
    """One sweep point: ``runs`` maps each method (the Baseline among them) to its run folders,
    one per seed, all trained on ``data``; scored on ``data``'s test split.

    ``offsets`` are the test images' resting offsets (``resting_offsets``) for the resting-face
    slope; without them it is NaN. Returns one row per method with the ``COLUMNS`` that do not
    name the point (``axis``, ``value`` and ``note`` are the caller's).
    """
    if "baseline" not in runs:
        raise UserError("a sweep point needs the Baseline: every difference is taken from it")
    device = device or torch.device("cpu")
    test = data.subset("test")
    loader = make_loader(test, image_size, 256, train=False)
    people = list(test.frame["identity"].astype(str))
    preds: dict[str, list[np.ndarray]] = {}
    probes: dict[str, list[float]] = {}
    labels = None
    for method, folders in runs.items():
        for folder in folders:
            model, _ = load_model(Path(folder) / "checkpoint.pt")
            out, _, targets = model_outputs(model, loader, device)
            preds.setdefault(method, []).append(out.numpy())
            labels = targets.numpy()
            h = trunk_features(model, loader, device)
            probes.setdefault(method, []).append(identity_probe(h, people)["probe_accuracy"])
    paired = paired_bootstrap(
        preds, labels, reference="baseline", n_boot=n_boot, seed=0, resample_seeds=True
    )
    rows = []
    for method in paired.index:
        scores = [va_metrics(p, labels) for p in preds[method]]
        rows.append(
            {
                "method": method,
                "seeds": len(preds[method]),
                "ccc_mean": paired.loc[method, "value"],
                "ccc_v": float(np.mean([s["ccc_v"] for s in scores])),
                "ccc_a": float(np.mean([s["ccc_a"] for s in scores])),
                "diff": paired.loc[method, "diff"],
                "diff_low": paired.loc[method, "diff_low"],
                "diff_high": paired.loc[method, "diff_high"],
                "probe_h": float(np.mean(probes[method])),
                "probe_h_std": float(np.std(probes[method], ddof=1))
                if len(probes[method]) > 1
                else float("nan"),
                **probe_difference(probes[method], probes["baseline"], method == "baseline"),
                "resting_slope": float(
                    np.mean([resting_slope(p, labels, offsets) for p in preds[method]])
                )
                if offsets is not None
                else float("nan"),
                "chance": 1 / len(set(people)),
                "test_people": len(set(people)),
                "test_images": len(labels),
            }
        )
    return pd.DataFrame(rows)


def probe_difference(
    probes: Sequence[float], baseline: Sequence[float], same: bool = False
) -> dict[str, float]:
    """The identity probe's mean difference from the Baseline's, with Welch's 95 % t interval
    over the seeds (NaN with fewer than two seeds on either side; 0 for the Baseline itself)."""
    diff = float(np.mean(probes) - np.mean(baseline))
    if same:
        return {"probe_diff": 0.0, "probe_diff_low": 0.0, "probe_diff_high": 0.0}
    if min(len(probes), len(baseline)) < 2:
        return {"probe_diff": diff, "probe_diff_low": math.nan, "probe_diff_high": math.nan}
    low, high = stats.ttest_ind(probes, baseline, equal_var=False).confidence_interval(0.95)
    return {"probe_diff": diff, "probe_diff_low": float(low), "probe_diff_high": float(high)}


def sweep_table(
    profile: str | Path | Mapping[str, Any],
    axis: str,
    values: Sequence[float],
    methods: Sequence[str],
    seeds: Sequence[int],
    folder: Callable[[dict[str, Any]], Path],
    n_boot: int = 1000,
) -> pd.DataFrame:
    """The whole sweep as one table (``COLUMNS``), from finished runs; ``folder(config)`` gives a
    run's folder. A missing run raises, naming it."""
    frames = []
    for value in values:
        runs: dict[str, list[Path]] = {}
        notes = {}
        for method in methods:
            for seed in seeds:
                config, note = point_config(profile, method, seed, axis, value)
                run = Path(folder(config))
                if not (run / "checkpoint.pt").is_file():
                    raise FileNotFoundError(f"{method} seed {seed} at {axis}={value}: no run {run}")
                runs.setdefault(method, []).append(run)
                notes[method] = note
        config = point_config(profile, methods[0], seeds[0], axis, value)[0]
        data = load_from_config(config)
        identity_codes(data.frame)  # a sweep needs people
        test_people = list(data.subset("test").frame["identity"].astype(str))
        offsets = resting_offsets(test_people, config)
        frame = score_point(runs, data, config["image_size"], n_boot=n_boot, offsets=offsets)
        frame.insert(0, "value", value)
        frame.insert(0, "axis", axis)
        frame["note"] = frame["method"].map(notes)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[list(COLUMNS)]


@dataclass
class SweepResult:
    """What ``run_sweep`` wrote: the table (``COLUMNS``), its markdown and the files' stem
    (``<out>/sweep_<axis>[_<tag>]``: ``.csv`` and ``.md`` written; the figure is the caller's)."""

    table: pd.DataFrame
    text: str
    stem: Path


def run_sweep(
    profile: str | Path | Mapping[str, Any],
    axis: str,
    values: Sequence[float] | None,
    methods: Sequence[str],
    seeds: Sequence[int],
    out: str | Path,
    tag: str = "",
    n_boot: int = 1000,
    workers: int | None = None,
    log: Callable[[str], None] = print,
) -> SweepResult:
    """``ferlib sweep``: train the sweep's missing runs (``workers`` at a time), score every
    point and write ``sweep_<axis>[_<tag>].csv`` and ``.md`` into ``out``. ``values`` default to
    the axis's (``AXES``)."""
    values = values or list(AXES[axis])
    out = check_writable_dir(out, "--out")
    configs = sweep_configs(profile, axis, values, methods, seeds)
    log(
        f"sweep {axis}: {len(configs)} runs ({len(values)} values × "
        f"{len(methods)} methods × {len(seeds)} seeds); finished ones are loaded"
    )
    train_runs(configs, workers=workers)
    table = sweep_table(profile, axis, values, methods, seeds, run_folder, n_boot=n_boot)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"sweep_{axis}{'_' + tag if tag else ''}"
    table.to_csv(stem.with_suffix(".csv"), index=False)
    text = markdown_table(table.drop(columns=["axis"]).to_dict("records"))
    stem.with_suffix(".md").write_text(text + "\n")
    return SweepResult(table, text, stem)


__all__ = [
    "AXES",
    "SweepResult",
    "point_config",
    "resting_offsets",
    "resting_slope",
    "run_sweep",
    "score_point",
    "sweep_configs",
    "sweep_table",
    "train_people",
]
