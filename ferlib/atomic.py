"""Write files so that a crash never leaves a half-written one where a reader would trust it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def atomic_torch_save(obj: Any, target: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="tmp-", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(text: str, target: str | os.PathLike[str]) -> None:
    """Text equivalent of ``atomic_torch_save`` (metrics.json, history.csv)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="tmp-", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
