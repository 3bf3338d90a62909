"""``ferlib bench``: throughput figures the README quotes (measured, never asserted in tests).

Loader: images/s served from the uint8 tensor store vs. decoding the image files every epoch,
through the same DataLoader and augmentation.
"""

from __future__ import annotations

import resource
import sys
import time

from .data import FERData, make_loader


def _peak_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def loader_throughput(
    data: FERData, image_size: int, batch_size: int = 64, epochs: int = 1, decode: bool = False
) -> float:
    """Training-loader images/s over whole epochs (augmentation and collation included)."""
    loader = make_loader(data, image_size, batch_size, train=True, decode=decode)
    seen, start = 0, time.perf_counter()
    for _ in range(epochs):
        for images, _, _ in loader:
            seen += len(images)
    return seen / (time.perf_counter() - start)


def run_bench(data: FERData, image_size: int, batch_size: int = 64) -> dict:
    train = data.subset("train")
    return {
        "dataset": data.name,
        "images": len(train),
        "image_size": image_size,
        "batch_size": batch_size,
        "loader_cached_images_per_s": round(
            loader_throughput(train, image_size, batch_size, epochs=3), 1
        ),
        "loader_decode_images_per_s": round(
            loader_throughput(train, image_size, batch_size, decode=True), 1
        ),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
    }
