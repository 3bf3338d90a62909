"""Shared fixtures. Tests run offline: no hub, no wandb, no display."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from ferlib.paths import repo_root  # noqa: E402
from ferlib.synthetic import SynthConfig, generate  # noqa: E402

DEV_SET = Path(
    os.environ.get("FERZOO_DEV_SET", repo_root().parent / "shared" / "data" / "diffusionfer_s_dev")
)
TINY = SynthConfig(seed=3, identities=6, per_class=6, size=64)


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    """A small SyntheticFER (42 images, 6 identities) in DiffusionFER's layout."""
    out = tmp_path_factory.mktemp("synth")
    generate(out, TINY, workers=1)
    return out


@pytest.fixture(scope="session")
def dev_set() -> Path:
    """The shared real DiffusionFER-S development set; tests using it skip when it is absent."""
    if not (DEV_SET / "DiffusionEmotion_S" / "dataset_sheet.csv").is_file():
        pytest.skip(f"shared DiffusionFER-S dev set not found at {DEV_SET}")
    return DEV_SET
