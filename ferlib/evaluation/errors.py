"""Numbers for judging trained models: bootstrap confidence intervals, errors per group and per
region of the valence/arousal (VA) plane.

Nothing here draws (``ferlib.figures.evaluation`` turns these tables into figures). Predictions
and labels are ``(N, 2)`` arrays of ``[valence, arousal]`` (numpy, torch or nested lists).

- ``bootstrap_ci``: how much a test score could move with a different test set of the same size;
- ``paired_bootstrap``: how much each method's score differs from a reference method's on the
  same test images, with an interval from resampling those images once for all methods;
- ``per_group_error``: which emotions, people or prompts a model gets wrong, and in which direction;
- ``va_error_grid``: where on the VA plane the errors are;
- ``prediction_slope``, ``error_by_label_band``: regression to the mean, and where along
  each dimension the errors are.

Tables of finished runs are ``ferlib.reporting.runs``.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ..emotions import EMOTIONS
from ..errors import UserError
from .arrays import as_numpy, va_array
from .metrics import METRIC_KEYS, va_metrics, va_scores

GROUP_ERROR_COLUMNS = ("n", "mae_v", "mae_a", "rmse_v", "rmse_a", "bias_v", "bias_a")

_BOOT_CELLS = 1_000_000  # resampled rows per vectorised chunk: 8 MB per float64 (B, N) array


# --------------------------------------------------------------------------------------------
# bootstrap


def _check_resampling(n_boot: int, level: float) -> None:
    """The checks both intervals make of their resampling settings (``UserError`` naming the
    value: ``ferlib sweep --n-boot`` reaches them)."""
    if n_boot < 1:
        raise UserError(f"n_boot must be at least 1, not {n_boot}")
    if not 0 < level < 1:
        raise UserError(f"level must be between 0 and 1, not {level}")


def _resampled(
    statistic: Callable[..., np.ndarray],
    n: int,
    n_boot: int,
    level: float,
    seed: int,
    width: int = 1,
) -> np.ndarray:
    """``statistic`` of ``n_boot`` resamples of the ``n`` row indices drawn with replacement
    (``scipy.stats.bootstrap``, the draw fixed by ``seed``), one column per resample, scored
    vectorised in chunks of about a million rows (``width`` rows scored per row drawn).

    scipy's own interval is NaN, with a ``DegenerateDataWarning``, as soon as one resample's
    score is NaN (a resample of constant labels has no PCC) or the distribution is degenerate
    (a method against itself); the callers take the percentiles from this distribution
    themselves, leaving such resamples out, so the warning is silenced here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            (np.arange(n),),
            statistic,
            n_resamples=n_boot,
            batch=max(1, _BOOT_CELLS // (n * width)),
            vectorized=True,
            confidence_level=level,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    return result.bootstrap_distribution


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
    resample globally (never per batch), with ``va_scores``, the code ``va_metrics`` scores with
    (``scipy.stats.bootstrap`` draws the resamples of row indices). The interval is
    the ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of the resampled scores. It says how
    much the score could move on another test set of this size from the same population; it does not
    cover the variation between training seeds (``summarize_runs`` shows that).

    Returns a frame indexed by ``metric`` (``keys``; ``ccc_mean`` is also accepted) with columns
    ``value`` (``va_metrics`` on all rows), ``low``, ``high`` and ``nan_resamples``: resamples whose
    score was NaN (e.g. all labels of a resample equal, so PCC is undefined) are left out of the
    percentiles and counted there. The draw is fixed by ``seed`` (for a given N and ``n_boot``).
    The resamples are scored vectorised, in chunks of about a million rows.

    Taught in ``notebooks/20_evaluate_va.ipynb`` §2.
    """
    p, y = va_array(preds, "preds"), va_array(targets, "targets")
    if p.shape != y.shape:
        raise ValueError(f"preds {p.shape} and targets {y.shape} differ in shape")
    n = len(y)
    if n == 0:
        raise ValueError("no samples to bootstrap")
    _check_resampling(n_boot, level)
    keys = tuple(keys)
    known = (*METRIC_KEYS, "ccc_mean")
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(f"unknown metric keys {unknown}; choose from {known}")

    full = va_metrics(p, y)
    p_t, y_t = torch.from_numpy(p), torch.from_numpy(y)

    def statistic(rows: np.ndarray, axis: int = -1) -> np.ndarray:
        """The chosen metrics of each resample of row indices (one resample per leading index)."""
        scores = va_scores(p_t[rows], y_t[rows])
        return np.stack([scores[k].numpy() for k in keys])

    distribution = _resampled(statistic, n, n_boot, level, seed)
    q = 100 * np.array([(1 - level) / 2, (1 + level) / 2])
    rows = []
    for k, values in zip(keys, distribution, strict=True):
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


PAIRED_COLUMNS = ("seeds", "value", "low", "high", "diff", "diff_low", "diff_high")


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of the finite ``values`` (NaN when none)."""
    finite = values[~np.isnan(values)]
    if not finite.size:
        return math.nan, math.nan
    low, high = np.percentile(finite, 100 * np.array([(1 - level) / 2, (1 + level) / 2]))
    return float(low), float(high)


def _seed_stack(name: str, preds: Any, shape: tuple[int, ...]) -> torch.Tensor:
    """A method's predictions as a ``(seeds, N, 2)`` tensor (one ``(N, 2)`` array is one seed);
    ``shape`` is the labels' ``(N, 2)``."""
    p = as_numpy(preds)
    p = p[None] if p.ndim == 2 else p
    if p.ndim != 3 or p.shape[1:] != shape:
        raise ValueError(
            f"predictions of {name!r} must be (N, 2) or (seeds, N, 2) with N = {shape[0]}, "
            f"got {tuple(as_numpy(preds).shape)}"
        )
    return torch.from_numpy(p)


def paired_bootstrap(
    preds: Mapping[str, Any],
    targets: Any,
    reference: str = "baseline",
    key: str = "ccc_mean",
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    resample_seeds: bool = False,
) -> pd.DataFrame:
    """Each method's score and its difference from ``reference``'s, with paired bootstrap CIs.

    ``preds`` maps a method name to its predictions for the test images: one ``(N, 2)`` array, or
    one per training seed (a sequence of them, or an ``(S, N, 2)`` array). A method's score on a
    set of images is ``key`` (a ``va_scores`` key; ``ccc_mean`` by default) averaged over its
    seeds. Each bootstrap resample draws N test images with replacement **once** and scores every
    method on that same resample (``scipy.stats.bootstrap`` draws the resamples of row indices,
    as in ``bootstrap_ci``), so the difference ``method - reference`` is computed image for image:
    what makes a test image hard for one model makes it hard for the other, and that shared part
    cancels from the difference. A paired interval is therefore usually much narrower than the two
    methods' own intervals would suggest. When both methods have the same seeds, the difference of
    the seed means is the mean of the per-seed differences (seed s of one against seed s of the
    other). By default the interval covers the choice of test images only, not that of training
    seeds: with a few seeds, read it beside the spread over seeds (``summarize_runs``).

    ``resample_seeds=True`` makes it cover both (a two-level bootstrap): each resample also draws,
    for every method on its own, as many of its seeds as it has, with replacement, and averages
    the scores of the drawn seeds on the resampled images. A method whose seeds disagree then
    gets a wider interval, and a difference that one lucky seed carries is no longer "above".
    With S seeds there are only S^S seed draws, so with few seeds the interval is coarse; it is
    still the honest one for a verdict about the method rather than about these runs.

    Returns a frame indexed by ``method`` (``reference`` first, then the order of ``preds``) with
    ``PAIRED_COLUMNS``: ``seeds``, ``value`` (the score on all test images), ``low``/``high`` (its
    percentile interval), ``diff`` (``value`` minus the reference's) and ``diff_low``/``diff_high``
    (the percentile interval of the paired differences; 0 and 0 for the reference itself).
    Resamples whose score is NaN are left out of the percentiles.

    Taught in ``notebooks/20_evaluate_va.ipynb`` §7.
    """
    if reference not in preds:
        raise ValueError(f"reference {reference!r} is not among the methods {list(preds)}")
    if key not in (*METRIC_KEYS, "ccc_mean"):
        raise ValueError(f"unknown metric key {key!r}; choose from {(*METRIC_KEYS, 'ccc_mean')}")
    _check_resampling(n_boot, level)
    y = va_array(targets, "targets")
    n = len(y)
    if n < 2:
        raise ValueError("paired_bootstrap needs at least two test images")
    names = [reference, *(m for m in preds if m != reference)]
    stacks = {name: _seed_stack(name, preds[name], y.shape) for name in names}
    y_t = torch.from_numpy(y)

    def scores(rows: np.ndarray) -> np.ndarray:
        """(methods, ...) seed-mean scores of each resample of row indices."""
        return np.stack(
            [va_scores(p[:, rows], y_t[rows])[key].mean(0).numpy() for p in stacks.values()]
        )

    def statistic(rows: np.ndarray, axis: int = -1) -> np.ndarray:
        score = scores(rows)
        return np.concatenate([score, score - score[:1]])

    most_seeds = max(len(p) for p in stacks.values())
    if resample_seeds:
        score = _seed_resampled(stacks, y_t, key, n_boot, level, seed)
        distribution = np.concatenate([score, score - score[:1]])
    else:
        distribution = _resampled(statistic, n, n_boot, level, seed, most_seeds * len(names))
    full = scores(np.arange(n))
    rows = []
    for i, name in enumerate(names):
        low, high = _percentiles(distribution[i], level)
        diff_low, diff_high = _percentiles(distribution[len(names) + i], level)
        rows.append(
            {
                "method": name,
                "seeds": len(stacks[name]),
                "value": float(full[i]),
                "low": low,
                "high": high,
                "diff": float(full[i] - full[0]),
                "diff_low": diff_low,
                "diff_high": diff_high,
            }
        )
    table = pd.DataFrame(rows).set_index("method")
    table.attrs.update(
        n=n,
        n_boot=n_boot,
        level=level,
        seed=seed,
        key=key,
        reference=reference,
        resampled="seeds and images" if resample_seeds else "images",
    )
    return table


def _seed_resampled(
    stacks: Mapping[str, torch.Tensor],
    y: torch.Tensor,
    key: str,
    n_boot: int,
    level: float,
    seed: int,
) -> np.ndarray:
    """``(methods, n_boot)`` seed-mean scores of a two-level bootstrap: the same resampled images
    for every method (paired), and for each method its own draw of its seeds with replacement."""
    sizes = [len(p) for p in stacks.values()]

    def per_seed(rows: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.concatenate(
            [va_scores(p[:, rows], y[rows])[key].numpy() for p in stacks.values()]
        )

    scored = _resampled(per_seed, len(y), n_boot, level, seed, sum(sizes))  # (sum of seeds, B)
    draw = np.random.default_rng([seed, 1])
    means = []
    for block in np.split(scored, np.cumsum(sizes)[:-1]):
        picked = draw.integers(0, len(block), size=block.shape)
        means.append(np.take_along_axis(block, picked, axis=0).mean(0))
    return np.stack(means)


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

    Taught in ``notebooks/20_evaluate_va.ipynb`` §4.
    """
    if by not in frame.columns:
        raise ValueError(f"frame has no column {by!r}; columns: {list(frame.columns)}")
    p = va_array(preds, "preds")
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


def prediction_slope(preds: Any, targets: Any) -> pd.DataFrame:
    """How strongly the predictions follow the labels, per dimension (rows valence, arousal).

    Columns: ``slope``, the least-squares slope of prediction on label (cov / σ²_label, population
    moments); ``std_ratio``, σ_prediction / σ_label; ``pcc``. ``slope = pcc · std_ratio``, so a
    model whose predictions are not perfectly correlated with the labels and spread no wider than
    them has a slope below 1: **regression to the mean** (it under-states strong labels on both
    sides). A slope of 1 is the dashed identity line of ``figures.evaluation.pred_vs_true``.

    Taught in ``notebooks/10_baseline.ipynb`` §5.
    """
    p, y = va_array(preds, "preds"), va_array(targets, "targets")
    if p.shape != y.shape or len(y) < 2:
        raise ValueError(f"need two or more matching rows, got preds {p.shape}, targets {y.shape}")
    dp, dy = p - p.mean(0), y - y.mean(0)
    cov, var_p, var_y = (dp * dy).mean(0), (dp**2).mean(0), (dy**2).mean(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        table = pd.DataFrame(
            {
                "slope": cov / var_y,
                "std_ratio": np.sqrt(var_p / var_y),
                "pcc": cov / np.sqrt(var_p * var_y),
            },
            index=pd.Index(["valence", "arousal"], name="dimension"),
        )
    return table


def error_by_label_band(
    preds: Any, targets: Any, edges: Sequence[float] = (-1.0, -0.5, -0.2, 0.2, 0.5, 1.0)
) -> pd.DataFrame:
    """The errors of the images whose *label* falls in each band of ``edges``, per dimension.

    Rows indexed by (``dimension``, ``band``), the band written as "[lo, hi)" (the last one
    closed; labels outside the edges count in the outer bands); columns ``n``, ``label`` (mean
    label), ``prediction`` (mean prediction), ``bias`` (mean of prediction − label) and ``mae``.
    Empty bands are left out. Under regression to the mean the bias is positive in the lowest
    band and negative in the highest; where the MAE is largest depends on the model and the data
    (chapter 10 prints it).

    Taught in ``notebooks/10_baseline.ipynb`` §5.
    """
    p, y = va_array(preds, "preds"), va_array(targets, "targets")
    if p.shape != y.shape:
        raise ValueError(f"preds {p.shape} and targets {y.shape} differ in shape")
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"edges must increase strictly, got {edges.tolist()}")
    names = [
        f"[{lo:+.1f}, {hi:+.1f}{']' if k == len(edges) - 2 else ')'}"
        for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    ]
    rows = []
    for d, dim in enumerate(("valence", "arousal")):
        band = np.clip(np.searchsorted(edges, y[:, d], side="right") - 1, 0, len(edges) - 2)
        for k, name in enumerate(names):
            mask = band == k
            if mask.any():
                err = p[mask, d] - y[mask, d]
                rows.append(
                    {
                        "dimension": dim,
                        "band": name,
                        "n": int(mask.sum()),
                        "label": float(y[mask, d].mean()),
                        "prediction": float(p[mask, d].mean()),
                        "bias": float(err.mean()),
                        "mae": float(np.abs(err).mean()),
                    }
                )
    columns = ["dimension", "band", "n", "label", "prediction", "bias", "mae"]
    return pd.DataFrame(rows, columns=columns).set_index(["dimension", "band"])


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

    Taught in ``notebooks/20_evaluate_va.ipynb`` §4.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    y, p = va_array(targets, "targets"), va_array(preds, "preds")
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


__all__ = [
    "GROUP_ERROR_COLUMNS",
    "PAIRED_COLUMNS",
    "bootstrap_ci",
    "paired_bootstrap",
    "per_group_error",
    "va_error_grid",
]
