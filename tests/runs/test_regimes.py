"""Sweeps of where each method pays (ferlib/runs/sweep.py, ferlib/reporting/regimes.py,
ferlib/figures/regimes.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferlib.data import cache_images, load_dataset, make_loader
from ferlib.evaluation.leakage import identity_probe
from ferlib.evaluation.metrics import va_metrics
from ferlib.evaluation.outputs import model_outputs, trunk_features
from ferlib.params import ParameterError, defaults
from ferlib.reporting.regimes import COLUMNS, regime_lines, regime_summary, verdict
from ferlib.runs.sweep import (
    AXES,
    point_config,
    resting_offsets,
    resting_slope,
    resting_table,
    score_point,
    sweep_configs,
    sweep_table,
    train_people,
)
from ferlib.synthetic import SynthConfig, generate
from ferlib.training.checkpoint import load_model


def test_points_set_the_axis_and_the_method_s_own_recipe():
    config, note = point_config("quick", "caf", 1, "identities", 20.0)
    assert config["identities"] == 20 and isinstance(config["identities"], int)
    assert config["method"] == "caf" and config["seed"] == 1 and note == ""
    config, _ = point_config("quick", "baseline", 0, "identity_bias", 1.5)
    assert config["identity_bias"] == 1.5
    with pytest.raises(ParameterError, match="unknown sweep axis"):
        point_config("quick", "caf", 0, "per_class", 10)


def test_elim_draws_no_more_people_than_training_holds():
    config, note = point_config("quick", "elim", 0, "identities", 10)
    assert train_people(config) == 6
    assert config["elim_p"] == 4 and config["batch_size"] % 4 == 0
    assert note == "elim_p 8 -> 4 (6 training people)"
    assert point_config("quick", "elim", 0, "identities", 20)[0]["elim_p"] == 8


def test_sweep_configs_run_value_by_value():
    configs = sweep_configs("quick", "identity_bias", [0.0, 2.0], ["baseline", "caf"], [0, 1])
    assert [c["identity_bias"] for c in configs] == [0.0] * 4 + [2.0] * 4
    assert [(c["method"], c["seed"]) for c in configs[:4]] == [
        ("baseline", 0),
        ("baseline", 1),
        ("caf", 0),
        ("caf", 1),
    ]


@pytest.mark.parametrize(
    ("low", "high", "word"),
    [(0.01, 0.05, "beats"), (-0.05, -0.01, "below"), (-0.01, 0.02, "on par")],
)
def test_verdict_reads_the_paired_interval(low, high, word):
    assert verdict({"diff_low": low, "diff_high": high}) == word


@pytest.fixture(scope="module")
def point(tmp_path_factory):
    """Two Baseline seeds and one CAF run, one epoch each, on 12 people (2 unseen in test)."""
    from ferlib.training.trainer import train

    root = tmp_path_factory.mktemp("point")
    generate(root / "data", SynthConfig(seed=5, identities=12, per_class=8, size=64), workers=1)
    data = cache_images(load_dataset("synthetic", root / "data"), 64, cache_dir=root / "cache")
    runs = {}
    for method, seed in (("baseline", 0), ("baseline", 1), ("caf", 0)):
        config = {
            **defaults(),
            "dataset": "synthetic",
            "data_dir": str(root / "data"),
            "method": method,
            "seed": seed,
            "epochs": 1,
            "batch_size": 16,
            "milestones": [],
            "device": "cpu",
        }
        train(config, root / f"{method}{seed}", data=data, progress=False)
        runs.setdefault(method, []).append(root / f"{method}{seed}")
    return runs, data


def test_train_people_counts_the_generated_split(point):
    frame = point[1].frame
    people = frame.loc[frame["split"] == "train", "identity"].nunique()
    assert train_people({"identities": 12, "data_seed": 5}) == people == 8


def test_a_point_is_scored_on_the_unseen_test_people(point):
    runs, data = point
    test_people = list(data.subset("test").frame["identity"].astype(str))
    offsets = resting_offsets(test_people, {"identity_bias": 1.0, "data_seed": 5})
    table = score_point(runs, data, 64, n_boot=200, offsets=offsets).set_index("method")
    test = data.subset("test")
    loader = make_loader(test, 64, 256, train=False)
    import torch

    cpu = torch.device("cpu")
    people = list(test.frame["identity"].astype(str))
    for method, folders in runs.items():
        scores, probes, predictions = [], [], []
        for folder in folders:
            model, _ = load_model(folder / "checkpoint.pt")
            preds, _, targets = model_outputs(model, loader, cpu)
            scores.append(va_metrics(preds, targets))
            predictions.append(preds.numpy())
            probes.append(
                identity_probe(trunk_features(model, loader, cpu), people)["probe_accuracy"]
            )
        row = table.loc[method]
        assert row["seeds"] == len(folders)
        assert row["ccc_mean"] == pytest.approx(np.mean([s["ccc_mean"] for s in scores]))
        assert row["ccc_v"] == pytest.approx(np.mean([s["ccc_v"] for s in scores]))
        assert row["probe_h"] == pytest.approx(np.mean(probes))
        slopes = [resting_slope(p, targets.numpy(), offsets) for p in predictions]
        assert row["resting_slope"] == pytest.approx(np.mean(slopes))
    assert table.loc["baseline", "diff"] == 0 and table.loc["baseline", "diff_low"] == 0
    assert table.loc["caf", "diff"] == pytest.approx(
        table.loc["caf", "ccc_mean"] - table.loc["baseline", "ccc_mean"]
    )
    assert table.loc["caf", "diff_low"] <= table.loc["caf", "diff"] <= table.loc["caf", "diff_high"]
    assert table["test_people"].eq(test.frame["identity"].nunique()).all()
    assert table["chance"].eq(1 / table["test_people"]).all()
    assert table["test_images"].eq(len(test.frame)).all()
    with pytest.raises(ValueError, match="needs the Baseline"):
        score_point({"caf": runs["caf"]}, data, 64)


def test_resting_slope_is_the_share_of_the_offset_that_reaches_the_valence():
    rng = np.random.default_rng(0)
    offsets = rng.uniform(-0.35, 0.35, 200)
    labels = rng.uniform(-1, 1, (200, 2))
    preds = labels.copy()
    preds[:, 0] += 0.6 * offsets + 0.1  # 60 % of each resting face, plus a constant
    assert resting_slope(preds, labels, offsets) == pytest.approx(0.6)
    assert resting_slope(labels, labels, offsets) == pytest.approx(0.0)
    assert np.isnan(resting_slope(preds, labels, np.zeros(200)))


def test_resting_offsets_are_the_people_s_drawn_mouths_times_the_bias():
    from ferlib.synthetic.identity import sample_identity

    config = {"identity_bias": 1.5, "data_seed": 4}
    got = resting_offsets(["id003", "id010", "id003"], config)
    expected = [1.5 * sample_identity(i, 4).mouth_bias for i in (3, 10, 3)]
    assert got.tolist() == pytest.approx(expected)
    assert not resting_offsets(["id003"], {"identity_bias": 0.0, "data_seed": 4}).any()


def test_the_resting_table_puts_each_person_s_error_beside_their_resting_mouth():
    frame = pd.DataFrame(
        {"identity": ["id003", "id010", "id003"], "valence": [0.0, 0.5, 0.2], "arousal": 0.0}
    )
    preds = np.array([[0.1, 0.0], [0.3, 0.0], [0.4, 0.0]])
    config = {"identity_bias": 1.5, "data_seed": 4}
    table = resting_table(frame, preds, config)
    assert list(table.index) == ["id003", "id010"]
    assert table["bias_v"].tolist() == pytest.approx([0.15, -0.2])
    assert table["resting_valence"].tolist() == pytest.approx(
        resting_offsets(["id003", "id010"], config).tolist()
    )


def test_a_missing_run_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="baseline seed 0 at identity_bias=0.5"):
        sweep_table("quick", "identity_bias", [0.5], ["baseline"], [0], lambda c: tmp_path)


def sweep_frame() -> pd.DataFrame:
    rows = []
    for value in AXES["identities"]:
        for i, method in enumerate(("baseline", "caf", "elim")):
            diff = 0.0 if method == "baseline" else 0.01 * i - 0.005
            half = 0.004 if method == "elim" else 0.01
            rows.append(
                {
                    "axis": "identities",
                    "value": value,
                    "method": method,
                    "seeds": 2,
                    "ccc_mean": 0.8 + diff,
                    "ccc_v": 0.7,
                    "ccc_a": 0.9,
                    "diff": diff,
                    "diff_low": diff - half if method != "baseline" else 0.0,
                    "diff_high": diff + half if method != "baseline" else 0.0,
                    "probe_h": 0.7 - 0.1 * i,
                    "probe_h_std": 0.01,
                    "probe_diff": -0.1 * i,
                    "probe_diff_low": -0.1 * i - 0.05 if method != "baseline" else 0.0,
                    "probe_diff_high": -0.1 * i + 0.05 if method != "baseline" else 0.0,
                    "resting_slope": 0.5,
                    "chance": 2 / value,
                    "test_people": value // 2,
                    "test_images": 100,
                    "note": "",
                }
            )
    return pd.DataFrame(rows)[list(COLUMNS)]


def test_regime_summary_gives_each_point_s_verdict_beside_the_baseline_s_probe():
    summary = regime_summary(sweep_frame(), "elim")
    assert len(summary) == len(AXES["identities"])
    assert set(summary["verdict"]) == {"beats"}  # +0.015 ± 0.004
    assert summary["probe on h"].iloc[0] == pytest.approx(0.5)
    assert summary["Baseline probe"].iloc[0] == pytest.approx(0.7)
    assert set(regime_summary(sweep_frame(), "caf")["verdict"]) == {"on par"}  # +0.005 ± 0.01
    with pytest.raises(ValueError, match="no rows"):
        regime_summary(sweep_frame(), "avce")


def test_regime_lines_say_where_and_how_by_value():
    table = sweep_frame()
    # CAF beats the Baseline only at 160 people there; its probe is lower everywhere
    caf = table["method"] == "caf"
    table.loc[caf & (table["value"] == 160), ["diff_low", "diff_high"]] = [0.001, 0.02]
    table.loc[caf & (table["value"] == 10), ["diff_low", "diff_high"]] = [-0.03, -0.001]
    lines = regime_lines(table, "caf")
    assert lines[0] == (
        "caf, identities: mean CCC above the Baseline (95 % interval over seeds and images above "
        "0) at "
        "identities = 160; not distinguishable from the Baseline (the interval spans 0) at "
        "identities = 20, 40, 60; below the Baseline (interval below 0) at identities = 10."
    )
    assert lines[1].endswith("at 10, 20, 40, 60, 160.")
    assert regime_lines(table, "baseline")[1].endswith("at no value.")


def test_the_sweep_figure_draws_each_method_and_chance():
    from ferlib.figures.regimes import sweep_figure

    fig = sweep_figure(sweep_frame())
    left, right = fig.axes[:2]
    assert len(left.containers) == 3  # one error bar series per method
    assert len(right.containers) == 3  # the probe too: mean ± std over seeds
    labels = [c.get_label() for c in right.containers] + [right.get_lines()[-1].get_label()]
    assert labels == ["baseline", "caf", "elim", "chance"]
    chance = right.get_lines()[-1].get_ydata()
    assert np.allclose(chance, [2 / v for v in AXES["identities"]])


@pytest.mark.slow
def test_the_sweep_command_writes_table_figure_and_markdown(tmp_path, monkeypatch):
    from ferlib.cli import main

    monkeypatch.setenv("FERZOO_OUTPUTS", str(tmp_path / "outputs"))
    code = main(
        [
            "sweep",
            "--params",
            "ci",
            "--axis",
            "identity_bias",
            "--values",
            "0",
            "1",
            "--methods",
            "baseline",
            "caf",
            "--seeds",
            "0",
            "--n-boot",
            "50",
            "--out",
            str(tmp_path / "r"),
            "--tag",
            "t",
            "--workers",
            "1",
        ]
    )
    assert code == 0
    table = pd.read_csv(tmp_path / "r" / "sweep_identity_bias_t.csv")
    assert list(table.columns) == list(COLUMNS)
    assert table[["value", "method"]].values.tolist() == [
        [0.0, "baseline"],
        [0.0, "caf"],
        [1.0, "baseline"],
        [1.0, "caf"],
    ]
    assert (tmp_path / "r" / "sweep_identity_bias_t.png").stat().st_size > 10_000
    assert "| caf |" in (tmp_path / "r" / "sweep_identity_bias_t.md").read_text()
