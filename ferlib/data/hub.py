"""DiffusionFER from the Hugging Face hub (needs the network once), and FERData -> ``datasets``.

The project keeps its own copy in ``data/diffusionfer`` (git-ignored): the first load of
``dataset=diffusionfer`` without a ``data_dir`` (or with that folder) downloads the release there
with ``huggingface_hub`` and unpacks its archives; every later load reads the local copy and never
touches the network. A copy elsewhere is used as it is (``data_dir``), never downloaded into.
Downloading honours ``HF_HUB_OFFLINE``: with it set, the call fails at once with a message saying
what to do instead.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ..errors import OfflineError
from ..paths import data_home
from .diffusionfer import find_release_root
from .records import FERData

HUB_REPO = "FER-Universe/DiffusionFER"
# the single-face part (its sheet, archives and readme); the other parts are not used
HUB_PATTERNS = ["DiffusionEmotion_S*", "*/DiffusionEmotion_S*", "*.md"]


def default_diffusionfer_dir() -> Path:
    """The project's own DiffusionFER folder, where the hub download is cached and unpacked."""
    return data_home() / "diffusionfer"


def has_release(folder: Path) -> bool:
    """True when ``folder`` holds a DiffusionFER release (its ``dataset_sheet.csv``)."""
    try:
        find_release_root(folder)
    except FileNotFoundError:
        return False
    return True


def download_diffusionfer(target: Path | None = None, repo_id: str = HUB_REPO) -> Path:
    """Fetch the DiffusionEmotion_S part of the release into ``target`` and extract its archives.

    Returns the folder to pass as ``data_dir`` to the ``diffusionfer`` loader. ``huggingface_hub``
    skips files already in ``target``, so an interrupted download resumes.
    """
    target = Path(target or default_diffusionfer_dir())
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise OfflineError(
            f"downloading {repo_id} into {target} needs the network, but HF_HUB_OFFLINE is set "
            "(./run_all.sh sets it unless told otherwise): run once with HF_HUB_OFFLINE=0, or "
            "point data_dir (--data-dir) at an extracted copy of the release"
        )
    from huggingface_hub import snapshot_download

    snapshot_download(
        repo_id, repo_type="dataset", local_dir=target, allow_patterns=list(HUB_PATTERNS)
    )
    extract_archives(target)
    if not has_release(target):
        raise FileNotFoundError(
            f"{repo_id} was downloaded into {target}, but no DiffusionEmotion_S/dataset_sheet.csv "
            "is there: the hub's layout may have changed; download and extract it by hand and "
            "pass its folder as data_dir"
        )
    return target


def ensure_diffusionfer(target: Path | None = None, repo_id: str = HUB_REPO) -> Path:
    """``target`` (default: ``data/diffusionfer``) holding the release: the local copy when it is
    there (its archives unpacked, no network), else a fresh download."""
    target = Path(target or default_diffusionfer_dir())
    if has_release(target):
        extract_archives(target)  # finishes an unpacking that was interrupted; no network
        return target
    return download_diffusionfer(target, repo_id)


def extract_archives(folder: Path) -> list[Path]:
    """Unpack every ``*.zip`` under ``folder`` next to itself (once; a marker file remembers).

    An archive unpacks into a folder named after it, whether it holds that folder or loose
    files: ``cropped/angry.zip`` with ``angry/x.png`` or with ``x.png`` both give
    ``cropped/angry/x.png``, and ``DiffusionEmotion_S/cropped.zip`` with ``angry/x.png`` gives
    ``DiffusionEmotion_S/cropped/angry/x.png``. macOS metadata (``__MACOSX/``) is skipped.
    """
    done = []
    for archive in sorted(Path(folder).rglob("*.zip")):
        marker = archive.with_name(f".{archive.name}.extracted")
        if marker.exists():
            continue
        with zipfile.ZipFile(archive) as zf:
            members = [
                m
                for m in zf.infolist()
                if not m.is_dir() and not m.filename.startswith("__MACOSX/")
            ]
            inside = all(m.filename.split("/", 1)[0] == archive.stem for m in members)
            dest = archive.parent if inside else archive.parent / archive.stem
            for member in members:
                zf.extract(member, dest)
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


__all__ = [
    "HUB_REPO",
    "default_diffusionfer_dir",
    "download_diffusionfer",
    "ensure_diffusionfer",
    "extract_archives",
    "has_release",
    "to_hf_dataset",
]
