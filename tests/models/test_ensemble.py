"""``models.Ensemble`` and its checkpoint: the members' mean, flip TTA, old and new files."""

from __future__ import annotations

import pytest
import torch

from ferlib.models import Ensemble, VAModel, build_model
from ferlib.training import checkpoint as ckpt

CONFIG = {"image_size": 32, "seed": 0, "data_dir": None}


def members(n: int) -> list[VAModel]:
    torch.manual_seed(0)
    return [build_model().eval() for _ in range(n)]


def blob_of(model: VAModel, seed: int = 0) -> dict:
    return {
        "method": "baseline",
        "config": {**CONFIG, "seed": seed},
        "model_config": model.config,
        "modules": {"model": model.state_dict()},
    }


@torch.no_grad()
def test_outputs_are_the_mean_of_the_members():
    models, x = members(3), torch.randn(4, 3, 32, 32)
    y, z = Ensemble(models).eval()(x)
    outs = [m(x) for m in models]
    assert torch.allclose(y, torch.stack([o[0] for o in outs]).mean(0), atol=1e-6)
    assert torch.equal(z, torch.cat([o[1] for o in outs], dim=1))  # latents side by side
    assert Ensemble(models).config == {**models[0].config, "members": 3, "hflip": False}


@torch.no_grad()
def test_flip_tta_is_the_mean_over_the_picture_and_its_mirror_and_symmetric():
    (model,), x = members(1), torch.randn(4, 3, 32, 32)
    tta = Ensemble([model], hflip=True).eval()
    mirrored = torch.flip(x, dims=(-1,))
    y = tta(x)[0]
    assert torch.allclose(y, (model(x)[0] + model(mirrored)[0]) / 2, atol=1e-6)
    assert torch.allclose(y, tta(mirrored)[0], atol=1e-6)  # a face and its mirror agree
    assert not torch.allclose(model(x)[0], model(mirrored)[0], atol=1e-4)  # alone, they do not


@torch.no_grad()
def test_one_member_without_flip_is_the_member():
    (model,), x = members(1), torch.randn(2, 3, 32, 32)
    assert torch.equal(Ensemble([model]).eval()(x)[0], model(x)[0])


def test_an_ensemble_needs_members():
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])


@torch.no_grad()
def test_an_ensemble_checkpoint_loads_as_the_ensemble(tmp_path):
    models, x = members(3), torch.randn(2, 3, 32, 32)
    path = tmp_path / "model.pt"
    ckpt.save(ckpt.ensemble_checkpoint([blob_of(m, s) for s, m in enumerate(models)], True), path)
    loaded, config = ckpt.load_model(path)
    assert isinstance(loaded, Ensemble) and loaded.hflip and len(loaded.members) == 3
    assert config["seed"] == 0  # the first member's config
    assert torch.allclose(loaded(x)[0], Ensemble(models, hflip=True).eval()(x)[0], atol=1e-6)


@torch.no_grad()
def test_a_single_model_checkpoint_still_loads_as_one_model(tmp_path):
    (model,), x = members(1), torch.randn(2, 3, 32, 32)
    path = tmp_path / "checkpoint.pt"
    ckpt.save(blob_of(model), path)
    loaded, _ = ckpt.load_model(path)
    assert type(loaded) is VAModel
    assert torch.equal(loaded(x)[0], model(x)[0])


@pytest.mark.parametrize(
    "entry", [{"members": 0, "hflip": False}, {"members": 2}, {"members": True, "hflip": False}]
)
def test_a_bad_ensemble_entry_is_refused_in_one_line(tmp_path, entry):
    content = ckpt.ensemble_checkpoint([blob_of(m) for m in members(2)], False)
    content["ensemble"] = entry
    ckpt.save(content, tmp_path / "bad.pt")
    with pytest.raises(ckpt.CheckpointError, match="ensemble entry"):
        ckpt.load_model(tmp_path / "bad.pt")


def test_members_of_different_shapes_are_refused():
    torch.manual_seed(0)
    small, wide = build_model(), build_model(width=2)
    with pytest.raises(ValueError, match="differ in shape"):
        ckpt.ensemble_checkpoint([blob_of(small), blob_of(wide)], False)
