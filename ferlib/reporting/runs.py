"""Tables of finished training runs: one row per run, mean ± std over seeds, a markdown table.

Runs live under ``outputs/runs/<dataset>/<method>/<config-hash>/seed<k>/`` (``ferlib.runs``
keeps and reads them: ``ferlib.runs.collect.collect_runs`` gives the rows of ``run_row``);
``ferlib results`` prints ``results_markdown(summarize_runs(collect_runs(root)))``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UserError
from ..evaluation.metrics import METRIC_KEYS
from ..params import METHOD_NAMES

GROUP_KEYS = (
    "dataset",
    "method",
    "backbone",
    "image_size",
    "identities",
    "identity_bias",
    "recipe",
    "augmentation",
)
"""The configuration fields that make runs comparable; ``summarize_runs`` groups by these."""

RUN_COLUMNS = (
    *GROUP_KEYS,
    "seed",
    "epochs",
    *METRIC_KEYS,
    "ccc_mean",
    "train_seconds",
    "images_per_s",
    "device",
    "run",
)
"""Columns of ``collect_runs``, in order."""

SUMMARY_METRICS = (*METRIC_KEYS, "ccc_mean")
TABLE_METRICS = ("ccc_v", "ccc_a", "rmse_v", "rmse_a", "pcc_v", "pcc_a", "sagr_v", "sagr_a")
"""Default metric columns of ``results_markdown``."""
METHOD_ORDER = METHOD_NAMES
"""The registered methods in the order of ``ferlib.methods.METHODS`` (the one list
``params.METHOD_NAMES``, which registering a method extends): the Baseline, the reference of every
comparison, first."""


def _empty_runs() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in RUN_COLUMNS})


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def run_row(run: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """One row of a runs table (``RUN_COLUMNS``) from a run's ``metrics.json``: configuration
    fields from its ``config``, labels of its augmentation and recipe, its metrics (NaN where
    missing or not a number), device, and ``run`` (its folder, as the caller names it)."""
    config = metrics.get("config") or {}
    row: dict[str, Any] = {key: config.get(key) for key in (*GROUP_KEYS, "seed", "epochs")}
    row["augmentation"] = augmentation_label(config)
    row["recipe"] = recipe_label(config)
    if row["dataset"] != "synthetic":  # SyntheticFER settings; meaningless for real data
        row["identity_bias"] = row["identities"] = None
    for key in (*METRIC_KEYS, "ccc_mean", "train_seconds", "images_per_s"):
        row[key] = _number(metrics.get(key))
    row["device"] = metrics.get("device")
    row["run"] = run
    return row


def runs_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Rows of ``run_row`` as a frame with the columns ``RUN_COLUMNS``, in order; no rows give an
    empty frame with the same columns (``ferlib.runs.collect.collect_runs`` reads them)."""
    if not rows:
        return _empty_runs()
    return pd.DataFrame(list(rows), columns=list(RUN_COLUMNS))


def select_runs(runs: pd.DataFrame, where: Sequence[str]) -> pd.DataFrame:
    """The rows of ``collect_runs`` whose columns read as given, each condition ``KEY=VALUE``
    (``dataset=diffusionfer``; ``recipe=epochs=110``: everything after the first ``=`` is the
    value). Numbers compare as numbers (``identities=60`` matches 60.0), the rest as text, an empty
    value matches a missing one. An unknown column is an error naming the columns."""
    keep = pd.Series(True, index=runs.index)
    for condition in where:
        key, sep, value = condition.partition("=")
        if not sep or key not in runs.columns:
            columns = ", ".join(RUN_COLUMNS)
            raise UserError(f"--where {condition!r}: expected KEY=VALUE, KEY one of {columns}")
        keep &= runs[key].map(lambda cell, value=value: _reads_as(cell, value))
    return runs[keep]


def recipe_runs(runs: pd.DataFrame, profile: str) -> pd.DataFrame:
    """The rows of ``collect_runs`` trained with ``profile``'s recipe for their method (its top
    level and the method's ``recipes:`` section; data settings may differ), so that a table shows
    each method with its own chosen recipe and nothing else."""
    from ..params import resolve_config

    wanted = {m: recipe_label(resolve_config(profile, {"method": m})) for m in METHOD_ORDER}
    return runs[[wanted.get(m) == r for m, r in zip(runs["method"], runs["recipe"], strict=True)]]


def _reads_as(cell: Any, value: str) -> bool:
    if _missing(cell):
        return value == ""
    if isinstance(cell, (int, float, np.number)) and not isinstance(cell, bool):
        try:
            return float(value) == float(cell)
        except ValueError:
            return False
    return str(cell) == value


def summarize_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each metric, per configuration.

    Groups ``collect_runs`` rows by ``GROUP_KEYS`` (dataset, method, backbone, image_size,
    identities, identity_bias, recipe, augmentation; a missing value is a group of its own) and
    gives, for each metric ``m`` of the 8 ``METRIC_KEYS`` and ``ccc_mean``, ``m_mean`` and
    ``m_std``. The std is the *sample* standard deviation (ddof=1, the spread one would expect
    between seeds), so it is NaN for a single seed. Also ``n_seeds`` (distinct seeds in the
    group), and ``train_seconds`` and ``images_per_s`` (training throughput), each the mean over
    the runs.
    Rows are sorted by the group keys, methods in ``METHOD_ORDER`` (the Baseline first, the
    reference of every comparison).

    Taught in ``notebooks/20_evaluate_va.ipynb`` §6.
    """
    stats = [f"{m}_{s}" for m in SUMMARY_METRICS for s in ("mean", "std")]
    columns = [*GROUP_KEYS, "n_seeds", *stats, "train_seconds", "images_per_s"]
    if runs.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    data = runs.copy()
    for key in ("augmentation", "recipe"):  # rows from before these existed: the defaults
        if key not in data:
            data[key] = "none" if key == "augmentation" else "defaults"
    if "identities" not in data:
        data["identities"] = None
    for m in (*SUMMARY_METRICS, "train_seconds", "images_per_s"):
        data[m] = pd.to_numeric(data[m], errors="coerce") if m in data else math.nan
    # one row per seed: the same configuration trained twice (a run folder moved by a new
    # parameter's default, say) is one seed, not two
    data = data.drop_duplicates(subset=[*GROUP_KEYS, "seed"], keep="first")
    grouped = data.groupby(list(GROUP_KEYS), dropna=False, sort=True)
    out = grouped.size().rename("n_seeds").to_frame()
    for m in SUMMARY_METRICS:
        out[f"{m}_mean"] = grouped[m].mean()
        out[f"{m}_std"] = grouped[m].std(ddof=1)
    out["train_seconds"] = grouped["train_seconds"].mean()
    out["images_per_s"] = grouped["images_per_s"].mean()
    out = out.reset_index()[columns]
    return out.iloc[_row_order(out)].reset_index(drop=True)


def _cell(mean: float, std: float, n_seeds: int) -> str:
    if pd.isna(mean):
        return "n/a"
    if n_seeds <= 1 or pd.isna(std):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {std:.3f}"


def _missing(value: Any) -> bool:
    return value is None or (np.ndim(value) == 0 and bool(pd.isna(value)))


def augmentation_label(config: dict[str, Any]) -> str:
    """``none``, or the train-time augmentation a run used (``greyscale_p=0.3, rotate=15``), so
    that augmented and plain runs of one method are never averaged together."""
    used = [f"{k[4:]}={v}" for k, v in sorted(config.items()) if k.startswith("aug_") and v]
    return ", ".join(used) or "none"


RECIPE_IGNORED = (
    "method",
    "backbone",
    "seed",
    "device",
    "num_workers",
    "wandb",
    "amp",
    "eval_batch_size",
)
"""Settings a recipe label leaves out: their own columns, and what does not change what a run
learns (or only where it runs)."""


def recipe_label(config: dict[str, Any]) -> str:
    """``defaults``, or the training and method settings where a run differs from the registry's
    defaults (``epochs=110, lr=0.002``; augmentation has its own column), so that runs of
    different recipes of one method — a search's candidates — are never averaged together."""
    from ..params import PARAMETERS, defaults

    default = defaults()
    changed = [
        f"{k}={v}"
        for k, v in sorted(config.items())
        if k in PARAMETERS
        and PARAMETERS[k].group in ("training", "method")
        and not k.startswith("aug_")
        and k not in RECIPE_IGNORED
        and v != default.get(k)
    ]
    return ", ".join(changed) or "defaults"


def _order_key(value: Any) -> tuple:
    """Numbers sort as numbers, before text; missing values sort last."""
    if _missing(value):
        return (2, 0.0, "")
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def method_rank(name: Any) -> tuple:
    """Sort key of a method name: ``METHOD_ORDER`` first (the Baseline, then CAF, AVCE, ELIM),
    any other name after them, by name."""
    if name in METHOD_ORDER:
        return (0, METHOD_ORDER.index(name), "")
    return (1, 0, _order_key(name))


def _row_order(summary: pd.DataFrame) -> list[int]:
    """Positions of ``summary``'s rows sorted by ``GROUP_KEYS`` (methods by ``method_rank``)."""
    order = [k for k in GROUP_KEYS if k in summary.columns]
    keys = [
        tuple(method_rank(row[k]) if k == "method" else _order_key(row[k]) for k in order)
        for _, row in summary.iterrows()
    ]
    return sorted(range(len(summary)), key=keys.__getitem__)


def _text(value: Any, count: bool = False) -> str:
    if count and not _missing(value):
        value = int(value)  # a count stored as a float beside missing values reads as a count
    return "" if _missing(value) else str(value).replace("|", "\\|")


def results_markdown(summary: pd.DataFrame, metrics: Sequence[str] = TABLE_METRICS) -> str:
    """A GitHub-markdown results table from ``summarize_runs``: one row per configuration.

    Columns: method, dataset, backbone, then ``image_size``, ``identities``, ``identity_bias``,
    ``recipe`` and ``augmentation`` only when they differ between rows, seeds, one column per metric
    ("0.812 ± 0.011": mean ± sample std over seeds, 3 decimals; just the mean for a single
    seed), ``train s`` (mean training seconds) and ``img/s`` (mean training images per second).
    Rows are sorted by dataset, then method (``method_rank``: the Baseline first), then backbone,
    image size, identity bias and augmentation.
    """
    extra = [
        key
        for key in GROUP_KEYS[3:]
        if key in summary.columns and summary[key].astype(str).nunique() > 1
    ]
    header = ["method", "dataset", "backbone", *extra, "seeds", *metrics, "train s", "img/s"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---"] * (3 + len(extra)) + ["---:"] * (3 + len(metrics))) + "|",
    ]
    if not summary.empty:
        rows = summary.iloc[_row_order(summary)]
        for _, row in rows.iterrows():
            n_seeds = int(row["n_seeds"])
            keys = ("method", "dataset", "backbone", *extra)
            cells = [_text(row.get(k), count=k == "identities") for k in keys]
            cells.append(str(n_seeds))
            cells += [_cell(row[f"{m}_mean"], row[f"{m}_std"], n_seeds) for m in metrics]
            seconds, speed = row.get("train_seconds"), row.get("images_per_s")
            cells.append("n/a" if pd.isna(seconds) else f"{seconds:.1f}")
            cells.append("n/a" if speed is None or pd.isna(speed) else f"{speed:,.0f}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def stopping_table(
    histories: Iterable[tuple[str, pd.DataFrame]], epochs: Sequence[int] = (25, 30, 35)
) -> pd.DataFrame:
    """What stopping earlier would cost: per run (``(run, history)`` pairs, each history with its
    ``epoch`` and ``val_ccc_mean`` columns: ``ferlib.runs.collect.histories``), the best
    validation mean CCC, its epoch, and for each of ``epochs`` how much lower the best of the first
    that many epochs is (0: nothing lost). Validation only, so a schedule can be chosen from it.
    """
    rows = []
    for run, history in histories:
        curve = history.set_index("epoch")["val_ccc_mean"]
        best = curve.max()
        row = {"run": run, "best": best}
        row["best epoch"] = int(curve.idxmax())
        for n in epochs:
            row[f"lost at {n}"] = best - curve[curve.index <= n].max()
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = [
    "GROUP_KEYS",
    "METHOD_ORDER",
    "RUN_COLUMNS",
    "SUMMARY_METRICS",
    "TABLE_METRICS",
    "method_rank",
    "recipe_label",
    "recipe_runs",
    "results_markdown",
    "run_row",
    "runs_table",
    "select_runs",
    "stopping_table",
    "summarize_runs",
]
