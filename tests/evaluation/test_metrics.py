"""Evaluation metrics against docs/methods/metrics.md §6 items 1-6."""

import math
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr

from ferlib.evaluation.metrics import METRIC_KEYS, VAMetrics, va_metrics, zero_label_share

Y4 = [1.0, 2.0, 3.0, 4.0]


def pairs(v, a=None) -> torch.Tensor:
    """(N, 2) float64 tensor; arousal repeats valence unless given."""
    return torch.tensor(list(zip(v, v if a is None else a, strict=True)), dtype=torch.float64)


def random_pairs(n=203, seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(n, 2, generator=g, dtype=torch.float64) * 2 - 1
    p = 0.6 * y + 0.3 * torch.randn(n, 2, generator=g, dtype=torch.float64) + 0.05
    return p, y


def nan_warnings(record) -> set[str]:
    """The metric names that the recorded warnings report as NaN."""
    return {str(w.message).split(" is NaN")[0] for w in record if " is NaN" in str(w.message)}


# 1. identity and hand values


def test_identity():
    _, y = random_pairs()
    m = va_metrics(y, y)
    for d in "va":
        assert m[f"ccc_{d}"] == pytest.approx(1, abs=1e-12)
        assert m[f"pcc_{d}"] == pytest.approx(1, abs=1e-12)
        assert m[f"rmse_{d}"] == 0


def test_hand_values_shift_by_one():
    y = pairs(Y4)
    m = va_metrics(y + 1, y)
    assert set(METRIC_KEYS) <= set(m) and m["n"] == 4
    for d in "va":
        assert m[f"rmse_{d}"] == pytest.approx(1, abs=1e-12)
        assert m[f"pcc_{d}"] == pytest.approx(1, abs=1e-12)
        assert m[f"ccc_{d}"] == pytest.approx(5 / 7, abs=1e-12)
    assert m["ccc_mean"] == pytest.approx(5 / 7, abs=1e-12)


def test_ccc_of_negation():
    zero_mean = pairs([-1.5, -0.5, 0.5, 1.5])
    assert va_metrics(-zero_mean, zero_mean)["ccc_v"] == pytest.approx(-1, abs=1e-12)
    y = pairs(Y4)
    assert va_metrics(-y, y)["ccc_a"] == pytest.approx(-1 / 11, abs=1e-12)


@pytest.mark.parametrize("c", [0.0, 0.1, -0.7])
def test_constant_prediction_gives_nan_pcc_and_zero_ccc(c):
    y = pairs([0.3, -0.2, 0.9])  # three 0.1s do not average to exactly 0.1 in floating point
    with pytest.warns(RuntimeWarning) as record:
        m = va_metrics(torch.full_like(y, c), y)
    assert nan_warnings(record) == {"pcc_v", "pcc_a"}
    assert math.isnan(m["pcc_v"]) and math.isnan(m["pcc_a"])
    assert m["ccc_v"] == 0 and m["ccc_a"] == 0


def test_constant_and_equal_gives_nan_ccc_with_warning():
    y = pairs([0.1, 0.1, 0.1], [0.2, -0.4, 0.5])
    with pytest.warns(RuntimeWarning) as record:
        m = va_metrics(y.clone(), y)
    assert nan_warnings(record) == {"pcc_v", "ccc_v"}
    assert math.isnan(m["ccc_v"]) and math.isnan(m["ccc_mean"])
    assert m["ccc_a"] == pytest.approx(1, abs=1e-12)


def test_no_warning_on_ordinary_data():
    p, y = random_pairs()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        va_metrics(p, y)


# 2. invariances


def test_pcc_affine_invariant_ccc_not():
    p, y = random_pairs()
    m, m2 = va_metrics(p, y), va_metrics(2.5 * p + 0.3, y)
    for d in "va":
        assert m2[f"pcc_{d}"] == pytest.approx(m[f"pcc_{d}"], abs=1e-12)
        assert abs(m2[f"ccc_{d}"] - m[f"ccc_{d}"]) > 1e-3


# 3. SAGR


def test_sagr_zero_label_rule():
    y = pairs([-0.5, 0.0, 0.0, 0.3])
    p = pairs([-0.1, 0.0, 0.2, -0.4])
    m = va_metrics(p, y)
    assert m["sagr_v"] == 0.5 and m["sagr_a"] == 0.5
    assert va_metrics(p, y, compat="authors")["sagr_v"] == 0.25
    assert m["sagr_nonzero_v"] == 0.5  # diagnostic over the two non-zero labels
    assert zero_label_share(y) == {"z_v": 0.5, "z_a": 0.5, "n": 4}


def test_sagr_negative_zero_label_agrees_and_no_tolerance_band():
    y = pairs([-0.0, 0.0, 0.5])
    assert va_metrics(pairs([0.0, 1e-300, 0.5]), y)["sagr_v"] == pytest.approx(2 / 3)
    assert zero_label_share(np.array([[-0.0, 0.2], [0.4, 0.0]]))["z_v"] == 0.5


# 4. global versus per batch


def test_rmse_global_vs_authors_per_batch():
    y = pairs([0.1, -0.2, 0.3, 0.5])
    p = y + pairs([0.0, 0.0, 2.0, 2.0])
    assert va_metrics(p, y)["rmse_v"] == pytest.approx(math.sqrt(2), abs=1e-12)
    assert va_metrics(p, y, compat="authors", batch_size=2)["rmse_v"] == pytest.approx(1.0)
    authors = VAMetrics(compat="authors", batch_size=2)
    authors.update(p, y)
    assert authors.compute()["rmse_a"] == pytest.approx(1.0)


def test_batching_does_not_change_project_metrics():
    p, y = random_pairs()
    results = []
    for chunk in (7, 64, len(y)):
        metric = VAMetrics()
        for i in range(0, len(y), chunk):
            assert metric(p[i : i + chunk].float(), y[i : i + chunk].float()) is None
        results.append(metric.compute())
    assert results[0] == results[1] == results[2] == va_metrics(p.float(), y.float())


def test_reset_and_merged_states_like_ddp():
    p, y = random_pairs()
    whole = va_metrics(p, y)
    metric = VAMetrics()
    metric.update(torch.zeros(5, 2), torch.ones(5, 2))
    metric.reset()
    metric.update(p[:100], y[:100])
    other = VAMetrics()
    other.update(p[100:], y[100:])
    metric.merge_state(other)  # the "cat" reduction that DDP uses to gather ranks
    # merging reorders the samples, so sums may differ in the last bit
    assert metric.compute() == pytest.approx(whole, rel=1e-12)


def test_compute_before_update_raises():
    with pytest.raises(ValueError, match="before any update"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics' own "compute before update" warning
        VAMetrics().compute()


# 5. compat


def test_authors_pcc_and_ccc_use_n_minus_1_covariance():
    p, y = random_pairs()
    n = len(y)
    project, authors = va_metrics(p, y), va_metrics(p, y, compat="authors")
    for i, d in enumerate("va"):
        assert authors[f"pcc_{d}"] == pytest.approx(project[f"pcc_{d}"] * n / (n - 1), rel=1e-12)
        yi, pi = y[:, i].numpy(), p[:, i].numpy()
        cov = np.cov(yi, pi, ddof=1)[0, 1]
        ccc = 2 * cov / (yi.var() + pi.var() + (yi.mean() - pi.mean()) ** 2)
        assert authors[f"ccc_{d}"] == pytest.approx(ccc, rel=1e-12)


# 6. reference implementations


def test_agrees_with_numpy_and_scipy():
    p, y = random_pairs(n=500, seed=1)
    m = va_metrics(p.numpy(), y.numpy())
    for i, d in enumerate("va"):
        yi, pi = y[:, i].numpy(), p[:, i].numpy()
        assert m[f"pcc_{d}"] == pytest.approx(np.corrcoef(yi, pi)[0, 1], abs=1e-12)
        assert m[f"pcc_{d}"] == pytest.approx(pearsonr(yi, pi)[0], abs=1e-12)
        cov = np.mean((yi - yi.mean()) * (pi - pi.mean()))
        sd_y, sd_p = np.std(yi, ddof=0), np.std(pi, ddof=0)
        ccc = 2 * cov / (sd_y**2 + sd_p**2 + (yi.mean() - pi.mean()) ** 2)
        assert m[f"ccc_{d}"] == pytest.approx(ccc, abs=1e-12)
        assert m[f"rmse_{d}"] == pytest.approx(np.sqrt(np.mean((pi - yi) ** 2)), abs=1e-12)
        assert m[f"sagr_{d}"] == pytest.approx(np.mean(np.sign(pi) == np.sign(yi)), abs=1e-12)


# options


def test_clip_option():
    p, y = random_pairs()
    p = p * 3  # push many predictions outside [-1, 1]
    clipped = va_metrics(p, y, clip=True)
    assert clipped == va_metrics(p.clamp(-1, 1), y)
    assert clipped["rmse_v"] < va_metrics(p, y)["rmse_v"]
    metric = VAMetrics(clip=True)
    metric.update(p, y)
    assert metric.compute() == clipped


def test_bad_arguments():
    p, y = random_pairs()
    with pytest.raises(ValueError, match="'project'.*'authors'"):
        va_metrics(p, y, compat="paper")
    with pytest.raises(ValueError, match="'project'.*'authors'"):
        VAMetrics(compat="paper")
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        va_metrics(p[:, 0], y[:, 0])
    with pytest.raises(ValueError, match="differ in shape"):
        va_metrics(p[:5], y)
