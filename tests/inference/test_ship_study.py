"""``ferlib ship-study``'s pieces on made-up predictions, and the card built from its table."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from ferlib.evaluation.metrics import va_scores
from ferlib.evaluation.shifts import SHIFTS
from ferlib.inference import ship_study as S
from ferlib.inference.peers import read_peers
from ferlib.inference.shipped import card_markdown, peers_match
from ferlib.models import Ensemble, build_model

EMOTIONS = ["happy", "sad", "angry", "neutral", "surprise", "fear"] * 5


def scored(candidate: S.Candidate, seeds: int, noise: float, seed: int = 0) -> S.Scored:
    """Predictions near the targets (the closer, the smaller ``noise``), worse under shifts."""
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(len(EMOTIONS), 2, generator=torch.Generator().manual_seed(99)) * 2 - 1
    preds = {}
    for i, name in enumerate(["clean", *SHIFTS]):
        spread = noise * (1 + 0.1 * i)
        preds[name] = torch.stack(
            [y + spread * torch.randn(y.shape, generator=g) for _ in range(seeds)]
        ).double()
    return S.Scored(candidate, preds, y.double(), EMOTIONS)


def test_scores_are_the_seed_mean_of_each_seeds_scores():
    s = scored(S.Candidate("x", "", (0, 1)), seeds=2, noise=0.2)
    row = S.scores(s)
    expected = sum(float(va_scores(p, s.targets)["ccc_mean"]) for p in s.preds["clean"]) / 2
    assert row["ccc_mean"] == pytest.approx(expected)
    assert row["worst_drop"] == max(row[f"drop_{name}"] for name in SHIFTS)
    assert row["worst_shift"] == "hflip"  # the last shift is the noisiest here
    assert 0.5 < row["valence_sign"] <= 1 and 0.5 < row["arousal_order"] <= 1


@pytest.mark.slow
def test_study_table_compares_each_candidate_with_its_versus_and_keeps_only_clear_gains():
    candidates = [
        scored(S.Candidate(S.REFERENCE, "ref", versus=""), 1, 0.3, seed=1),
        scored(S.Candidate("better", "much closer"), 1, 0.05, seed=2),
        scored(S.Candidate("same", "as noisy"), 1, 0.3, seed=3),
    ]
    table = S.study_table(candidates).set_index("candidate")
    assert table.loc[S.REFERENCE, "verdict"] == S.REFERENCE
    assert table.loc[S.REFERENCE, "diff"] == 0
    assert table.loc["better", "verdict"] == "kept (above)" and table.loc["better", "diff_low"] > 0
    assert table.loc["same", "verdict"].startswith("not kept")
    assert table.loc["better", "shifted"] == table.loc["same", "shifted"]  # the reference's worst


@pytest.mark.slow
def test_the_written_table_reads_back_into_the_same_markdown(tmp_path):
    candidates = [
        scored(S.Candidate(S.REFERENCE, "ref", versus=""), 1, 0.3, seed=1),
        scored(S.Candidate("seeds", "two seeds", (0, 1), ensemble=False), 2, 0.2, seed=2),
    ]
    table = S.study_table(candidates)
    back = S.read_study(S.write_study(table, tmp_path))
    assert back["versus"].tolist() == ["", S.REFERENCE]
    text = S.study_markdown(back)
    assert len(text.splitlines()) == 4 and "| reference | ref |" in text
    assert "(reference)" in text.splitlines()[3]


@pytest.mark.slow
def test_a_study_trains_what_it_needs_and_scores_on_validation(tiny_synth, tmp_path, monkeypatch):
    from ferlib.params import resolve_config

    monkeypatch.setenv("FERZOO_OUTPUTS", str(tmp_path))
    config = resolve_config("ci", {"data_dir": str(tiny_synth), "epochs": 1, "batch_size": 8})
    candidates = [S.CANDIDATES[0], S.Candidate("flip", "seed 0 mirrored too", hflip=True)]
    table = S.ship_study(config, candidates).set_index("candidate")
    assert list(table.index) == [S.REFERENCE, "flip"]
    assert table.loc["flip", "versus"] == S.REFERENCE and table.loc["flip", "hflip"]
    assert abs(table.loc["flip", "drop_hflip"]) < 1e-6  # a flipped face reads as the face
    assert len(list(tmp_path.rglob("metrics.json"))) == 1  # one run serves both


def test_study_configs_name_each_run_once():
    base = {"seed": 0, "aug_occlusion_p": 0.2, "epochs": 165, "width": 1}
    configs = S.study_configs(base, S.CANDIDATES)
    shipped = [c["seed"] for c in configs if c == {**base, "seed": c["seed"]}]
    assert sorted(shipped) == [0, 1, 2, 3, 4]
    assert len(configs) == len({tuple(sorted(c.items())) for c in configs})
    names = [c.name for c in S.CANDIDATES]
    assert all(not c.versus or names.index(c.versus) < names.index(c.name) for c in S.CANDIDATES)


def test_candidate_models_are_one_ensemble_or_one_model_per_seed():
    models = [build_model() for _ in range(3)]
    (one,) = S.candidate_models(S.Candidate("e", "", (0, 1, 2), hflip=True), models)
    assert isinstance(one, Ensemble) and len(one.members) == 3 and one.hflip
    each = S.candidate_models(S.Candidate("s", "", (0, 1, 2), ensemble=False), models)
    assert [len(m.members) for m in each] == [1, 1, 1]


FACTS = {
    "config": {
        "method": "baseline",
        "backbone": "small_cnn",
        "image_size": 64,
        "epochs": 165,
        "batch_size": 64,
        "lr": 0.001,
        "milestones": [500, 750],
        "seed": 0,
    },
    "members": 5,
    "seeds": [0, 1, 2, 3, 4],
    "hflip": True,
    "profile": "robust",
    "parameters": 826730,
    "data": "894 images",
    "data_digest": "abc",
    "test_metrics": {
        **{f"{k}_{d}": 0.5 for k in ("ccc", "pcc", "rmse", "sagr") for d in "va"},
        "ccc_v": 0.861,
        "ccc_a": 0.9,
        "ccc_mean": 0.8805,
        "n": 135,
    },
    "robustness": "| shift | mean CCC |",
    "drops": {"greyscale": 0.01, "occlusion": 0.052},
    "size_kib": 3260.0,
    "latency": {"ms per face": 3.2, "95th pct": 4.0, "threads": 1, "faces": 100},
    "command": "OMP_NUM_THREADS=1 ferlib ship-model --params robust --data-dir DIR",
    "weight_digest": "0" * 64,
    "torch": "2",
    "machine": "x86_64 Linux",
}


def peer_table(ccc_v: float) -> pd.DataFrame:
    row = {"model": "shipped (whole picture)", "inputs": "own", "n": 135, "missed": "0"}
    return pd.DataFrame([{**row, "valence CCC": ccc_v, "arousal CCC": 0.9}])


def test_the_card_says_what_it_is_whether_the_goal_is_met_and_what_is_not_measured():
    card = card_markdown(FACTS)
    assert "an ensemble of 5 runs of the recipe (seeds 0–4)" in card
    assert "mirror image" in card and "826,730 parameters" in card
    assert "**not met** (occlusion +0.052)" in card
    assert "3.2 ms (median" in card and "3260 KiB" in card
    assert "not measured here" in card and FACTS["command"] in card


def test_the_card_shows_the_peer_table_only_when_it_was_made_with_this_model():
    assert peers_match(FACTS, peer_table(0.8612))
    assert not peers_match(FACTS, peer_table(0.854))
    assert "| shipped (whole picture) | own | 135 | 0 |" in card_markdown(
        FACTS, None, peer_table(0.861)
    )
    stale = card_markdown(FACTS, None, peer_table(0.854))
    assert "made with another model" in stale and "| shipped (whole picture)" not in stale


def test_a_peer_table_reads_back_with_its_empty_cells(tmp_path):
    table = pd.concat([peer_table(0.861), peer_table(0.861).assign(inputs="common", missed="")])
    table.to_csv(tmp_path / "peers.csv", index=False)
    back = read_peers(tmp_path / "peers.csv")
    assert back["missed"].tolist() == ["0", ""] and not math.isnan(back["valence CCC"].iloc[1])
