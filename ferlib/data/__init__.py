"""One data path for every source: load -> ``FERData`` (frame, report) -> tensor store -> loader."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..paths import resolve
from .cache import cache_images, store_size
from .diffusionfer import load_diffusionfer
from .hub import default_diffusionfer_dir, download_diffusionfer, ensure_diffusionfer, to_hf_dataset
from .records import COLUMNS, ColumnError, FERData, Sample
from .report import REASONS, DataReport
from .torch_data import make_loader
from .va_csv import load_va_csv

DATASETS = ("synthetic", "diffusionfer", "diffusionfer_hub", "csv")


def load_dataset(
    dataset: str = "synthetic",
    data_dir: str | Path | None = None,
    image_size: int | None = None,
    synth=None,
    variant: str = "cropped",
) -> FERData:
    """Load any supported dataset; with ``image_size``, also decode it into the tensor store.

    - ``synthetic``: SyntheticFER, generated once and cached (``synth`` is a ``SynthConfig``), or
      read from ``data_dir`` if given.
    - ``diffusionfer``: an extracted DiffusionFER release at ``data_dir``. Without ``data_dir``,
      or with the project's own ``data/diffusionfer``, the release is downloaded there from the
      Hugging Face hub on first use (needs the network once) and read locally afterwards.
    - ``diffusionfer_hub``: the same download-once-then-local, into ``data_dir`` (default
      ``data/diffusionfer``).
    - ``csv``: a generic VA CSV (``data_dir`` is the CSV or its folder); see ``va_csv``.
    """
    folder = resolve(data_dir)
    if dataset == "synthetic":
        from ..synthetic import ensure_synthetic

        data = load_diffusionfer(folder or ensure_synthetic(synth), variant, source="synthetic")
    elif dataset == "diffusionfer":
        own = default_diffusionfer_dir().resolve()
        if folder is None or folder.resolve() == own:  # the project's copy: fetched once
            folder = ensure_diffusionfer(own)
        data = load_diffusionfer(folder, variant)
    elif dataset == "diffusionfer_hub":
        data = load_diffusionfer(ensure_diffusionfer(folder), variant)
    elif dataset == "csv":
        if folder is None:
            raise UserError("dataset 'csv' needs data_dir: the VA CSV file or its folder")
        data = load_va_csv(folder)
    else:
        raise UserError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    return cache_images(data, image_size) if image_size else data


def load_from_config(config: dict) -> FERData:
    """The dataset a run configuration names, decoded into the tensor store."""
    from ..synthetic import SynthConfig

    synth = SynthConfig(
        seed=config["data_seed"],
        identities=config["identities"],
        per_class=config["per_class"],
        size=config["synth_size"],
        identity_bias=float(config["identity_bias"]),
    )
    return load_dataset(
        config["dataset"], config["data_dir"], image_size=config["image_size"], synth=synth
    )


def report_text(data: FERData, max_names: int = 5, as_json: bool = False) -> str:
    """``ferlib data-report``: the data report as JSON, or for people (``max_names`` file names
    per reason) with the images of each split."""
    if as_json:
        return data.report.to_json()
    counts = data.frame["split"].value_counts()
    splits = ", ".join(f"{s} {counts.get(s, 0)}" for s in ("train", "val", "test"))
    return data.report.format(max_names=max_names) + "\n  splits: " + splits


__all__ = [
    "COLUMNS",
    "DATASETS",
    "REASONS",
    "ColumnError",
    "DataReport",
    "FERData",
    "Sample",
    "cache_images",
    "default_diffusionfer_dir",
    "download_diffusionfer",
    "ensure_diffusionfer",
    "load_dataset",
    "load_from_config",
    "load_diffusionfer",
    "load_va_csv",
    "make_loader",
    "report_text",
    "store_size",
    "to_hf_dataset",
]
