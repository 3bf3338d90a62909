"""Valence/arousal evaluation metrics RMSE, PCC, CCC and SAGR, as defined in
``docs/methods/metrics.md`` §2 (§ numbers below refer to it).

Each metric is computed once per dimension over the whole evaluation set, with population (1/N)
moments, in float64 on the CPU. Batches are only ever collected, never scored: an average of
per-batch RMSEs is biased (sqrt is concave), and per-batch PCC/CCC depend on batch size and order.

Implementation choices:
- `VAMetrics` keeps the raw predictions and labels as "cat" states, so DDP gathers them like any
  torchmetrics metric, and `compute` scores the concatenation. The result is therefore bit-identical
  for any batching (running sums would differ in the last bits).
- `va_scores` is the one implementation of the formulas, on stacked ``(..., N, 2)`` tensors, so
  that the bootstrap scores its resamples with exactly the code that scores the test set. RMSE is
  sqrt(sum of squares / N), the order of operations of torchmetrics' `mean_squared_error`.
- PCC, CCC and SAGR are our own. torchmetrics' PearsonCorrCoef decides "constant" with a relative
  tolerance (sqrt(eps)) on running sums rather than exactly: it returns 0.0, not NaN, for the
  constant predictions (0.1, 0.1, 0.1), whose floating-point mean is inexact, and its streaming
  merge is not exactly batch-invariant. Its ConcordanceCorrCoef uses N-1 variances.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

METRIC_KEYS = ("rmse_v", "rmse_a", "pcc_v", "pcc_a", "ccc_v", "ccc_a", "sagr_v", "sagr_a")
SCORE_KEYS = (*METRIC_KEYS, "ccc_mean", "sagr_nonzero_v", "sagr_nonzero_a")
"""Every score ``va_metrics`` returns (the keys that may be NaN)."""
COMPAT_CHOICES = ("project", "authors")
DIMS = ("v", "a")

_NAN_REASONS = {
    "pcc": "predictions or labels are constant (sigma = 0), so the correlation is undefined",
    "ccc": "predictions and labels are constant and equal, so the denominator is 0",
    "sagr_nonzero": "no label is non-zero",
}


class NonFiniteMetricWarning(RuntimeWarning):
    """A score that came out NaN or inf: ``key`` names it, ``reason`` says why."""

    def __init__(self, key: str, value: float, reason: str) -> None:
        shown = "NaN" if math.isnan(value) else str(value)
        super().__init__(f"{key} is {shown}: {reason} (reported as {shown})")
        self.key, self.reason = key, reason


def _check_compat(compat: str) -> None:
    if compat not in COMPAT_CHOICES:
        raise ValueError(f"unknown compat {compat!r}; choose one of {COMPAT_CHOICES}")


def _pairs(x: Any, name: str) -> torch.Tensor:
    """Accept a tensor, numpy array or nested list of shape (N, 2) = [valence, arousal]."""
    t = torch.as_tensor(x).detach()
    if t.ndim != 2 or t.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) [valence, arousal], got {tuple(t.shape)}")
    return t


def _centred(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Means and deviations along the sample axis (-2).

    Averaging the offsets from the first row makes a constant column's mean exact, so its deviations
    and sigma are exactly 0 and the NaN rules of §2 hold
    without any epsilon (a plain mean of three 0.1s is not 0.1 in floating point).
    """
    first = x[..., :1, :]
    mean = first + (x - first).mean(dim=-2, keepdim=True)
    return mean[..., 0, :], x - mean


def moments(p: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Population moments of predictions and labels along the sample axis of ``(..., N, 2)``:
    means ``mu_p``, ``mu_y``, variances ``var_p``, ``var_y``, covariance ``cov`` (each ``(..., 2)``)
    and ``rho``, the Pearson correlation (0/0 = NaN for a constant column, as specified)."""
    mu_p, dp = _centred(p)
    mu_y, dy = _centred(y)
    var_p, var_y, cov = dp.pow(2).mean(-2), dy.pow(2).mean(-2), (dp * dy).mean(-2)
    rho = cov / (var_p.sqrt() * var_y.sqrt())
    return {"mu_p": mu_p, "mu_y": mu_y, "var_p": var_p, "var_y": var_y, "cov": cov, "rho": rho}


def _undefined(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per dimension ``(..., 2)``: a NaN prediction or label along the sample axis, so that a
    share of sign agreements (SAGR) is unknown, not a miss."""
    return (p.isnan() | y.isnan()).any(-2)


def va_scores(p: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """The project metrics of stacked ``(..., N, 2)`` predictions and labels, scored along N.

    The one implementation of RMSE, PCC, CCC and SAGR: ``va_metrics`` calls it on one ``(N, 2)``
    set, ``ferlib.evaluation.errors.bootstrap_ci`` on a stack of resamples. Returns the 8
    ``METRIC_KEYS`` and ``ccc_mean``, each a tensor of the leading shape ``(...)``.
    """
    m = moments(p, y)
    d = p - y
    agree = (torch.sign(p) == torch.sign(y)).double()  # sgn(-0.0) == sgn(0.0)
    values = {
        "rmse": ((d * d).sum(-2) / p.shape[-2]).sqrt(),
        "pcc": m["rho"].clamp(-1.0, 1.0),  # rounding only; NaN stays NaN (as numpy.corrcoef)
        "ccc": 2 * m["cov"] / (m["var_p"] + m["var_y"] + (m["mu_p"] - m["mu_y"]).pow(2)),
        # sgn(NaN) agrees with nothing: a NaN makes SAGR NaN (unknown), not a 0 (all missed)
        "sagr": agree.mean(-2).masked_fill(_undefined(p, y), math.nan),
    }
    out = {f"{k}_{dim}": v[..., i] for k, v in values.items() for i, dim in enumerate(DIMS)}
    out["ccc_mean"] = (out["ccc_v"] + out["ccc_a"]) / 2
    return out


def zero_label_share(target: Any) -> dict[str, float]:
    """Fraction z of labels that are exactly 0, per dimension.

    SAGR <= 1 - z for any model with continuous outputs (§3), so reports print z next to
    SAGR. Returns {"z_v", "z_a", "n"}.
    """
    y = _pairs(target, "target")
    z = (y == 0).double().mean(dim=0)
    return {"z_v": float(z[0]), "z_a": float(z[1]), "n": int(y.shape[0])}


def va_metrics(
    preds: Any,
    target: Any,
    clip: bool = False,
    compat: str = "project",
    batch_size: int = 64,
) -> dict[str, float]:
    """Score whole (N, 2) prediction and label arrays once (§1-4).

    Returns the 8 `METRIC_KEYS`, `ccc_mean`, `n` and the diagnostic `sagr_nonzero_v/_a` (SAGR over
    non-zero labels only; never a replacement for SAGR). `clip=True` clips predictions to [-1, 1]
    first. `compat="authors"` reproduces the authors' evaluators for comparison with their logs:
    RMSE averaged over consecutive batches of `batch_size`, PCC and CCC with an N-1 covariance, and
    SAGR hits only on non-zero labels. NaN (or inf) scores are returned as they are, each with a
    ``NonFiniteMetricWarning`` saying why; NaN predictions make every score NaN, SAGR included.

    Taught in ``notebooks/10_baseline.ipynb`` §5.
    """
    _check_compat(compat)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    p = _pairs(preds, "preds").to("cpu", torch.float64)
    y = _pairs(target, "target").to("cpu", torch.float64)
    if p.shape != y.shape:
        raise ValueError(f"preds {tuple(p.shape)} and target {tuple(y.shape)} differ in shape")
    n = int(y.shape[0])
    if n == 0:
        raise ValueError("no samples to score")
    if clip:
        p = p.clamp(-1.0, 1.0)

    agree = torch.sign(p) == torch.sign(y)  # sgn(-0.0) == sgn(0.0) == 0
    nonzero = y != 0
    if compat == "project":
        scores = va_scores(p, y)
        rmse, pcc, ccc, sagr = (
            torch.stack([scores[f"{k}_{dim}"] for dim in DIMS])
            for k in ("rmse", "pcc", "ccc", "sagr")
        )
    else:
        m = moments(p, y)
        per_batch = [
            ((pb - yb).pow(2).sum(0) / len(pb)).sqrt()
            for pb, yb in zip(p.split(batch_size), y.split(batch_size), strict=True)
        ]
        rmse = torch.stack(per_batch).mean(0)
        bessel = n / (n - 1) if n > 1 else math.nan  # their covariance divides by N - 1
        pcc = m["rho"] * bessel
        ccc_den = m["var_p"] + m["var_y"] + (m["mu_p"] - m["mu_y"]).pow(2)
        ccc = 2 * m["cov"] * bessel / ccc_den
        sagr = (agree & nonzero).double().mean(0)
    sagr_nonzero = (agree & nonzero).double().sum(0) / nonzero.double().sum(0)
    undefined = _undefined(p, y)  # a NaN makes the shares unknown, not misses
    sagr = sagr.masked_fill(undefined, math.nan)
    sagr_nonzero = sagr_nonzero.masked_fill(undefined, math.nan)

    values = {"rmse": rmse, "pcc": pcc, "ccc": ccc, "sagr": sagr, "sagr_nonzero": sagr_nonzero}
    out = {f"{m}_{d}": float(v[i]) for m, v in values.items() for i, d in enumerate(DIMS)}
    bad_inputs = _non_finite_inputs(p, y)
    for key, value in out.items():
        if not math.isfinite(value):
            reason = bad_inputs or _NAN_REASONS.get(key.rsplit("_", 1)[0], "")
            warnings.warn(NonFiniteMetricWarning(key, value, reason), stacklevel=2)
    result: dict[str, float] = {k: out[k] for k in METRIC_KEYS}
    result["ccc_mean"] = (out["ccc_v"] + out["ccc_a"]) / 2
    result["n"] = n
    return result | {k: out[k] for k in ("sagr_nonzero_v", "sagr_nonzero_a")}


def _non_finite_inputs(p: torch.Tensor, y: torch.Tensor) -> str:
    """``k of N predictions are NaN or inf`` (and the same for labels), or "" if all are finite."""
    parts = []
    for name, x in (("predictions", p), ("labels", y)):
        bad = int((~torch.isfinite(x)).any(-1).sum())
        if bad:
            parts.append(f"{bad} of {len(x)} {name} are NaN or inf")
    return "; ".join(parts)


def finite_or_none(value: Any) -> Any:
    """``value`` with every NaN or infinite float (in dicts, lists and tuples) replaced by None,
    the ``null`` that JSON can hold; everything else unchanged."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def metrics_json(metrics: dict[str, Any]) -> str:
    """The one JSON form of a metrics dict (``evaluate --json``, a run's ``metrics.json``): a
    NaN or infinite score is written as ``null``, so the file is valid JSON (a bare ``NaN`` is
    not, and strict readers refuse it)."""
    return json.dumps(finite_or_none(metrics), indent=1, allow_nan=False)


def read_metrics_json(text: str) -> dict[str, Any]:
    """A ``metrics_json`` text back as a dict, a ``null`` score as NaN again (``SCORE_KEYS``)."""
    metrics = json.loads(text)
    for key in SCORE_KEYS:
        if key in metrics and metrics[key] is None:
            metrics[key] = math.nan
    return metrics


class VAMetrics(Metric):
    """Accumulates (N, 2) predictions and labels over an evaluation run and scores them once.

    `update` only collects; `compute` calls `va_metrics` on everything seen (on all DDP ranks), so
    results do not depend on the batch size or on how the data were split into batches. Calling the
    metric (`forward`) also only collects: a per-batch score is what §1 forbids.
    In `compat="authors"` mode, RMSE is re-batched from the concatenation into `batch_size` chunks,
    which matches the authors' evaluator when that is their loader's batch size.
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(
        self, clip: bool = False, compat: str = "project", batch_size: int = 64, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        _check_compat(compat)
        self.clip, self.compat, self.batch_size = clip, compat, batch_size
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """Store a batch as given (dtype kept: MPS has no float64; it is upcast in `compute`)."""
        p, y = _pairs(preds, "preds"), _pairs(target, "target")
        if p.shape != y.shape:
            raise ValueError(f"preds {tuple(p.shape)} and target {tuple(y.shape)} differ in shape")
        self.preds.append(p.to(self.device))
        self.target.append(y.to(self.device))

    def forward(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """Collect only, returning None: there is deliberately no per-batch score."""
        self.update(preds, target)

    def compute(self) -> dict[str, float]:
        """The metrics of everything collected since the last `reset`."""
        if not len(self.preds):
            raise ValueError("VAMetrics.compute() called before any update()")
        return va_metrics(
            dim_zero_cat(self.preds),
            dim_zero_cat(self.target),
            clip=self.clip,
            compat=self.compat,
            batch_size=self.batch_size,
        )
