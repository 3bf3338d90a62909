import numpy as np
import pandas as pd
import pytest

from ferlib.leakage import error_spread, identity_leakage, identity_probe

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
