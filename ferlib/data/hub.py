"""DiffusionFER from the Hugging Face hub (needs the network), and FERData -> ``datasets.Dataset``.

Nothing here runs unless asked: every notebook and test defaults to offline data. Downloading
honours ``HF_HUB_OFFLINE``: with it set, the call fails at once with a message saying so.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ..paths import data_home
from .records import FERData

HUB_REPO = "FER-Universe/DiffusionFER"


def download_diffusionfer(target: Path | None = None, repo_id: str = HUB_REPO) -> Path:
    """Fetch the DiffusionEmotion_S part of the release into ``target`` and extract its archives.

    Returns the folder to pass as ``data_dir`` to the ``diffusionfer`` loader.
    """
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise RuntimeError(
            f"downloading {repo_id} needs the network, but HF_HUB_OFFLINE is set; unset it, or "
            "download the release yourself and use dataset=diffusionfer with data_dir=<folder>"
        )
    from huggingface_hub import snapshot_download

    target = Path(target or data_home() / "diffusionfer")
    snapshot_download(
        repo_id,
        repo_type="dataset",
        local_dir=target,
        allow_patterns=["DiffusionEmotion_S*", "*/DiffusionEmotion_S*", "*.md"],
    )
    extract_archives(target)
    return target


def extract_archives(folder: Path) -> list[Path]:
    """Unpack every ``*.zip`` under ``folder`` next to itself (once).

    A per-class archive such as ``cropped/angry.zip`` may hold an ``angry/`` folder or loose files;
    loose files go into a folder named after the archive, so both end up in ``cropped/angry/``.
    """
    done = []
    for archive in sorted(Path(folder).rglob("*.zip")):
        marker = archive.with_name(f".{archive.name}.extracted")
        if marker.exists():
            continue
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            flat = all("/" not in n for n in names)
            zf.extractall(archive.parent / archive.stem if flat else archive.parent)
        marker.touch()
        done.append(archive)
    return done


def to_hf_dataset(data: FERData):
    """The samples as a Hugging Face ``datasets.Dataset`` (images decoded lazily from paths)."""
    import datasets

    frame = data.frame.copy()
    frame["image"] = frame["path"].map(str)
    frame["expression"] = frame["expression"].astype("float").where(frame["expression"].notna())
    frame = frame.drop(columns=["path"])
    ds = datasets.Dataset.from_pandas(frame, preserve_index=False)
    return ds.cast_column("image", datasets.Image())
