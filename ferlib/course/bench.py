"""``ferlib bench``: the throughput figures the README quotes (measured, never asserted in tests).

- Loader: images/s served from the uint8 tensor store vs. decoding the image files each epoch.
- Per backbone at the profile's resolution: training images/s with the real loader and with
  pre-staged tensors (the loader is not the bottleneck when the two are close), and inference
  images/s.
- Peak resident memory of the process.
"""

from __future__ import annotations

import itertools
import resource
import sys
import time
from typing import Any

import torch

from ..data import FERData, load_from_config, make_loader
from ..evaluation.outputs import to_model_input
from ..methods import build_method
from ..params import resolve_config
from ..training.device import select_device, use_channels_last


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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_throughput(
    config: dict[str, Any],
    data: FERData,
    steps: int = 10,
    warmup: int = 3,
    channels_last: bool | None = None,
) -> dict[str, float]:
    """Training images/s (real loader and pre-staged tensors) and inference images/s, in the
    trainer's memory layout unless ``channels_last`` says which (to measure what it buys)."""
    device = select_device(config["device"])
    fast = device.type == "cuda" and config["amp"]
    layout = use_channels_last(device, config["amp"]) if channels_last is None else channels_last
    method = build_method(config).to(device, channels_last=layout)
    method.use_amp = fast
    method.scaler = torch.amp.GradScaler("cuda", enabled=fast)
    method.build_optimizers()
    bs = config["batch_size"]
    loader = method.train_loader(data)
    method.prepare(data)
    batches = itertools.cycle(loader)

    def run(get_batch, n: int) -> float:
        _sync(device)
        start = time.perf_counter()
        for i in range(n):
            x, y, index = get_batch()
            method.training_step(x, y, i, index)
        _sync(device)
        return n * bs / (time.perf_counter() - start)

    def from_loader():
        images, y, index = next(batches)
        return to_model_input(images, device, layout), y.to(device), index

    staged = from_loader()
    run(from_loader, warmup)
    real = run(from_loader, steps)
    prestaged = run(lambda: staged, steps)
    model = method.core.eval()
    with torch.no_grad(), method.autocast():
        for _ in range(warmup):
            model(staged[0])
        _sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            model(staged[0])
        _sync(device)
    infer = steps * bs / (time.perf_counter() - start)
    return {
        "train_images_per_s_loader": round(real, 1),
        "train_images_per_s_prestaged": round(prestaged, 1),
        "loader_share_of_prestaged": round(real / prestaged, 3),
        "inference_images_per_s": round(infer, 1),
    }


def run_bench(
    data: FERData,
    config: dict[str, Any],
    backbones: list[str] | None = None,
    steps: int = 10,
    channels_last: bool | None = None,
) -> dict[str, Any]:
    """Every figure ``ferlib bench`` prints, as one dict."""
    train = data.subset("train")
    size, bs = config["image_size"], config["batch_size"]
    result: dict[str, Any] = {
        "dataset": data.name,
        "train_images": len(train),
        "image_size": size,
        "batch_size": bs,
        "device": str(select_device(config["device"])),
        "torch_threads": torch.get_num_threads(),
        "loader_cached_images_per_s": round(loader_throughput(train, size, bs, epochs=3), 1),
        "loader_decode_images_per_s": round(loader_throughput(train, size, bs, decode=True), 1),
        "backbones": {},
    }
    for name in backbones or [config["backbone"]]:
        cfg = {**config, "backbone": name, "width": config["width"] if name == "small_cnn" else 1}
        result["backbones"][name] = model_throughput(
            cfg, train, steps=steps, channels_last=channels_last
        )
    result["peak_rss_mib"] = round(_peak_rss_mib(), 1)
    return result


LAYOUTS: dict[str, bool | None] = {"auto": None, "contiguous": False, "channels_last": True}
"""``ferlib bench --layout``: the memory layout to time (``auto``: the trainer's)."""


def bench_profile(
    profile: str,
    overrides: dict[str, Any],
    backbones: list[str] | None = None,
    steps: int = 10,
    layout: str = "auto",
) -> dict[str, Any]:
    """``ferlib bench``: ``run_bench`` on the data and settings of ``profile`` with
    ``overrides``, in the memory layout ``layout`` (a key of ``LAYOUTS``)."""
    config = resolve_config(profile, overrides)
    data = load_from_config(config)
    return run_bench(data, config, backbones, steps=steps, channels_last=LAYOUTS[layout])


def bench_text(result: dict[str, Any]) -> str:
    """``run_bench``'s figures for people: one line per figure, then a table of backbones."""
    lines = [f"{key:<30} {value}" for key, value in result.items() if key != "backbones"]
    lines.append(
        f"{'backbone':<20} {'train/s loader':>15} {'train/s staged':>15} {'share':>6} "
        f"{'infer/s':>10}"
    )
    for name, r in result["backbones"].items():
        lines.append(
            f"{name:<20} {r['train_images_per_s_loader']:>15.1f} "
            f"{r['train_images_per_s_prestaged']:>15.1f} {r['loader_share_of_prestaged']:>6.2f}"
            f" {r['inference_images_per_s']:>10.1f}"
        )
    return "\n".join(lines)
