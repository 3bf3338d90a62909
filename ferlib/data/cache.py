"""Decode and resize every image once into a uint8 tensor store, cached on disk.

Decoding a batch of PNGs costs more than a ``small_cnn`` training step on it, so training reads
from this store and augments tensors instead. The store is keyed by the dataset fingerprint (file
list, sizes and modification times, as ``make`` does) and the stored resolution.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..atomic import atomic_torch_save
from ..paths import data_home
from .images import CorruptImageError, fit_square, read_rgb
from .records import FERData

# 2: ``read_rgb`` applies the EXIF orientation. A version-1 store may hold sideways phone
# photos, so it is never reused; a store of PNGs without EXIF rebuilds byte-identical.
STORE_VERSION = 2


def store_size(image_size: int) -> int:
    """Resolution kept in the store: the Resize step before the crop (64→72, 112→128, 224→256)."""
    return int(round(image_size * 8 / 7 / 8) * 8)


def fingerprint(data: FERData) -> str:
    h = hashlib.sha256(f"{STORE_VERSION}|{data.name}".encode())
    for key, path in zip(data.frame["key"], data.frame["path"], strict=True):
        st = os.stat(path)
        h.update(f"|{key}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _decode(path: Path, size: int) -> tuple[np.ndarray | None, bool, str | None]:
    try:
        img, converted = read_rgb(path)
    except CorruptImageError as err:
        return None, False, str(err)
    arr = np.asarray(fit_square(img, size), dtype=np.uint8).transpose(2, 0, 1)
    return np.ascontiguousarray(arr), converted, None


def cache_images(
    data: FERData, image_size: int, cache_dir: Path | None = None, workers: int = 2
) -> FERData:
    """``data`` with ``images`` (N×3×S×S uint8, rows aligned) from the cache or a fresh decode.

    A cached file that is truncated, foreign or out of step with ``data`` is named in a warning
    and rebuilt. Corrupt files are dropped from the frame and reported as ``corrupt_image``;
    converted RGBA/greyscale files as ``converted_mode``. Both lists are stored with the tensors,
    so a cached load reports exactly what the first decode found.
    """
    size = store_size(image_size)
    cache_dir = cache_dir or data_home() / "cache"
    target = cache_dir / f"{data.name}-{fingerprint(data)}-{size}px.pt"
    blob = _read_store(target, data, size) if target.is_file() else None
    if blob is None:
        blob = _build_store(data, size, workers)
        atomic_torch_save(blob, target)
    for key in sorted(blob["failed"]):
        data.report.add("corrupt_image", key)
    for key in blob["converted"]:
        data.report.add("converted_mode", key)
    keep = ~data.frame["key"].isin(set(blob["failed"]))
    frame = data.frame[keep].reset_index(drop=True)
    return FERData(data.name, data.root, frame, data.report, images=blob["images"])


def _build_store(data: FERData, size: int, workers: int) -> dict:
    """Decode every image of ``data`` at ``size`` px (the store's content)."""
    paths = list(data.frame["path"])
    with ThreadPoolExecutor(max(1, workers)) as pool:
        decoded = pool.map(lambda p: _decode(p, size), paths)
        # a bar in a terminal only (tqdm disables itself where stderr is no TTY)
        results = list(
            tqdm(decoded, total=len(paths), desc="tensor store", unit="img", disable=None)
        )
    keys = list(data.frame["key"])
    good = [i for i, (arr, _, _) in enumerate(results) if arr is not None]
    images = (
        torch.from_numpy(np.stack([results[i][0] for i in good]))
        if good
        else torch.empty((0, 3, size, size), dtype=torch.uint8)
    )
    return {
        "images": images,
        "keys": [keys[i] for i in good],
        "failed": {keys[i]: err for i, (_, _, err) in enumerate(results) if err},
        "converted": [keys[i] for i, (_, conv, _) in enumerate(results) if conv],
        "size": size,
    }


def _read_store(target: Path, data: FERData, size: int) -> dict | None:
    """The cached store at ``target``, or None (with a warning naming the file and the fault)
    when it is truncated, foreign or does not match ``data``: it is then rebuilt."""
    try:
        blob = torch.load(target, weights_only=True)
    except Exception as err:  # truncated, or not a torch file at all: rebuild either way
        blob, fault = None, f"is unreadable ({type(err).__name__}: {' '.join(str(err).split())})"
    else:
        fields = ("images", "keys", "failed", "converted", "size")
        if not isinstance(blob, dict) or not all(k in blob for k in fields):
            fault = "is not a FER-Zoo tensor store"
        else:
            failed = set(blob["failed"])
            expected = [k for k in data.frame["key"] if k not in failed]
            images = blob["images"]
            fits = (
                blob["size"] == size
                and list(blob["keys"]) == expected
                and isinstance(images, torch.Tensor)
                and tuple(images.shape) == (len(expected), 3, size, size)
            )
            fault = None if fits else "does not match the dataset"
    if fault is None:
        return blob
    warnings.warn(f"tensor store {target} {fault}; rebuilding it", stacklevel=3)
    return None
