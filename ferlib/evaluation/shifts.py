"""Named, seeded image shifts: what ordinary photographs do to a face that generated ones do not.

DiffusionFER's faces share one colourful, clean, frontal style; a model trained on them can lose
much of its CCC on the same faces in greyscale. Each shift below stands for one way a real
photograph differs, at a fixed, documented strength, so that ``ferlib evaluate --shift`` can
score a checkpoint under each and the robustness table compares like with like. A shift with
random parameters (jitter, rotation angle, occluder position) draws them per image from a
generator seeded by the caller: the same seed gives the same images. The changes themselves are
``ferlib.data.image_ops``, shared with train-time augmentation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..data import image_ops as ops
from ..errors import UserError
from ..params import check_choice


@dataclass(frozen=True)
class Shift:
    """One named shift: ``change(batch, generator)`` -> batch, and what it does at which
    strength. ``random`` shifts draw per-image parameters from the generator."""

    name: str
    strength: str
    change: Callable[[torch.Tensor, torch.Generator], torch.Tensor]
    random: bool


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def _signs(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)


def _jitter(batch: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = len(batch)
    return ops.colour(
        batch, _uniform(n, 0.6, 1.4, g), _uniform(n, 0.6, 1.4, g), _uniform(n, 0.6, 1.4, g)
    )


def _exposure(batch: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    brightness = torch.where(_signs(len(batch), g) < 0, 0.6, 1.4)
    return ops.colour(batch, brightness, 0.6)


def _rotation(batch: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = len(batch)
    return ops.rotate(batch, _signs(n, g) * _uniform(n, 10.0, 20.0, g))


OCCLUDER_SIDE = 0.35


def _occlusion(batch: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n, room = len(batch), 1 - OCCLUDER_SIDE
    return ops.occlude(batch, _uniform(n, 0, room, g), _uniform(n, 0, room, g), OCCLUDER_SIDE)


SHIFTS: dict[str, Shift] = {
    s.name: s
    for s in (
        Shift("greyscale", "luma in all three channels", lambda b, g: ops.greyscale(b), False),
        Shift("jitter", "brightness, contrast, saturation each ×U(0.6, 1.4)", _jitter, True),
        Shift(
            "brightness_contrast",
            "exposure ×0.6 or ×1.4 (even odds), contrast ×0.6",
            _exposure,
            True,
        ),
        Shift("blur", "Gaussian, sigma 2 % of the side", lambda b, g: ops.blur(b, 0.02), False),
        Shift("jpeg", "JPEG at quality 10", lambda b, g: ops.jpeg(b, 10), False),
        Shift(
            "downscale",
            "to 1/3 of the side (a 24 px face at 64 px input) and back",
            lambda b, g: ops.downscale(b, 1 / 3),
            False,
        ),
        Shift("rotation", "±U(10°, 20°) about the centre, black corners", _rotation, True),
        Shift(
            "occlusion",
            f"black square of {OCCLUDER_SIDE:.0%} of the side, anywhere in the image",
            _occlusion,
            True,
        ),
        Shift("hflip", "mirrored left to right", lambda b, g: ops.hflip(b), False),
    )
}
"""Every shift by name, in the robustness table's order."""


def shift_names(spec: str) -> list[str]:
    """``"all"`` or ``"greyscale,blur"`` -> registered names in the given order (checked)."""
    if spec.strip() == "all":
        return list(SHIFTS)
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise UserError(f"no shift named in {spec!r}; choose from all, {', '.join(SHIFTS)}")
    for name in names:
        check_choice(name, tuple(SHIFTS), "shift")
    return names


def apply_shift(name: str, batch: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """``batch`` (uint8 N×3×H×W) under the shift ``name``: the same seed and batch give the same
    images. Random parameters come from a generator seeded with ``seed``, never from the global
    RNG (which is left untouched)."""
    check_choice(name, tuple(SHIFTS), "shift")
    generator = torch.Generator().manual_seed(int(seed))
    return SHIFTS[name].change(batch, generator)


def shifted_predictions(
    model: torch.nn.Module,
    data,
    image_size: int,
    shifts: list[str],
    seed: int = 0,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    channels_last: bool = False,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``model``'s predictions on one split (``FERData`` with its tensor store), clean and under
    each of ``shifts`` (what ``robustness_table`` scores): ``({"clean": N×2, shift:
    N×2, …}, targets N×2)``, image for image in the split's order. ``robustness_table`` keeps only
    the scores; these keep each image, so that intervals can be drawn over images
    (``errors.bootstrap_ci``) or over training seeds and images (``errors.paired_bootstrap``)."""
    import dataclasses

    from ..data import make_loader
    from .outputs import predict_loader

    if data.images is None:
        raise ValueError("data has no tensor store; call ferlib.data.cache_images first")
    preds: dict[str, torch.Tensor] = {}
    targets = None
    for name in ["clean", *shifts]:
        images = data.images if name == "clean" else apply_shift(name, data.images, seed)
        loader = make_loader(
            dataclasses.replace(data, images=images), image_size, batch_size, False
        )
        preds[name], targets = predict_loader(model, loader, torch.device(device), channels_last)
    return preds, targets
