"""Valence and arousal for image files with a trained checkpoint (``ferlib predict``)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torchvision.transforms.functional import pil_to_tensor

from ..data.cache import store_size
from ..data.images import CorruptImageError, fit_square, is_image_file, read_rgb
from ..data.transforms import eval_transform, normalize
from ..training.checkpoint import load_model


def collect_images(paths: list[str | os.PathLike[str]]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files among ``paths`` (folders searched recursively) and (path, reason) skips."""
    found, skipped = [], []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                (
                    found.append(child)
                    if is_image_file(child)
                    else skipped.append((str(child), "not an image file"))
                )
        elif not path.exists():
            skipped.append((str(path), "no such file"))
        elif is_image_file(path):
            found.append(path)
        else:
            skipped.append((str(path), "not an image file"))
    return found, skipped


@torch.no_grad()
def predict_files(
    checkpoint: str | os.PathLike[str], paths: list[str | os.PathLike[str]], batch_size: int = 64
) -> tuple[list[dict], list[tuple[str, str]]]:
    """One ``{"path", "valence", "arousal"}`` per readable image, plus the skipped files.

    Preprocessing is the evaluation path of training: resize to the stored size, centre crop.
    """
    model, config = load_model(checkpoint)
    size = config["image_size"]
    crop = eval_transform(size)
    files, skipped = collect_images(paths)
    rows, batch, names = [], [], []

    def flush() -> None:
        if batch:
            out = model(normalize(torch.stack(batch)))[0].double()
            rows.extend(
                {"path": n, "valence": float(v), "arousal": float(a)}
                for n, (v, a) in zip(names, out.tolist(), strict=True)
            )
            batch.clear()
            names.clear()

    for path in files:
        try:
            img, _ = read_rgb(path)
        except CorruptImageError as err:
            skipped.append((str(path), str(err).split(": ", 1)[-1]))
            continue
        batch.append(crop(pil_to_tensor(fit_square(img, store_size(size)))))
        names.append(str(path))
        if len(batch) == batch_size:
            flush()
    flush()
    return rows, skipped
