import numpy as np
import pandas as pd
import pytest

from ferlib.evaluation.leakage import error_spread, identity_leakage, identity_probe

IDS = np.repeat([f"p{i}" for i in range(6)], 20)


def test_probe_finds_identity_when_the_latent_encodes_it():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1, (6, 16))[np.repeat(np.arange(6), 20)] * 3 + rng.normal(0, 1, (120, 16))
    result = identity_probe(z, IDS)
    assert result["probe_accuracy"] > 0.95 and result["chance"] == pytest.approx(1 / 6)
    assert result["identities"] == 6 and result["probe_test_images"] == 60


def test_probe_is_near_chance_on_identity_free_latents():
    z = np.random.default_rng(1).normal(0, 1, (120, 16))
    assert identity_probe(z, IDS)["probe_accuracy"] < 0.4


def test_probe_is_deterministic_and_needs_two_people():
    z = np.random.default_rng(2).normal(0, 1, (120, 8))
    assert identity_probe(z, IDS, seed=3) == identity_probe(z, IDS, seed=3)
    with pytest.raises(ValueError, match="two identities"):
        identity_probe(z[:10], ["a"] * 10)


def test_error_spread_by_hand():
    frame = pd.DataFrame(
        {
            "identity": ["a", "a", "b", "b"],
            "valence": [0.0, 0.0, 0.0, 0.0],
            "arousal": [0.0] * 4,
            "expression": [0, 0, 0, 0],
        }
    )
    preds = np.array([[0.1, 0.0], [0.1, 0.0], [0.3, 0.2], [0.3, 0.2]])
    spread = error_spread(frame, preds)
    assert spread["mae_spread_v"] == pytest.approx(0.1)  # per-person MAE 0.1 and 0.3
    assert spread["mae_spread_a"] == pytest.approx(0.1)  # 0.0 and 0.2


def test_leakage_without_identities_is_a_clear_error():
    frame = pd.DataFrame({"identity": [None] * 4, "valence": [0.0] * 4, "arousal": [0.0] * 4})
    with pytest.raises(ValueError, match="needs identities"):
        identity_leakage(frame, np.zeros((4, 2)), np.zeros((4, 3)))


def test_leakage_table_scores_each_model_on_the_same_rows(tiny_synth, tmp_path):
    import torch

    from ferlib.data import cache_images, load_dataset, make_loader
    from ferlib.evaluation.leakage import leakage_table
    from ferlib.evaluation.metrics import va_metrics
    from ferlib.evaluation.outputs import model_outputs
    from ferlib.models import build_model

    data = cache_images(load_dataset("diffusionfer", tiny_synth), 32, cache_dir=tmp_path)
    loader = make_loader(data, 32, 16, train=False)
    torch.manual_seed(0)
    models = {"wide": build_model(), "narrow": build_model(hidden=16, latent=8)}
    table = leakage_table(data.frame, models, loader, torch.device("cpu"))
    assert list(table.index) == ["wide", "narrow"]
    assert list(table["z size"]) == [512, 8]
    assert table["chance"].eq(1 / data.frame["identity"].nunique()).all()
    preds, _, targets = model_outputs(models["narrow"], loader, torch.device("cpu"))
    assert table.loc["narrow", "ccc_v"] == pytest.approx(va_metrics(preds, targets)["ccc_v"])
    assert table[["probe on h", "probe on z"]].apply(lambda c: c.between(0, 1)).all().all()


def test_leakage_table_without_identities_still_compares_accuracy(tiny_synth, tmp_path):
    import torch

    from ferlib.data import cache_images, load_dataset, make_loader
    from ferlib.evaluation.leakage import leakage_table
    from ferlib.models import build_model

    data = cache_images(load_dataset("diffusionfer", tiny_synth), 32, cache_dir=tmp_path)
    data.frame["identity"] = None
    loader = make_loader(data, 32, 16, train=False)
    table = leakage_table(data.frame, {"m": build_model()}, loader, torch.device("cpu"))
    assert list(table.columns[:3]) == ["ccc_v", "ccc_a", "ccc_mean"]
    assert table.loc["m", ["probe on h", "probe on z", "chance", "mae_spread_v"]].isna().all()
    assert table.loc["m", "z size"] == 512
