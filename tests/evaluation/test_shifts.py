"""Image shifts (ferlib.evaluation.shifts), their changes (ferlib.data.image_ops) and the
robustness table."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as F

from ferlib.data import image_ops as ops
from ferlib.evaluation.shifts import SHIFTS, apply_shift, shift_names


def faces(n: int = 6, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Smooth colourful uint8 images with detail (a blurred-noise texture on a colour ramp)."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(40, 215, size).view(1, 1, 1, size)
    colour = torch.tensor([1.0, 0.7, 0.4]).view(1, 3, 1, 1)
    noise = torch.randint(0, 256, (n, 3, size, size), generator=g).to(torch.uint8)
    x = 0.6 * ramp * colour + 0.4 * noise.float()
    return x.clamp(0, 255).to(torch.uint8)


@pytest.mark.parametrize("name", list(SHIFTS))
def test_every_shift_is_deterministic_and_changes_the_images(name):
    x = faces()
    a, b = apply_shift(name, x, seed=3), apply_shift(name, x, seed=3)
    assert a.dtype == torch.uint8 and a.shape == x.shape
    assert torch.equal(a, b)
    assert not torch.equal(a, x)


@pytest.mark.parametrize("name", list(SHIFTS))
def test_random_shifts_differ_between_seeds_and_fixed_ones_do_not(name):
    x = faces()
    differ = not torch.equal(apply_shift(name, x, seed=0), apply_shift(name, x, seed=1))
    assert differ == SHIFTS[name].random


def test_shifts_leave_the_global_rng_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    for name in SHIFTS:
        apply_shift(name, faces(), seed=1)
    assert torch.equal(torch.rand(3), expected)


def test_greyscale_has_equal_channels_and_hflip_mirrors():
    x = faces()
    grey = apply_shift("greyscale", x)
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    assert torch.equal(apply_shift("hflip", x), x.flip(-1))


@pytest.mark.parametrize(
    "factors, reference",
    [
        ((1.3, 1.0, 1.0), lambda x: F.adjust_brightness(x, 1.3)),
        ((1.0, 0.6, 1.0), lambda x: F.adjust_contrast(x, 0.6)),
        ((1.0, 1.0, 0.4), lambda x: F.adjust_saturation(x, 0.4)),
    ],
)
def test_colour_follows_torchvision_definitions(factors, reference):
    x = faces()
    assert (ops.colour(x, *factors).int() - reference(x).int()).abs().max() <= 1
    assert torch.equal(ops.colour(x), x)


def test_colour_factors_are_per_image():
    x = faces(n=2)
    both = ops.colour(x, torch.tensor([0.5, 1.5]))
    assert torch.equal(both[:1], ops.colour(x[:1], 0.5))
    assert torch.equal(both[1:], ops.colour(x[1:], 1.5))


def test_blur_jpeg_and_downscale_remove_detail():
    x = faces(size=64)

    def detail(batch):  # mean absolute difference between horizontal neighbours
        return (batch[..., 1:].float() - batch[..., :-1].float()).abs().mean()

    for name in ("blur", "jpeg", "downscale"):
        assert detail(apply_shift(name, x)) < 0.7 * detail(x), name


def test_rotation_by_a_quarter_turn_and_by_nothing():
    x = faces(size=16)
    assert torch.equal(ops.rotate(x, 0.0), x)
    quarter = ops.rotate(x, 90.0)
    turned = [x.rot90(k, dims=(-2, -1)) for k in (1, 3)]
    assert min((quarter.int() - t.int()).abs().max() for t in turned) <= 1


def test_occlusion_blacks_out_one_square_of_the_stated_side():
    x = torch.full((4, 3, 40, 40), 200, dtype=torch.uint8)
    out = apply_shift("occlusion", x, seed=2)
    side = round(0.35 * 40)
    black = (out == 0).all(dim=1)  # N×H×W
    assert black.sum(dim=(1, 2)).tolist() == [side * side] * 4
    assert torch.equal(out[~black.unsqueeze(1).expand_as(out)].unique(), torch.tensor([200]))


def test_shift_names():
    assert shift_names("all") == list(SHIFTS)
    assert shift_names("blur, greyscale") == ["blur", "greyscale"]
    with pytest.raises(ValueError, match="unknown shift 'sepia'.*greyscale"):
        shift_names("greyscale,sepia")
    with pytest.raises(ValueError, match="unknown shift"):
        apply_shift("sepia", faces())
    with pytest.raises(ValueError, match="uint8"):
        apply_shift("blur", faces().float())


def test_robustness_table_scores_clean_and_each_shift(tiny_synth):
    from ferlib.data import load_dataset
    from ferlib.evaluation.robustness import robustness_markdown, robustness_table
    from ferlib.models import build_model

    torch.manual_seed(0)
    data = load_dataset("synthetic", tiny_synth, image_size=32).subset("val")
    model = build_model("small_cnn", dropout=0.0)
    table = robustness_table(model, data, 32, ["greyscale", "hflip"], seed=0, batch_size=16)
    assert table["shift"].tolist() == ["clean", "greyscale", "hflip"]
    assert table["drop"].iloc[0] == 0.0
    assert table["drop"].tolist() == pytest.approx(
        (table["ccc_mean"].iloc[0] - table["ccc_mean"]).tolist()
    )
    mean = (table["ccc_v"] + table["ccc_a"]) / 2
    assert table["ccc_mean"].tolist() == pytest.approx(mean.tolist())
    text = robustness_markdown(table)
    assert text.splitlines()[0].startswith("| shift | mean CCC")
    assert len(text.splitlines()) == 2 + 3 and "| greyscale |" in text


def test_shifted_predictions_keep_each_image_and_score_as_the_table(tiny_synth):
    from ferlib.data import load_dataset
    from ferlib.evaluation.metrics import va_scores
    from ferlib.evaluation.robustness import robustness_table
    from ferlib.evaluation.shifts import shifted_predictions
    from ferlib.models import build_model

    torch.manual_seed(0)
    data = load_dataset("synthetic", tiny_synth, image_size=32).subset("val")
    model = build_model("small_cnn", dropout=0.0)
    preds, targets = shifted_predictions(model, data, 32, ["greyscale", "hflip"], batch_size=16)
    assert list(preds) == ["clean", "greyscale", "hflip"]
    assert all(p.shape == (len(data.frame), 2) for p in preds.values())
    assert targets.shape == (len(data.frame), 2)
    assert not torch.equal(preds["clean"], preds["greyscale"])
    table = robustness_table(model, data, 32, ["greyscale", "hflip"], batch_size=16)
    for name, p in preds.items():
        score = float(va_scores(p, targets)["ccc_mean"])
        expected = table.set_index("shift").loc[name, "ccc_mean"]
        assert score == pytest.approx(expected, abs=1e-6)
