"""ferlib.evaluation.errors, reporting.runs and runs.collect: bootstrap intervals, errors per group
and per VA cell, tables of runs."""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ferlib.evaluation.errors import (
    PAIRED_COLUMNS,
    bootstrap_ci,
    paired_bootstrap,
    per_group_error,
    va_error_grid,
)
from ferlib.evaluation.metrics import METRIC_KEYS, va_metrics, va_scores
from ferlib.reporting.runs import RUN_COLUMNS, results_markdown, summarize_runs
from ferlib.runs.collect import collect_runs


def noisy(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(preds, targets): labels uniform on [-1, 1]², predictions a noisy shrunk copy."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(-1, 1, (n, 2))
    p = 0.6 * y + 0.3 * rng.normal(size=(n, 2)) + 0.05
    return p, y


# --------------------------------------------------------------------------------------------
# bootstrap


def _stacked_scores(p, y):
    return va_scores(torch.as_tensor(p), torch.as_tensor(y))


def test_stacked_scores_equal_va_metrics():
    p, y = noisy(257, seed=1)
    reference = va_metrics(p, y)
    vector = _stacked_scores(p, y)
    for key in (*METRIC_KEYS, "ccc_mean"):
        assert float(vector[key]) == pytest.approx(reference[key], rel=1e-12, abs=1e-12), key
    # a stack of two samples scores each one separately
    stack = _stacked_scores(np.stack([p, y]), np.stack([y, y]))
    assert stack["ccc_v"][0] == pytest.approx(reference["ccc_v"], rel=1e-12)
    assert stack["ccc_v"][1] == pytest.approx(1.0, abs=1e-12)


def test_stacked_scores_nan_like_va_metrics():
    y = np.array([[0.1, 0.5], [0.1, -0.5], [0.1, 0.2]])  # constant valence labels
    p = np.array([[0.3, 0.4], [0.2, -0.1], [0.0, 0.2]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        reference = va_metrics(p, y)
    vector = _stacked_scores(p, y)
    assert math.isnan(reference["pcc_v"]) and math.isnan(float(vector["pcc_v"]))
    for key in METRIC_KEYS:
        if not math.isnan(reference[key]):
            assert float(vector[key]) == pytest.approx(reference[key], rel=1e-12), key


def test_bootstrap_value_is_va_metrics_and_ci_contains_it():
    p, y = noisy(300)
    table = bootstrap_ci(p, y, n_boot=500, seed=3)
    reference = va_metrics(p, y)
    assert list(table.index) == list(METRIC_KEYS)
    assert list(table.columns) == ["value", "low", "high", "nan_resamples"]
    for key in METRIC_KEYS:
        row = table.loc[key]
        assert row["value"] == reference[key]
        assert row["low"] <= row["value"] <= row["high"], key
        assert row["low"] < row["high"], key
        assert row["nan_resamples"] == 0
    assert table.attrs["n"] == 300 and table.attrs["n_boot"] == 500


def test_bootstrap_accepts_tensors_and_extra_key():
    p, y = noisy(50)
    table = bootstrap_ci(torch.from_numpy(p), torch.from_numpy(y), n_boot=50, keys=["ccc_mean"])
    assert list(table.index) == ["ccc_mean"]
    assert table.loc["ccc_mean", "value"] == pytest.approx(va_metrics(p, y)["ccc_mean"])
    with pytest.raises(ValueError, match="unknown metric"):
        bootstrap_ci(p, y, keys=["mse_v"])
    with pytest.raises(ValueError, match="shape"):
        bootstrap_ci(p[:-1], y)


def test_bootstrap_narrows_with_more_data():
    small = bootstrap_ci(*noisy(100, seed=5), n_boot=400)
    large = bootstrap_ci(*noisy(2000, seed=5), n_boot=400)
    width_small = small["high"] - small["low"]
    width_large = large["high"] - large["low"]
    for key in ("ccc_v", "ccc_a", "rmse_v", "pcc_a", "sagr_v"):
        assert width_large[key] < 0.6 * width_small[key], key


def test_bootstrap_deterministic_per_seed():
    p, y = noisy(120)
    a = bootstrap_ci(p, y, n_boot=200, seed=7)
    b = bootstrap_ci(p, y, n_boot=200, seed=7)
    c = bootstrap_ci(p, y, n_boot=200, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["low"], c["low"])


def test_bootstrap_wider_level_gives_wider_interval():
    p, y = noisy(150)
    narrow = bootstrap_ci(p, y, n_boot=300, level=0.5)
    wide = bootstrap_ci(p, y, n_boot=300, level=0.99)
    assert (wide["low"] <= narrow["low"]).all() and (wide["high"] >= narrow["high"]).all()


def test_bootstrap_perfect_predictions():
    _, y = noisy(80)
    table = bootstrap_ci(y, y, n_boot=200)
    for key in ("ccc_v", "ccc_a", "pcc_v", "pcc_a", "sagr_v", "sagr_a"):
        assert table.loc[key, "low"] == pytest.approx(1.0, abs=1e-12)
        assert table.loc[key, "high"] == pytest.approx(1.0, abs=1e-12)
    assert table.loc["rmse_v", "high"] == 0.0


def test_bootstrap_counts_nan_resamples():
    # 3 rows, two of them equal: some resamples hold one distinct label only, so PCC is NaN
    y = np.array([[0.2, 0.2], [0.2, 0.2], [0.8, -0.4]])
    p = np.array([[0.1, 0.3], [0.3, 0.1], [0.7, -0.2]])
    table = bootstrap_ci(p, y, n_boot=300, seed=0)
    nan_count = table.loc["pcc_v", "nan_resamples"]
    # P(all three draws from the two equal rows) + P(all three the last row) = 8/27 + 1/27
    assert 0 < nan_count < 300
    assert nan_count == pytest.approx(300 / 3, abs=30)
    assert table.loc["rmse_v", "nan_resamples"] == 0
    assert np.isfinite(table.loc["pcc_v", ["low", "high"]].to_numpy(dtype=float)).all()


def test_bootstrap_is_fast():
    p, y = noisy(300)
    start = time.perf_counter()
    bootstrap_ci(p, y, n_boot=1000)
    assert time.perf_counter() - start < 2.0


def test_paired_bootstrap_of_identical_predictions_is_a_zero_difference():
    p, y = noisy(200, seed=2)
    table = paired_bootstrap({"caf": p.copy(), "baseline": p}, y, n_boot=200)
    assert list(table.index) == ["baseline", "caf"]  # the reference first
    assert list(table.columns) == list(PAIRED_COLUMNS)
    assert (table[["diff", "diff_low", "diff_high"]].to_numpy() == 0).all()  # degenerate interval
    assert table.loc["caf", "value"] == table.loc["baseline", "value"]
    assert table.loc["caf", "low"] < table.loc["caf", "value"] < table.loc["caf", "high"]


def test_paired_bootstrap_values_are_the_scores_of_all_images_averaged_over_seeds():
    p, y = noisy(150, seed=3)
    q = p + np.random.default_rng(4).normal(0, 0.05, p.shape)
    table = paired_bootstrap({"baseline": [p, q], "other": torch.as_tensor(q)}, y, n_boot=50)
    mean_ccc = (va_metrics(p, y)["ccc_mean"] + va_metrics(q, y)["ccc_mean"]) / 2
    assert table.loc["baseline", "value"] == pytest.approx(mean_ccc)
    assert table.loc["baseline", "seeds"] == 2 and table.loc["other", "seeds"] == 1
    assert table.loc["other", "diff"] == pytest.approx(va_metrics(q, y)["ccc_mean"] - mean_ccc)
    rmse = paired_bootstrap({"baseline": p, "q": q}, y, key="rmse_v", n_boot=50)
    assert rmse.loc["q", "value"] == pytest.approx(va_metrics(q, y)["rmse_v"])


def test_paired_bootstrap_gives_a_known_shift_its_sign_and_a_narrow_interval():
    p, y = noisy(300, seed=5)
    biased = p + 0.3  # the same predictions, shifted: CCC can only fall
    table = paired_bootstrap({"baseline": p, "shifted": biased}, y, n_boot=300)
    row = table.loc["shifted"]
    assert row["diff"] < 0 and row["diff_low"] <= row["diff"] <= row["diff_high"] < 0
    reverse = paired_bootstrap({"baseline": biased, "better": p}, y, n_boot=300)
    assert reverse.loc["better", "diff_low"] > 0
    # pairing: the difference is far surer than the two scores' own intervals overlap suggests
    paired_width = row["diff_high"] - row["diff_low"]
    assert paired_width < 0.5 * (table.loc["baseline", "high"] - table.loc["baseline", "low"])
    assert table.attrs["reference"] == "baseline" and table.attrs["n"] == 300


def test_seed_resampling_widens_a_difference_one_lucky_seed_carries():
    """Two good seeds and one poor one: resampling images alone calls the method below the
    Baseline; drawing seeds too (the two-level bootstrap) says the seeds cannot tell."""
    p, y = noisy(300, seed=7)
    rng = np.random.default_rng(8)
    base = [y + rng.normal(0, 0.3, y.shape) for _ in range(3)]
    mixed = [y + rng.normal(0, s, y.shape) for s in (0.25, 0.25, 0.45)]
    images = paired_bootstrap({"baseline": base, "m": mixed}, y, n_boot=400)
    both = paired_bootstrap({"baseline": base, "m": mixed}, y, n_boot=400, resample_seeds=True)
    assert images.loc["m", "diff_high"] < 0 < both.loc["m", "diff_high"]
    assert both.loc["m", "diff_low"] < images.loc["m", "diff_low"]
    assert both.loc["m", "diff"] == images.loc["m", "diff"]  # the same point estimate
    assert both.attrs["resampled"] == "seeds and images" and images.attrs["resampled"] == "images"


def test_seed_resampling_changes_nothing_when_every_seed_is_the_same_model():
    p, y = noisy(200, seed=9)
    runs = {"baseline": [p, p, p], "shifted": [p + 0.2] * 3}
    images = paired_bootstrap(runs, y, n_boot=200)
    both = paired_bootstrap(runs, y, n_boot=200, resample_seeds=True)
    cols = ["value", "low", "high", "diff", "diff_low", "diff_high"]
    np.testing.assert_allclose(both[cols].to_numpy(), images[cols].to_numpy(), rtol=1e-6)


def test_paired_bootstrap_is_deterministic_and_checks_its_input():
    p, y = noisy(80, seed=6)
    runs = {"baseline": p, "other": p + 0.1}
    pd.testing.assert_frame_equal(
        paired_bootstrap(runs, y, n_boot=40, seed=1), paired_bootstrap(runs, y, n_boot=40, seed=1)
    )
    with pytest.raises(ValueError, match="reference 'elim' is not among"):
        paired_bootstrap(runs, y, reference="elim")
    with pytest.raises(ValueError, match="predictions of 'other'"):
        paired_bootstrap({"baseline": p, "other": p[:10]}, y)
    with pytest.raises(ValueError, match="unknown metric key"):
        paired_bootstrap(runs, y, key="mae_v")


# --------------------------------------------------------------------------------------------
# per-group errors


def hand_frame() -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.DataFrame(
        {
            "valence": [0.5, 0.1, -0.5, -0.2, 0.0, 0.3],
            "arousal": [0.2, 0.0, 0.4, -0.6, 0.1, 0.3],
            "expression": pd.array([1, 1, 6, 0, pd.NA, 6], dtype="Int64"),
            "prompted": ["happy", "happy", "angry", "neutral", "sad", None],
            "identity": ["id10", "id2", "id2", None, "id10", "id2"],
        },
        index=[10, 11, 12, 13, 14, 15],  # not a RangeIndex: rows are matched by position
    )
    preds = np.array(
        [[0.7, 0.2], [0.0, 0.3], [-0.1, 0.4], [0.0, -0.2], [0.2, 0.1], [0.3, 0.0]], dtype=float
    )
    return frame, preds


def test_per_group_error_by_expression_by_hand():
    frame, preds = hand_frame()
    table = per_group_error(frame, preds, "expression")
    assert table.index.name == "expression"
    assert list(table.index) == ["neutral", "happy", "angry"]  # EMOTIONS order; NA row dropped
    assert list(table.columns) == ["n", "mae_v", "mae_a", "rmse_v", "rmse_a", "bias_v", "bias_a"]
    happy = table.loc["happy"]  # valence errors +0.2, -0.1; arousal errors 0, +0.3
    assert happy["n"] == 2
    assert happy["mae_v"] == pytest.approx(0.15)
    assert happy["mae_a"] == pytest.approx(0.15)
    assert happy["rmse_v"] == pytest.approx(math.sqrt((0.04 + 0.01) / 2))
    assert happy["rmse_a"] == pytest.approx(math.sqrt(0.09 / 2))
    assert happy["bias_v"] == pytest.approx(0.05)
    assert happy["bias_a"] == pytest.approx(0.15)
    angry = table.loc["angry"]  # valence errors +0.4, 0; arousal errors 0, -0.3
    assert angry["mae_v"] == pytest.approx(0.2) and angry["bias_a"] == pytest.approx(-0.15)
    neutral = table.loc["neutral"]  # one row: errors +0.2, +0.4
    assert neutral["n"] == 1 and neutral["rmse_a"] == pytest.approx(0.4)
    assert table["n"].sum() == 5


def test_per_group_error_by_identity_and_prompted():
    frame, preds = hand_frame()
    ident = per_group_error(frame, preds, "identity")
    assert list(ident.index) == ["id2", "id10"]  # natural order; None dropped
    assert ident.loc["id10", "n"] == 2 and ident.loc["id2", "n"] == 3
    # id10: valence errors +0.2, +0.2; arousal errors 0, 0
    assert ident.loc["id10", "bias_v"] == pytest.approx(0.2)
    assert ident.loc["id10", "mae_a"] == pytest.approx(0.0)
    prompted = per_group_error(frame, preds, "prompted")
    assert list(prompted.index) == ["neutral", "happy", "sad", "angry"]
    assert prompted["n"].sum() == 5
    with pytest.raises(ValueError, match="no column"):
        per_group_error(frame, preds, "colour")
    with pytest.raises(ValueError, match="rows"):
        per_group_error(frame, preds[:-1], "identity")


# --------------------------------------------------------------------------------------------
# error grid


def test_va_error_grid_hand_case():
    targets = np.array([[-0.9, -0.9], [-0.8, -0.6], [0.5, 0.5], [1.0, 1.0]])
    preds = np.array([[-0.9, -0.9], [-0.5, -0.2], [0.5, 0.0], [1.0, 1.0]])
    grid, counts, edges = va_error_grid(targets, preds, bins=2)
    np.testing.assert_allclose(edges, [-1, 0, 1])
    np.testing.assert_array_equal(counts, [[2, 0], [0, 2]])
    assert grid[0, 0] == pytest.approx((0 + 0.5) / 2)  # errors 0 and sqrt(0.3² + 0.4²) = 0.5
    assert grid[1, 1] == pytest.approx(0.25)  # errors 0.5 and 0 (1.0 falls in the last bin)
    assert np.isnan(grid[0, 1]) and np.isnan(grid[1, 0])


def test_va_error_grid_orientation_and_total():
    targets = np.array([[0.9, -0.9]])  # high valence, low arousal
    grid, counts, _ = va_error_grid(targets, targets + 0.1, bins=4)
    assert counts[3, 0] == 1 and counts.sum() == 1
    p, y = noisy(333)
    grid, counts, edges = va_error_grid(y, p, bins=8)
    assert grid.shape == counts.shape == (8, 8) and edges.shape == (9,)
    assert counts.sum() == 333
    assert np.isnan(grid[counts == 0]).all() and np.isfinite(grid[counts > 0]).all()
    mean_error = np.sqrt(((p - y) ** 2).sum(1)).mean()
    assert np.nansum(grid * counts) / counts.sum() == pytest.approx(mean_error)


# --------------------------------------------------------------------------------------------
# runs


def write_run(root: Path, dataset: str, method: str, seed: int, ccc_v: float, **extra) -> None:
    config = {
        "dataset": dataset,
        "method": method,
        "backbone": extra.pop("backbone", "small_cnn"),
        "image_size": 64,
        "seed": seed,
        "epochs": 3,
        "batch_size": 32,
        "lr": 1e-3,
        "identity_bias": 1.0,
    }
    metrics = {k: 0.5 for k in METRIC_KEYS}
    metrics.update(ccc_v=ccc_v, ccc_a=ccc_v / 2, ccc_mean=0.75 * ccc_v, n=40)
    metrics.update(best_epoch=2, epochs_run=3, train_seconds=10.0 * (seed + 1), images_per_s=99.0)
    metrics.update(device="cpu", world_size=1, zero_label_share={"z_v": 0, "z_a": 0, "n": 40})
    metrics.update(config=config, **extra)
    folder = root / dataset / method / "abc123" / f"seed{seed}"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "history.csv").write_text("epoch,train_loss\n1,0.5\n")


def write_baseline_run(root: Path, name: str, ccc_v: float, **config_extra) -> None:
    """A minimal SyntheticFER Baseline run, seed 0, in run folder ``name``: the config keys that
    group runs, plus ``config_extra``."""
    run = root / "synthetic" / "baseline" / name / "seed0"
    run.mkdir(parents=True)
    config = {
        "dataset": "synthetic",
        "method": "baseline",
        "backbone": "small_cnn",
        "image_size": 64,
        "identity_bias": 1.0,
        "seed": 0,
        **config_extra,
    }
    metrics = {"ccc_v": ccc_v, "ccc_a": 0.5, "config": config}
    (run / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for seed, value in enumerate((0.60, 0.70, 0.80)):
        write_run(root, "synthfer", "supervised", seed, value)
    for seed, value in enumerate((0.30, 0.50, 0.40)):
        write_run(root, "synthfer", "afm", seed, value)
    write_run(root, "diffusionfer", "supervised", 0, 0.25, backbone="resnet18")
    return root


def test_collect_runs(runs_root: Path):
    runs = collect_runs(runs_root)
    assert list(runs.columns) == list(RUN_COLUMNS)
    assert len(runs) == 7
    assert set(runs["run"]) >= {"synthfer/afm/abc123/seed0", "diffusionfer/supervised/abc123/seed0"}
    row = runs[runs["run"] == "synthfer/supervised/abc123/seed2"].iloc[0]
    assert row["ccc_v"] == 0.80 and row["ccc_a"] == 0.40 and row["seed"] == 2
    assert row["train_seconds"] == 30.0 and row["device"] == "cpu" and row["epochs"] == 3


def test_collect_runs_missing_or_empty(tmp_path: Path):
    for root in (tmp_path / "nowhere", tmp_path):
        runs = collect_runs(root)
        assert runs.empty and list(runs.columns) == list(RUN_COLUMNS)
    assert summarize_runs(collect_runs(tmp_path)).empty
    assert results_markdown(summarize_runs(collect_runs(tmp_path))).count("\n") == 2


def test_collect_runs_skips_broken_file(runs_root: Path):
    broken = runs_root / "synthfer" / "afm" / "zzz" / "seed9"
    broken.mkdir(parents=True)
    (broken / "metrics.json").write_text("{not json")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        runs = collect_runs(runs_root)
    assert len(runs) == 7


def test_summarize_runs_by_hand(runs_root: Path):
    summary = summarize_runs(collect_runs(runs_root))
    assert len(summary) == 3
    sup = summary[(summary["dataset"] == "synthfer") & (summary["method"] == "supervised")].iloc[0]
    assert sup["n_seeds"] == 3
    assert sup["ccc_v_mean"] == pytest.approx(0.70)
    assert sup["ccc_v_std"] == pytest.approx(0.10)  # sample std of 0.6, 0.7, 0.8
    assert sup["ccc_a_std"] == pytest.approx(0.05)
    assert sup["rmse_v_std"] == pytest.approx(0.0)
    assert sup["train_seconds"] == pytest.approx(20.0) and sup["images_per_s"] == 99.0
    afm = summary[summary["method"] == "afm"].iloc[0]
    assert afm["ccc_v_mean"] == pytest.approx(0.40)
    assert afm["ccc_v_std"] == pytest.approx(0.10)
    assert afm["ccc_mean_mean"] == pytest.approx(0.30)
    single = summary[summary["dataset"] == "diffusionfer"].iloc[0]
    assert single["n_seeds"] == 1 and single["backbone"] == "resnet18"
    assert single["ccc_v_mean"] == pytest.approx(0.25) and math.isnan(single["ccc_v_std"])


def test_results_markdown(runs_root: Path):
    text = results_markdown(summarize_runs(collect_runs(runs_root)))
    lines = text.strip().split("\n")
    assert lines[0].startswith("| method | dataset | backbone | seeds | ccc_v | ccc_a |")
    assert lines[0].endswith("| train s | img/s |")
    assert len(lines) == 5
    # rows by dataset, then method
    assert lines[2].startswith("| supervised | diffusionfer | resnet18 | 1 | 0.250 | 0.125 |")
    assert lines[3].startswith("| afm | synthfer | small_cnn | 3 | 0.400 ± 0.100 | 0.200 ± 0.050 |")
    assert lines[4].startswith("| supervised | synthfer | small_cnn | 3 | 0.700 ± 0.100 |")
    assert lines[4].endswith("| 20.0 | 99 |")
    assert "±" not in lines[2]
    assert "0.500 ± 0.000" in lines[3]  # rmse_v equal over seeds
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    assert results_markdown(summarize_runs(collect_runs(runs_root))) == text  # deterministic


def test_results_markdown_shows_varying_config(runs_root: Path):
    summary = summarize_runs(collect_runs(runs_root))
    summary.loc[summary["method"] == "afm", "image_size"] = 128
    text = results_markdown(summary, metrics=("ccc_mean",))
    assert text.split("\n")[0] == (
        "| method | dataset | backbone | image_size | seeds | ccc_mean | train s | img/s |"
    )


def test_stopping_table_reports_what_an_earlier_stop_loses(tmp_path):
    from ferlib.runs.collect import stopping_summary

    run = tmp_path / "synthetic" / "baseline" / "abc" / "seed0"
    run.mkdir(parents=True)
    curve = [0.1, 0.5, 0.4, 0.7, 0.6]
    pd.DataFrame({"epoch": range(1, 6), "val_ccc_mean": curve}).to_csv(
        run / "history.csv", index=False
    )
    table = stopping_summary(tmp_path, epochs=(2, 4))
    row = table.iloc[0]
    assert row["run"] == "synthetic/baseline/abc/seed0" and row["best epoch"] == 4
    assert row["lost at 2"] == pytest.approx(0.2) and row["lost at 4"] == pytest.approx(0.0)


def test_stopping_table_skips_unreadable_histories_with_a_warning(tmp_path):
    from ferlib.runs.collect import stopping_summary

    good = tmp_path / "a" / "seed0"
    good.mkdir(parents=True)
    pd.DataFrame({"epoch": [1, 2], "val_ccc_mean": [0.1, 0.2]}).to_csv(
        good / "history.csv", index=False
    )
    broken = tmp_path / "b" / "seed0"
    broken.mkdir(parents=True)
    (broken / "history.csv").write_text("epoch,train_loss\n1,0.5\n")
    with pytest.warns(RuntimeWarning, match="no validation curve"):
        table = stopping_summary(tmp_path, epochs=(1,))
    assert list(table["run"]) == ["a/seed0"]


def test_augmented_and_plain_runs_are_never_averaged_together(tmp_path: Path):
    from ferlib.reporting.runs import augmentation_label

    assert augmentation_label({"aug_rotate": 0.0, "lr": 0.1}) == "none"
    assert augmentation_label({"aug_rotate": 15, "aug_greyscale_p": 0.3}) == (
        "greyscale_p=0.3, rotate=15"
    )
    for name, aug in (("plain", 0.0), ("grey", 0.3)):
        write_baseline_run(tmp_path, name, 0.5 + aug, aug_greyscale_p=aug)
    summary = summarize_runs(collect_runs(tmp_path))
    assert sorted(summary["augmentation"]) == ["greyscale_p=0.3", "none"]
    assert list(summary["n_seeds"]) == [1, 1]
    assert "| augmentation |" in results_markdown(summary).splitlines()[0]


def test_tables_put_the_baseline_first_then_the_registry_order(tmp_path: Path):
    from ferlib.methods import METHODS
    from ferlib.reporting.runs import METHOD_ORDER

    assert tuple(METHOD_ORDER) == tuple(METHODS)
    for method in ("elim", "avce", "baseline", "caf", "zzz"):
        write_run(tmp_path, "synthetic", method, 0, 0.5)
    summary = summarize_runs(collect_runs(tmp_path))
    expected = ["baseline", "caf", "avce", "elim", "zzz"]
    assert list(summary["method"]) == expected
    body = results_markdown(summary).splitlines()[2:]
    assert [line.split(" | ")[0].strip("| ") for line in body] == expected


def test_prediction_slope_and_label_bands_show_regression_to_the_mean():
    from ferlib.evaluation.errors import error_by_label_band, prediction_slope

    y = np.array([[-0.8, -0.6], [-0.3, 0.0], [0.0, 0.3], [0.3, 0.6], [0.8, 0.9]])
    p = 0.5 * y  # every prediction pulled halfway to 0
    slope = prediction_slope(p, y)
    np.testing.assert_allclose(slope["slope"], [0.5, 0.5])
    np.testing.assert_allclose(slope["std_ratio"], [0.5, 0.5])
    np.testing.assert_allclose(slope["pcc"], [1.0, 1.0])
    bands = error_by_label_band(p, y, edges=(-1.0, -0.5, 0.5, 1.0))
    valence = bands.loc["valence"]
    assert list(valence.index) == ["[-1.0, -0.5)", "[-0.5, +0.5)", "[+0.5, +1.0]"]
    assert list(valence["n"]) == [1, 3, 1]
    np.testing.assert_allclose(valence["bias"], [0.4, 0.0, -0.4])
    np.testing.assert_allclose(valence["mae"], [0.4, 0.1, 0.4])
    arousal = bands.loc["arousal"]
    assert list(arousal["n"]) == [1, 2, 2]
    np.testing.assert_allclose(arousal["prediction"], [-0.3, 0.075, 0.375])
    only_positive = error_by_label_band(p[2:], y[2:], edges=(-1.0, -0.5, 0.5, 1.0))
    assert list(only_positive.loc["valence"].index) == ["[-0.5, +0.5)", "[+0.5, +1.0]"]
    with pytest.raises(ValueError):
        error_by_label_band(p, y, edges=(0.5, 0.0))


def test_recipes_and_sizes_are_their_own_groups_and_a_seed_counts_once(tmp_path: Path):
    from ferlib.reporting.runs import recipe_label

    assert recipe_label({"method": "caf", "seed": 3, "lr": 1e-3, "device": "cpu"}) == "defaults"
    assert recipe_label({"lr": 0.002, "caf_adv_weight": 0.03, "aug_rotate": 15}) == (
        "caf_adv_weight=0.03, lr=0.002"
    )
    for name, extra in (("a", {}), ("b", {}), ("c", {"dropout": 0.25}), ("d", {"identities": 10})):
        write_baseline_run(
            tmp_path, name, 0.5 + 0.1 * "abcd".index(name), **{"identities": 60, **extra}
        )
    summary = summarize_runs(collect_runs(tmp_path)).set_index(["recipe", "identities"])
    # a and b: the same configuration and seed twice (one seed, the first in run order)
    assert summary.loc[("defaults", 60), "n_seeds"] == 1
    assert summary.loc[("defaults", 60), "ccc_v_mean"] == pytest.approx(0.5)
    assert summary.loc[("dropout=0.25", 60), "ccc_v_mean"] == pytest.approx(0.7)
    assert summary.loc[("defaults", 10), "ccc_v_mean"] == pytest.approx(0.8)
    header = results_markdown(summary.reset_index()).splitlines()[0]
    assert "| identities |" in header and "| recipe |" in header


def test_select_runs_reads_numbers_as_numbers_and_names_unknown_columns(runs_root: Path):
    from ferlib.reporting.runs import select_runs

    runs = collect_runs(runs_root)
    assert len(select_runs(runs, ["dataset=synthfer", "method=afm"])) == 3
    assert len(select_runs(runs, ["image_size=64.0", "seed=2"])) == 2
    assert len(select_runs(runs, ["identity_bias="])) == 7  # a SyntheticFER setting: none here
    assert len(select_runs(runs, ["recipe=defaults"])) == 0  # lr=0.001 is the default, the rest not
    assert len(select_runs(runs, ["recipe=batch_size=32, epochs=3"])) == 7
    with pytest.raises(ValueError, match="KEY one of dataset"):
        select_runs(runs, ["size=3"])


def test_recipe_runs_keep_each_method_s_own_recipe(tmp_path: Path):
    import yaml

    from ferlib.reporting.runs import recipe_runs

    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump({"recipes": {"caf": {"caf_adv_weight": 0.03}}}))
    for method, name, extra in (
        ("baseline", "plain", {}),
        ("baseline", "tuned", {"dropout": 0.25}),
        ("caf", "plain", {}),
        ("caf", "tuned", {"caf_adv_weight": 0.03}),
    ):
        run = tmp_path / "runs" / "synthetic" / method / name / "seed0"
        run.mkdir(parents=True)
        config = {"dataset": "synthetic", "method": method, "seed": 0, **extra}
        (run / "metrics.json").write_text(json.dumps({"ccc_v": 0.5, "config": config}))
    kept = recipe_runs(collect_runs(tmp_path / "runs"), str(profile))
    assert sorted(kept["run"]) == ["synthetic/baseline/plain/seed0", "synthetic/caf/tuned/seed0"]
