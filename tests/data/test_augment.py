"""Train-time augmentation (ferlib.data.augment): off by default, per image, in the loader."""

from __future__ import annotations

import pytest
import torch

from ferlib.data import cache_images, load_dataset, make_loader
from ferlib.data.augment import AUGMENT_KEYS, Augmentation
from ferlib.params import PARAMETERS, identity_config, resolve_config


def batch(n: int = 32, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, size, size), generator=g).to(torch.uint8)


def test_every_key_defaults_to_off():
    assert AUGMENT_KEYS and all(PARAMETERS[k].default == 0 for k in AUGMENT_KEYS)
    assert not Augmentation.from_config(resolve_config("quick")).active


def test_default_runs_keep_their_identity():
    """Off augmentation keys are left out of what names a run, so earlier runs keep theirs."""
    from ferlib.runs.store import run_dir

    config = resolve_config("quick")
    before = {k: v for k, v in config.items() if k not in AUGMENT_KEYS}  # a pre-augment config
    assert identity_config(config) == before
    assert run_dir(config) == run_dir(before)
    assert run_dir({**config, "aug_greyscale_p": 0.5}) != run_dir(config)


@pytest.mark.parametrize(
    "setting",
    [
        {"greyscale_p": 1.0},
        {"jitter": 0.5},
        {"blur_p": 1.0},
        {"jpeg_p": 1.0},
        {"downscale_p": 1.0},
        {"rotate": 20.0},
        {"occlusion_p": 1.0},
    ],
)
def test_each_augmentation_changes_images_and_repeats_under_a_seed(setting):
    augment, x = Augmentation(**setting), batch()
    torch.manual_seed(1)
    a = augment(x)
    torch.manual_seed(1)
    b = augment(x)
    assert a.dtype == torch.uint8 and a.shape == x.shape
    assert torch.equal(a, b) and not torch.equal(a, x)
    changed = (a != x).flatten(1).any(1)
    assert changed.float().mean() > 0.9  # probability 1 (or every image jittered / rotated)


def test_probabilities_pick_some_images():
    torch.manual_seed(0)
    x = batch(n=400, size=8)
    out = Augmentation(greyscale_p=0.25)(x)
    grey = (out[:, 0] == out[:, 1]).all(dim=(1, 2)) & (out[:, 1] == out[:, 2]).all(dim=(1, 2))
    assert 0.15 < grey.float().mean() < 0.35
    assert torch.equal(out[~grey], x[~grey])  # the others untouched


def test_loader_applies_augmentation_to_training_batches_only(tiny_synth):
    data = cache_images(load_dataset("synthetic", tiny_synth), 32)
    grey = Augmentation(greyscale_p=1.0)

    def first(train, augment, seed=0):
        torch.manual_seed(seed)
        return next(iter(make_loader(data, 32, 8, train=train, augment=augment)))[0]

    augmented = first(True, grey)
    assert torch.equal(augmented[:, 0], augmented[:, 2])
    # with augmentation off the loader draws exactly what it drew before the feature existed
    assert torch.equal(first(True, Augmentation()), first(True, None))
    assert torch.equal(first(False, grey), first(False, None))
    with pytest.raises(ValueError, match="tensor store"):
        make_loader(data, 32, 8, train=True, decode=True, augment=grey)


def test_late_method_switches_at_their_default_keep_run_identity():
    """The step-B switches (added after runs existed) name a run only when set off default."""
    from ferlib.runs.store import run_dir

    config = resolve_config("quick")
    late = ("elim_step_b_forward", "avce_step_b_upper")
    before = {k: v for k, v in config.items() if k not in late}
    assert run_dir(config) == run_dir(before)
    assert run_dir({**config, "elim_step_b_forward": "code"}) != run_dir(config)
    assert run_dir({**config, "avce_step_b_upper": "code"}) != run_dir(config)
