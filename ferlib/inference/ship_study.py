"""Which means make the shipped model stronger, measured on the validation split
(``ferlib ship-study``).

Each candidate is a way to turn runs of a recipe into the model ``ferlib predict`` uses: one run
(the reference: the recipe and seed shipped before), single runs of several seeds (their scores
averaged: what one more training run would give), an ensemble of seeds (one model averaging its
members' predictions, ``models.Ensemble``), horizontal-flip test-time augmentation (the picture
and its mirror image averaged), and variants of the recipe aimed at the shift the suite finds
weakest (occlusion). The runs come from the run store (``runs.train_runs`` trains the missing
ones, as ``ferlib ship-model`` does), so the members a study scores are the ones a ship builds.

Every score is on the validation split (the test split is read once, by ``ferlib ship-model``,
for the model it ships): mean CCC, CCC-V and CCC-A (``evaluation.metrics.va_scores``), the
balanced valence-sign accuracy and the arousal-order AUC against the emotion folders
(``inference.peers``, as ``ferlib peers`` scores them), and the drop of mean CCC under each shift
of ``evaluation.shifts`` (its mean and its worst). A candidate's difference from the one it is
compared with (``versus``) has a paired bootstrap interval over the validation images, and over
seeds where a candidate has several (``evaluation.errors.paired_bootstrap``); so does its
difference under the shift on which the reference drops most. A candidate is kept only when its
difference's interval lies above zero.

Note that each run's checkpoint is its best epoch on validation mean CCC, so every validation
score here is a little optimistic, alike for every candidate.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..evaluation.errors import paired_bootstrap
from ..evaluation.metrics import va_scores
from ..evaluation.shifts import SHIFTS, shifted_predictions
from ..models import Ensemble
from ..reporting.regimes import verdict as interval_verdict
from ..training.trainer import config_key
from .peers import arousal_order_auc, valence_sign_accuracy

RESULT_NAME = "ship_study.csv"
REFERENCE = "reference"
FIVE, THREE = (0, 1, 2, 3, 4), (0, 1, 2)
OCCLUSION = (("aug_occlusion_p", 0.4),)
LONGER = (("aug_occlusion_p", 0.4), ("epochs", 250))
WIDER = (("width", 2),)


@dataclass(frozen=True)
class Candidate:
    """One means: the recipe's overrides ``sets``, its ``seeds``, and how they are read:
    ``ensemble`` (one model, the members' mean) or each seed alone (scores averaged), with or
    without ``hflip`` test-time augmentation; compared with the candidate named ``versus``."""

    name: str
    means: str
    seeds: tuple[int, ...] = (0,)
    ensemble: bool = True
    hflip: bool = False
    sets: tuple[tuple[str, Any], ...] = ()
    versus: str = REFERENCE


CANDIDATES: tuple[Candidate, ...] = (
    Candidate(REFERENCE, "the shipped recipe, seed 0 (the model shipped before)", versus=""),
    Candidate("seed mean ×5", "single models, seeds 0–4, scores averaged", FIVE, ensemble=False),
    Candidate("hflip TTA", "seed 0 on the picture and its mirror image", hflip=True),
    Candidate("ensemble ×3", "mean prediction of seeds 0–2", THREE),
    Candidate("ensemble ×5", "mean prediction of seeds 0–4", FIVE),
    Candidate("ensemble ×3 + hflip", "seeds 0–2, each on picture and mirror", THREE, hflip=True),
    Candidate("ensemble ×5 + hflip", "seeds 0–4, each on picture and mirror", FIVE, hflip=True),
    Candidate("step: 5 members, not 3", "ensemble ×5 against ×3", FIVE, versus="ensemble ×3"),
    Candidate(
        "step: hflip on ensemble ×5",
        "ensemble ×5 + hflip against ensemble ×5",
        FIVE,
        hflip=True,
        versus="ensemble ×5",
    ),
    Candidate("seed mean ×3", "single models, seeds 0–2", THREE, ensemble=False),
    Candidate(
        "occlusion 0.4",
        "aug_occlusion_p 0.4 (shipped: 0.2); seed mean, seeds 0–2",
        THREE,
        ensemble=False,
        sets=OCCLUSION,
        versus="seed mean ×3",
    ),
    Candidate(
        "occlusion 0.4, 250 epochs",
        "aug_occlusion_p 0.4, 250 epochs (shipped: 165); seed mean, seeds 0–2",
        THREE,
        ensemble=False,
        sets=LONGER,
        versus="seed mean ×3",
    ),
    Candidate(
        "width 2",
        "small_cnn width 2 (490k parameters, shipped: 165k); seed mean, seeds 0–2",
        THREE,
        ensemble=False,
        sets=WIDER,
        versus="seed mean ×3",
    ),
    Candidate(
        "width 2, ensemble ×3 + hflip",
        "width 2, seeds 0–2, each on picture and mirror",
        THREE,
        hflip=True,
        sets=WIDER,
    ),
    Candidate(
        "step: width 2 in ensemble ×3 + hflip",
        "against width 1's ensemble ×3 + hflip",
        THREE,
        hflip=True,
        sets=WIDER,
        versus="ensemble ×3 + hflip",
    ),
)
"""The candidates in table order (each ``versus`` names a row above it)."""


@dataclass
class Scored:
    """A candidate's validation predictions: ``preds[shift]`` is (seeds, N, 2) (one row for an
    ensemble), ``targets`` N×2 and ``emotions`` the N emotion folders."""

    candidate: Candidate
    preds: dict[str, torch.Tensor]
    targets: torch.Tensor
    emotions: list[str] = field(default_factory=list)


def candidate_config(base: dict[str, Any], candidate: Candidate, seed: int) -> dict[str, Any]:
    """The run configuration of one of ``candidate``'s seeds on the recipe ``base``."""
    return {**base, **dict(candidate.sets), "seed": seed}


def study_configs(base: dict[str, Any], candidates: Sequence[Candidate]) -> list[dict[str, Any]]:
    """Every run the candidates need, once each, in order."""
    found: dict[str, dict[str, Any]] = {}
    for candidate in candidates:
        for seed in candidate.seeds:
            config = candidate_config(base, candidate, seed)
            found.setdefault(config_key(config), config)
    return list(found.values())


def candidate_models(candidate: Candidate, members: list[torch.nn.Module]) -> list[Ensemble]:
    """The models a candidate scores: one ensemble of ``members``, or one per member alone
    (each through ``Ensemble`` so that ``hflip`` reads the same either way)."""
    if candidate.ensemble:
        return [Ensemble(members, candidate.hflip).eval()]
    return [Ensemble([member], candidate.hflip).eval() for member in members]


def score_candidate(
    candidate: Candidate, members: list[torch.nn.Module], val: Any, image_size: int
) -> Scored:
    """``candidate``'s predictions on the validation split ``val`` (with its tensor store),
    clean and under every shift."""
    per_model, targets = [], None
    for model in candidate_models(candidate, members):
        preds, targets = shifted_predictions(model, val, image_size, list(SHIFTS))
        per_model.append(preds)
    stacked = {name: torch.stack([p[name] for p in per_model]) for name in per_model[0]}
    return Scored(candidate, stacked, targets, val.frame["prompted"].tolist())


def seed_mean(values: list[float]) -> float:
    """The mean of per-seed scores (NaN stays NaN)."""
    return float(np.mean(values))


def scores(scored: Scored) -> dict[str, Any]:
    """Validation scores of one candidate, each averaged over its seeds: mean CCC, CCC-V, CCC-A,
    valence sign, arousal order, and the drop of mean CCC under each shift."""
    y, clean = scored.targets, scored.preds["clean"]

    def ccc(stack: torch.Tensor, key: str = "ccc_mean") -> float:
        return seed_mean([float(va_scores(p, y)[key]) for p in stack])

    row = {key: ccc(clean, key) for key in ("ccc_mean", "ccc_v", "ccc_a")}
    row["valence_sign"] = seed_mean(
        [valence_sign_accuracy(p[:, 0].numpy(), scored.emotions) for p in clean]
    )
    row["arousal_order"] = seed_mean(
        [arousal_order_auc(p[:, 1].numpy(), scored.emotions) for p in clean]
    )
    drops = {name: row["ccc_mean"] - ccc(p) for name, p in scored.preds.items() if name != "clean"}
    worst = max(drops, key=drops.get)
    row.update(mean_drop=float(np.mean(list(drops.values()))), worst_drop=drops[worst])
    row["worst_shift"] = worst
    return row | {f"drop_{name}": value for name, value in drops.items()}


def paired_difference(
    scored: Scored, versus: Scored, shift: str, prefix: str, seed: int = 0
) -> dict[str, float]:
    """``scored`` minus ``versus`` in mean CCC under ``shift`` (or ``clean``) with its paired
    95 % interval over the images (and over seeds where either has several)."""
    preds = {"versus": versus.preds[shift], "candidate": scored.preds[shift]}
    several = max(len(p) for p in preds.values()) > 1
    table = paired_bootstrap(
        preds, scored.targets, reference="versus", seed=seed, resample_seeds=several
    )
    row = table.loc["candidate"]
    out = {f"{prefix}diff": row["diff"], f"{prefix}diff_low": row["diff_low"]}
    out[f"{prefix}diff_high"] = row["diff_high"]
    if not prefix:
        out.update(ccc_mean_low=row["low"], ccc_mean_high=row["high"])
    return out


KEPT = {
    "beats": "kept (above)",
    "below": "not kept (below)",
    "on par": "not kept (within interval)",
}
"""A candidate's verdict from ``reporting.regimes.verdict`` of its difference's interval."""


def verdict(row: dict[str, Any]) -> str:
    """``kept (above)`` when the difference's interval lies above zero, ``not kept (below)``
    when below, else ``not kept (within interval)``; the reference row is ``reference``."""
    return REFERENCE if not row["versus"] else KEPT[interval_verdict(row)]


def sets_text(sets: Sequence[tuple[str, Any]]) -> str:
    """A candidate's overrides as ``--set`` items (``width=2``; "" for none)."""
    return " ".join(f"{key}={value}" for key, value in sets)


def study_row(table: pd.DataFrame, members: int, hflip: bool, sets: str) -> dict | None:
    """The row of the candidate that is this model (compared with the reference), if any."""
    same = (table["members"] == members) & (table["hflip"] == hflip)
    same &= (table["sets"] == sets) & (table["versus"] == REFERENCE)
    rows = table[same].to_dict("records")
    return rows[0] if rows else None


def study_table(scored: list[Scored]) -> pd.DataFrame:
    """One row per candidate: what it is, its scores, and its paired differences from its
    ``versus`` (clean, and under the reference's worst shift)."""
    by_name = {s.candidate.name: s for s in scored}
    worst = scores(by_name[REFERENCE])["worst_shift"]
    rows = []
    for s in scored:
        c = s.candidate
        row = {"candidate": c.name, "means": c.means, "sets": sets_text(c.sets)}
        row["seeds"] = len(c.seeds)
        row.update(members=len(c.seeds) if c.ensemble else 1, hflip=c.hflip, versus=c.versus)
        row.update(scores(s))
        versus = by_name[c.versus] if c.versus else s
        row.update(paired_difference(s, versus, "clean", ""))
        row.update(paired_difference(s, versus, worst, "shifted_"), shifted=worst)
        row["verdict"] = verdict(row)
        rows.append(row)
    return pd.DataFrame(rows)


def run_members(
    base: dict[str, Any], candidates: Sequence[Candidate], data: Any
) -> dict[str, torch.nn.Module]:
    """The trained model of every run the candidates need, by ``config_key`` (the missing runs
    trained first, ``runs.parallel.finished_runs``)."""
    from ..runs.parallel import finished_runs

    configs = study_configs(base, candidates)
    runs = finished_runs(configs, data)
    return {config_key(c): run.model.eval() for c, run in zip(configs, runs, strict=True)}


def ship_study(
    config: dict[str, Any], candidates: Sequence[Candidate] = CANDIDATES
) -> pd.DataFrame:
    """Every candidate on the recipe ``config`` (the shipped recipe's run configuration, seed
    ignored), scored on the validation split: ``study_table``."""
    from ..data import load_from_config

    data = load_from_config(config)
    val, size = data.subset("val"), config["image_size"]
    models = run_members(config, candidates, data)
    scored = []
    for candidate in candidates:
        keys = [config_key(candidate_config(config, candidate, s)) for s in candidate.seeds]
        scored.append(score_candidate(candidate, [models[k] for k in keys], val, size))
    return study_table(scored)


def interval_text(value: float, low: float, high: float, signed: bool = False) -> str:
    """``0.861 [0.820, 0.893]`` (signed: ``+0.012 [-0.004, +0.027]``)."""
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(value)} [{f.format(low)}, {f.format(high)}]"


def study_markdown(table: pd.DataFrame) -> str:
    """The study table (``study_table``, or the committed CSV read back) in Markdown."""
    head = (
        "| candidate | means | mean CCC [95 % CI] | CCC-V | CCC-A | valence sign | arousal order "
        "| mean drop | worst drop | Δ mean CCC vs | Δ under shift | verdict |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in table.to_dict("records"):
        versus = r["versus"] if isinstance(r["versus"], str) and r["versus"] else ""
        delta = interval_text(r["diff"], r["diff_low"], r["diff_high"], True) if versus else "—"
        shifted = "—"
        if versus:
            shifted = interval_text(
                r["shifted_diff"], r["shifted_diff_low"], r["shifted_diff_high"], True
            )
            shifted += f" ({r['shifted']})"
        cells = [
            r["candidate"],
            r["means"],
            interval_text(r["ccc_mean"], r["ccc_mean_low"], r["ccc_mean_high"]),
            f"{r['ccc_v']:.3f}",
            f"{r['ccc_a']:.3f}",
            f"{r['valence_sign']:.3f}",
            f"{r['arousal_order']:.3f}",
            f"{r['mean_drop']:+.3f}",
            f"{r['worst_drop']:+.3f} ({r['worst_shift']})",
            f"{delta} ({versus})" if versus else delta,
            shifted,
            r["verdict"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_study(table: pd.DataFrame, out_dir: str | os.PathLike[str]) -> Path:
    """``ship_study.csv`` in ``out_dir`` (created if needed)."""
    from ..atomic import atomic_write_text

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RESULT_NAME
    atomic_write_text(table.to_csv(index=False, float_format="%.4f"), path)
    return path


def read_study(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A written study table (``write_study``), its empty ``versus`` and ``sets`` read as ""."""
    return pd.read_csv(path).fillna({"versus": "", "sets": ""})


def shipped_recipe(
    data_dir: str | os.PathLike[str] | None,
    profile: str = "robust",
    sets: tuple[str, ...] | list[str] | None = None,
) -> dict[str, Any]:
    """The run configuration of the shipped recipe: the Baseline of ``profile`` with the
    ``--set`` items ``sets``, on the release at ``data_dir`` (``ship-model``, ``ship-study``)."""
    from ..params import parse_set, resolve_config

    overrides = {**parse_set(list(sets or [])), "data_dir": data_dir, "method": "baseline"}
    return resolve_config(profile, overrides)


def study_command(
    data_dir: str, profile: str = "robust", sets: list[str] | None = None, out: str | None = None
) -> tuple[pd.DataFrame, Path]:
    """``ferlib ship-study``: the study on the shipped recipe (``profile`` with ``sets``) on the
    release at ``data_dir``, written to ``out`` (default ``docs/results``)."""
    from ..paths import results_home

    table = ship_study(shipped_recipe(data_dir, profile, sets))
    return table, write_study(table, out or results_home())


__all__ = [
    "CANDIDATES",
    "Candidate",
    "RESULT_NAME",
    "Scored",
    "candidate_models",
    "read_study",
    "score_candidate",
    "scores",
    "sets_text",
    "ship_study",
    "shipped_recipe",
    "study_command",
    "study_configs",
    "study_markdown",
    "study_row",
    "study_table",
    "verdict",
    "write_study",
]
