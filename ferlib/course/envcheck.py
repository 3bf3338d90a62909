"""``ferlib check-env``: one [OK]/[FAIL] line per requirement, non-zero exit on any FAIL."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ..paths import repo_root

Check = tuple[bool, str]


def check_python() -> Check:
    ok = sys.version_info >= (3, 10)
    return ok, f"Python {sys.version.split()[0]} (need >= 3.10)"


def check_torch() -> Check:
    import torch

    return True, f"torch {torch.__version__}"


def check_torchvision_ops() -> Check:
    """A torchvision built for another torch imports but fails on its compiled ops (nms)."""
    import torch
    import torchvision
    from torchvision.ops import nms

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0]])
    keep = nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    return keep.tolist() == [0], f"torchvision {torchvision.__version__} (compiled ops work)"


def check_device() -> Check:
    from ..training.device import describe_device, select_device

    return True, f"device {describe_device(select_device('auto'))}"


def check_dependencies() -> Check:
    names = (
        "torchmetrics",
        "ot",
        "datasets",
        "pandas",
        "PIL",
        "matplotlib",
        "seaborn",
        "tqdm",
        "yaml",
        "wandb",
        "pretrainedmodels",
        "papermill",
        "ipykernel",
        "ipywidgets",
        "sklearn",
        "scipy",
        "cv2",  # opencv-python-headless: the Haar cascades
        "dlib",  # dlib-bin: the default face detector
        "av",  # PyAV: video decoding
    )
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as err:  # a broken install can raise more than ImportError
            missing.append(f"{name} ({type(err).__name__})")
    return not missing, (
        "all runtime dependencies import" if not missing else "cannot import " + ", ".join(missing)
    )


def check_kernel() -> Check:
    """The ``ferzoo`` kernel exists and runs this very interpreter (not some other Python)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    from .runner import KERNEL_NAME

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        return False, f"Jupyter kernel '{KERNEL_NAME}' not registered (run ./run_all.sh setup)"
    # compare the environment, not the resolved binary: every venv links to the same python
    exe = Path(spec.argv[0]).absolute()
    same = exe.exists() and exe.is_relative_to(Path(sys.prefix).absolute())
    where = "this environment" if same else f"another Python ({exe})"
    return same, f"Jupyter kernel '{KERNEL_NAME}' registered, runs {where}"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo_root(), capture_output=True, text=True, timeout=10, check=True
    ).stdout.strip()


def check_git() -> Check:
    try:
        sha = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return False, "git SHA unavailable (not a git checkout?): results could not be traced"
    return True, f"git {sha}{' (uncommitted changes)' if dirty else ''}"


CHECKS: list[tuple[str, Callable[[], Check]]] = [
    ("python", check_python),
    ("torch", check_torch),
    ("torchvision", check_torchvision_ops),
    ("dependencies", check_dependencies),
    ("device", check_device),
    ("kernel", check_kernel),
    ("git", check_git),
]


def run_checks() -> list[tuple[bool, str]]:
    results = []
    for name, check in CHECKS:
        try:
            results.append(check())
        except Exception as err:
            results.append((False, f"{name}: {type(err).__name__}: {err}"))
    return results


def main() -> int:
    results = run_checks()
    for ok, text in results:
        print(f"[{'OK' if ok else 'FAIL'}] {text}")
    return 0 if all(ok for ok, _ in results) else 1
