"""Numbers for judging trained models: bootstrap confidence intervals, errors per group and per
region of the valence/arousal (VA) plane, and tables of finished training runs.

Nothing here draws (``ferlib.eval_plots`` turns these tables into figures). Predictions and labels
are ``(N, 2)`` arrays of ``[valence, arousal]`` (numpy, torch or nested lists).

- ``bootstrap_ci``: how much a test score could move with a different test set of the same size;
- ``per_group_error``: which emotions, people or prompts a model gets wrong, and in which direction;
- ``va_error_grid``: where on the VA plane the errors are;
- ``collect_runs`` / ``summarize_runs`` / ``results_markdown``: one row per run under
  ``outputs/runs/<dataset>/<method>/<config-hash>/seed<k>/``, their mean ± std over seeds, and a
  markdown results table.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .emotions import EMOTIONS
from .metrics import METRIC_KEYS, va_metrics

GROUP_KEYS = ("dataset", "method", "backbone", "image_size", "identity_bias")
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
GROUP_ERROR_COLUMNS = ("n", "mae_v", "mae_a", "rmse_v", "rmse_a", "bias_v", "bias_a")

_BOOT_CELLS = 1_000_000  # resampled rows per vectorised chunk: 8 MB per float64 (B, N) array


# --------------------------------------------------------------------------------------------
# bootstrap


def _pairs(x: Any, name: str) -> np.ndarray:
    """An ``(N, 2)`` float64 numpy array from a tensor, array or nested list."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) [valence, arousal], got {a.shape}")
    return a


def _centred(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means and deviations along axis -2, offset from the first row as ``ferlib.metrics`` does,
    so that a constant column has an exact mean and exactly zero spread (hence the same NaNs)."""
    first = x[..., :1, :]
    mean = first + (x - first).mean(axis=-2, keepdims=True)
    return mean[..., 0, :], x - mean


def _vector_metrics(p: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The project-mode metrics of ``va_metrics`` for a stack of samples.

    ``p`` and ``y`` have shape ``(..., N, 2)``; each returned array has shape ``(...)``. Same
    definitions as ``va_metrics(compat="project")``: population moments, PCC clipped to [-1, 1],
    NaN for undefined correlations.
    """
    mu_p, dp = _centred(p)
    mu_y, dy = _centred(y)
    var_p = (dp * dp).mean(axis=-2)
    var_y = (dy * dy).mean(axis=-2)
    cov = (dp * dy).mean(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        pcc = np.clip(cov / (np.sqrt(var_p) * np.sqrt(var_y)), -1.0, 1.0)
        ccc = 2 * cov / (var_p + var_y + (mu_p - mu_y) ** 2)
    rmse = np.sqrt(((p - y) ** 2).mean(axis=-2))
    sagr = (np.sign(p) == np.sign(y)).mean(axis=-2)
    out: dict[str, np.ndarray] = {}
    for name, value in (("rmse", rmse), ("pcc", pcc), ("ccc", ccc), ("sagr", sagr)):
        out[f"{name}_v"], out[f"{name}_a"] = value[..., 0], value[..., 1]
    out["ccc_mean"] = (out["ccc_v"] + out["ccc_a"]) / 2
    return out


def bootstrap_ci(
    preds: Any,
    targets: Any,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    keys: Sequence[str] = METRIC_KEYS,
) -> pd.DataFrame:
    """Percentile bootstrap confidence intervals of the VA metrics.

    Resamples the N (prediction, label) rows with replacement ``n_boot`` times and scores each
    resample globally (never per batch), with the definitions of ``va_metrics``. The interval is
    the ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of the resampled scores. It says how
    much the score could move on another test set of this size from the same population; it does not
    cover the variation between training seeds (``summarize_runs`` shows that).

    Returns a frame indexed by ``metric`` (``keys``; ``ccc_mean`` is also accepted) with columns
    ``value`` (``va_metrics`` on all rows), ``low``, ``high`` and ``nan_resamples``: resamples whose
    score was NaN (e.g. all labels of a resample equal, so PCC is undefined) are left out of the
    percentiles and counted there. The draw is fixed by ``seed`` (for a given N and ``n_boot``).
    The resamples are scored vectorised in numpy, in chunks of about a million rows.
    """
    p, y = _pairs(preds, "preds"), _pairs(targets, "targets")
    if p.shape != y.shape:
        raise ValueError(f"preds {p.shape} and targets {y.shape} differ in shape")
    n = len(y)
    if n == 0:
        raise ValueError("no samples to bootstrap")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, not {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    keys = tuple(keys)
    known = (*METRIC_KEYS, "ccc_mean")
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(f"unknown metric keys {unknown}; choose from {known}")

    full = va_metrics(p, y)
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOT_CELLS // n)
    scores: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        batch = _vector_metrics(p[idx], y[idx])
        for k in keys:
            scores[k].append(batch[k])

    q = 100 * np.array([(1 - level) / 2, (1 + level) / 2])
    rows = []
    for k in keys:
        values = np.concatenate(scores[k])
        finite = values[~np.isnan(values)]
        low, high = np.percentile(finite, q) if finite.size else (math.nan, math.nan)
        rows.append(
            {
                "metric": k,
                "value": float(full[k]),
                "low": float(low),
                "high": float(high),
                "nan_resamples": int(values.size - finite.size),
            }
        )
    table = pd.DataFrame(rows).set_index("metric")
    table.attrs.update(n=n, n_boot=n_boot, level=level, seed=seed)
    return table


# --------------------------------------------------------------------------------------------
# errors per group and per VA cell


def _natural_key(value: Any) -> tuple:
    """Sort key that puts "id2" before "id10"."""
    parts = re.split(r"(\d+)", str(value))
    return tuple((0, int(s), "") if s.isdigit() else (1, 0, s) for s in parts if s)


def per_group_error(frame: pd.DataFrame, preds: Any, by: str = "expression") -> pd.DataFrame:
    """Error statistics of the predictions for each group of rows of ``frame``.

    ``frame`` is an ``FERData.frame`` (its ``valence`` and ``arousal`` are the labels) and
    ``preds`` the ``(N, 2)`` predictions for its rows, in the same order. ``by`` is
    ``"expression"`` (groups named by ``EMOTIONS``), ``"identity"``, ``"prompted"`` or any other
    column of ``frame``. Rows whose group is missing are dropped.

    Returns a frame indexed by group (index name ``by``) with columns ``n``, ``mae_v``, ``mae_a``
    (mean absolute error), ``rmse_v``, ``rmse_a`` and ``bias_v``, ``bias_a`` (mean of prediction
    minus label: positive means the model overshoots). Emotions come in ``EMOTIONS`` order
    (``prompted`` folders outside ``EMOTIONS`` after them, by name), other groups by name with
    numbers compared as numbers ("id2" before "id10").
    """
    if by not in frame.columns:
        raise ValueError(f"frame has no column {by!r}; columns: {list(frame.columns)}")
    p = _pairs(preds, "preds")
    if len(p) != len(frame):
        raise ValueError(f"preds has {len(p)} rows but the frame has {len(frame)}")
    groups = frame[by]
    if by == "expression":
        groups = pd.Series([None if pd.isna(c) else EMOTIONS[int(c)] for c in groups], dtype=object)
    groups = groups.reset_index(drop=True).astype(object)
    keep = groups.notna().to_numpy()
    y = frame[["valence", "arousal"]].to_numpy(dtype=np.float64)
    err = p - y
    table = pd.DataFrame(
        {
            "group": groups[keep].to_numpy(),
            "ev": err[keep, 0],
            "ea": err[keep, 1],
        }
    )
    grouped = table.groupby("group", sort=False)
    out = pd.DataFrame(
        {
            "n": grouped.size(),
            "mae_v": grouped["ev"].apply(lambda e: np.abs(e).mean()),
            "mae_a": grouped["ea"].apply(lambda e: np.abs(e).mean()),
            "rmse_v": grouped["ev"].apply(lambda e: np.sqrt((e**2).mean())),
            "rmse_a": grouped["ea"].apply(lambda e: np.sqrt((e**2).mean())),
            "bias_v": grouped["ev"].mean(),
            "bias_a": grouped["ea"].mean(),
        }
    ).astype({"n": int})
    if by in ("expression", "prompted"):
        rank = {name: i for i, name in enumerate(EMOTIONS)}
        order = sorted(out.index, key=lambda g: (rank.get(g, len(rank)), _natural_key(g)))
    else:
        order = sorted(out.index, key=_natural_key)
    out = out.loc[order] if len(out) else out.reindex(columns=list(GROUP_ERROR_COLUMNS))
    out.index.name = by
    return out


def va_error_grid(
    targets: Any, preds: Any, bins: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean Euclidean error ``sqrt(dv² + da²)`` in each cell of a ``bins × bins`` grid over the
    label plane [-1, 1]².

    Cells are chosen by the *label* (where the face truly is), so the grid shows which regions of
    the VA plane the model handles badly. Returns ``(grid, counts, edges)``: ``grid[i, j]`` and
    ``counts[i, j]`` belong to valence bin ``i`` and arousal bin ``j`` (``edges[i]`` to
    ``edges[i + 1]``; the last bin includes 1; labels outside [-1, 1] count in the edge bins).
    Empty cells are NaN in ``grid`` and 0 in ``counts``. For ``imshow`` with arousal upwards, show
    ``grid.T`` with ``origin="lower"``.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    y, p = _pairs(targets, "targets"), _pairs(preds, "preds")
    if p.shape != y.shape:
        raise ValueError(f"preds {p.shape} and targets {y.shape} differ in shape")
    edges = np.linspace(-1.0, 1.0, bins + 1)
    cell = np.clip(np.floor((y + 1.0) / 2.0 * bins).astype(np.int64), 0, bins - 1)
    flat = cell[:, 0] * bins + cell[:, 1]
    error = np.sqrt(((p - y) ** 2).sum(axis=1))
    counts = np.bincount(flat, minlength=bins * bins).reshape(bins, bins)
    sums = np.bincount(flat, weights=error, minlength=bins * bins).reshape(bins, bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(counts > 0, sums / counts, np.nan)
    return grid, counts, edges


# --------------------------------------------------------------------------------------------
# training runs


def _empty_runs() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in RUN_COLUMNS})


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def collect_runs(root: str | Path) -> pd.DataFrame:
    """One row per ``metrics.json`` found anywhere under ``root`` (columns ``RUN_COLUMNS``).

    Configuration fields come from the file's ``config``; where it lacks ``dataset``, ``method`` or
    ``seed``, they are read from the path ``<dataset>/<method>/<config-hash>/seed<k>``. ``run`` is
    the run folder relative to ``root``. Rows are sorted by ``run``. A missing ``root``, or one
    without runs, gives an empty frame with the same columns; unreadable files are skipped with a
    warning.
    """
    root = Path(root)
    if not root.is_dir():
        return _empty_runs()
    rows = []
    for path in sorted(root.rglob("metrics.json")):
        try:
            metrics = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            warnings.warn(f"skipping unreadable {path}: {err}", RuntimeWarning, stacklevel=2)
            continue
        if not isinstance(metrics, dict):
            warnings.warn(f"skipping {path}: not a JSON object", RuntimeWarning, stacklevel=2)
            continue
        config = metrics.get("config") or {}
        run = path.parent.relative_to(root).as_posix()
        parts = run.split("/") if run != "." else []
        from_path: dict[str, Any] = {}
        if len(parts) >= 4:
            from_path = {"dataset": parts[-4], "method": parts[-3]}
        if parts and (match := re.fullmatch(r"seed(\d+)", parts[-1])):
            from_path["seed"] = int(match.group(1))
        row: dict[str, Any] = {}
        for key in (*GROUP_KEYS, "seed", "epochs"):
            row[key] = config.get(key, from_path.get(key))
        if row["dataset"] != "synthetic":
            row["identity_bias"] = None  # a SyntheticFER setting; meaningless for real data
        for key in (*METRIC_KEYS, "ccc_mean", "train_seconds", "images_per_s"):
            row[key] = _number(metrics.get(key))
        row["device"] = metrics.get("device")
        row["run"] = run
        rows.append(row)
    if not rows:
        return _empty_runs()
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def summarize_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each metric, per configuration.

    Groups ``collect_runs`` rows by ``GROUP_KEYS`` (dataset, method, backbone, image_size,
    identity_bias; a missing value is a group of its own) and gives, for each metric ``m`` of the
    8 ``METRIC_KEYS`` and ``ccc_mean``, ``m_mean`` and ``m_std``. The std is the *sample* standard
    deviation (ddof=1, the spread one would expect between seeds), so it is NaN for a single seed.
    Also ``n_seeds`` (runs in the group), and ``train_seconds`` and ``images_per_s`` (training
    throughput), each the mean over the runs. Rows are sorted by the group keys.
    """
    stats = [f"{m}_{s}" for m in SUMMARY_METRICS for s in ("mean", "std")]
    columns = [*GROUP_KEYS, "n_seeds", *stats, "train_seconds", "images_per_s"]
    if runs.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    data = runs.copy()
    for m in (*SUMMARY_METRICS, "train_seconds", "images_per_s"):
        data[m] = pd.to_numeric(data[m], errors="coerce") if m in data else math.nan
    grouped = data.groupby(list(GROUP_KEYS), dropna=False, sort=True)
    out = grouped.size().rename("n_seeds").to_frame()
    for m in SUMMARY_METRICS:
        out[f"{m}_mean"] = grouped[m].mean()
        out[f"{m}_std"] = grouped[m].std(ddof=1)
    out["train_seconds"] = grouped["train_seconds"].mean()
    out["images_per_s"] = grouped["images_per_s"].mean()
    return out.reset_index()[columns]


def _cell(mean: float, std: float, n_seeds: int) -> str:
    if pd.isna(mean):
        return "n/a"
    if n_seeds <= 1 or pd.isna(std):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {std:.3f}"


def _missing(value: Any) -> bool:
    return value is None or (np.ndim(value) == 0 and bool(pd.isna(value)))


def _order_key(value: Any) -> tuple:
    """Numbers sort as numbers, before text; missing values sort last."""
    if _missing(value):
        return (2, 0.0, "")
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _text(value: Any) -> str:
    return "" if _missing(value) else str(value).replace("|", "\\|")


def results_markdown(summary: pd.DataFrame, metrics: Sequence[str] = TABLE_METRICS) -> str:
    """A GitHub-markdown results table from ``summarize_runs``: one row per configuration.

    Columns: method, dataset, backbone, then ``image_size`` and ``identity_bias`` only when they
    differ between rows, seeds, one column per metric ("0.812 ± 0.011": mean ± sample std over
    seeds, 3 decimals; just the mean for a single seed), ``train s`` (mean training seconds) and
    ``img/s`` (mean training images per second).
    Rows are sorted by dataset, then method (then backbone, image size, identity bias).
    """
    extra = [
        key
        for key in ("image_size", "identity_bias")
        if key in summary.columns and summary[key].astype(str).nunique() > 1
    ]
    header = ["method", "dataset", "backbone", *extra, "seeds", *metrics, "train s", "img/s"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---"] * (3 + len(extra)) + ["---:"] * (3 + len(metrics))) + "|",
    ]
    if not summary.empty:
        order = [k for k in GROUP_KEYS if k in summary.columns]
        keys = [tuple(_order_key(row[k]) for k in order) for _, row in summary.iterrows()]
        rows = summary.iloc[sorted(range(len(summary)), key=keys.__getitem__)]
        for _, row in rows.iterrows():
            n_seeds = int(row["n_seeds"])
            cells = [_text(row.get(k)) for k in ("method", "dataset", "backbone", *extra)]
            cells.append(str(n_seeds))
            cells += [_cell(row[f"{m}_mean"], row[f"{m}_std"], n_seeds) for m in metrics]
            seconds, speed = row.get("train_seconds"), row.get("images_per_s")
            cells.append("n/a" if pd.isna(seconds) else f"{seconds:.1f}")
            cells.append("n/a" if speed is None or pd.isna(speed) else f"{speed:,.0f}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


__all__ = [
    "GROUP_KEYS",
    "RUN_COLUMNS",
    "bootstrap_ci",
    "collect_runs",
    "per_group_error",
    "results_markdown",
    "summarize_runs",
    "va_error_grid",
]
