"""The model that ships inside the package, so that ``ferlib predict photo.jpg`` works offline
on a fresh clone without training.

``build_shipped_model`` is the one way it is made: train one run of a params profile on
DiffusionFER-S (through the trainer, like any run), copy its best checkpoint with the
machine-specific data path removed, score it on the test split (clean, and under every image
shift of ``evaluation.shifts``), train the same recipe without its augmentation to show what the
augmentation buys, and write the model card beside it.
The card records the command and the weight digest, so a rebuild can be checked bit for bit.

Taught in ``notebooks/40_real_faces.ipynb`` §1.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

from ..evaluation.metrics import metrics_json
from ..training import checkpoint as ckpt

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "shipped"
SHIPPED_MODEL = SHIPPED_DIR / "model.pt"
SHIPPED_CARD = SHIPPED_DIR / "MODEL_CARD.md"
SHIPPED_FACTS = SHIPPED_DIR / "card.json"


def weight_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 over the model's tensors in key order (independent of the pickle's framing)."""
    blob = ckpt.load(path)
    h = hashlib.sha256()
    for name, tensor in sorted(blob["modules"]["model"].items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def shipped_facts() -> dict[str, Any]:
    """The shipped model's card as data (``card.json``): recipe, metrics, digest, command."""
    if not SHIPPED_FACTS.is_file():
        raise FileNotFoundError(
            f"no shipped model card at {SHIPPED_FACTS}; rebuild it with `ferlib ship-model`"
        )
    return json.loads(SHIPPED_FACTS.read_text())


def default_checkpoint() -> Path:
    """The shipped checkpoint, with a clear error if the package was installed without it."""
    if not SHIPPED_MODEL.is_file():
        raise FileNotFoundError(
            f"the shipped model {SHIPPED_MODEL} is missing; pass --checkpoint, or rebuild it "
            "with `ferlib ship-model --data-dir DIR`"
        )
    return SHIPPED_MODEL


def export_checkpoint(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Copy a run's best checkpoint without what is specific to the machine that trained it."""
    blob = ckpt.load(source)
    config = dict(blob["config"])
    config["data_dir"] = None  # where the data sat on the training machine means nothing here
    blob["config"] = config
    ckpt.save(blob, target)


def card_markdown(facts: dict[str, Any]) -> str:
    """The model card (``MODEL_CARD.md``) from the facts ``build_shipped_model`` measured."""
    c, m = facts["config"], facts["test_metrics"]
    lines = [
        "# The shipped FER-Zoo model",
        "",
        f"`{SHIPPED_MODEL.name}` ({facts['size_kib']:.0f} KiB): the default model of "
        "`ferlib predict`. Written by `ferlib ship-model`; do not edit by hand.",
        "",
        "## What it is",
        f"- **Method / trunk**: {c['method']} on a `{c['backbone']}` trunk, "
        f"{c['image_size']} px RGB input, {facts['parameters']:,} parameters.",
        f"- **Data**: DiffusionFER-S (cropped Stable-Diffusion faces, CC0), its development "
        f"set: {facts['data']}; data fingerprint `{facts['data_digest']}`.",
        f"- **Recipe**: params profile `{facts['profile']}`: {c['epochs']} epochs, batch "
        f"{c['batch_size']}, Adam lr {c['lr']}, milestones {c['milestones']}, seed {c['seed']}"
        + (f"; augmentation {facts['augmentation']}" if facts.get("augmentation") else "")
        + ".",
        "- **Input**: a face crop as `ferlib predict` cuts it (the detector's box mapped to the "
        "DiffusionFER-S framing by its measured crop frame, square, resized), or a "
        "pre-cropped face with `--no-detect`.",
        "",
        "## Test metrics (held-out test split of the development set)",
        "",
        "| | CCC | PCC | RMSE | SAGR |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {name} | {m['ccc_' + d]:.3f} | {m['pcc_' + d]:.3f} | {m['rmse_' + d]:.3f} "
            f"| {m['sagr_' + d]:.3f} |"
            for d, name in (("v", "valence"), ("a", "arousal"))
        ),
        "",
        f"Mean CCC {m['ccc_mean']:.3f} on {m['n']} test images (one seed; the split is small, "
        "so treat the third decimal as noise).",
    ]
    if facts.get("robustness"):
        lines += [
            "",
            "## Robustness (test split under image shifts)",
            "",
            "Mean CCC clean and under each shift of `ferlib.evaluation.shifts` (seed 0); "
            "`drop` is clean minus shifted. The same as `ferlib evaluate --checkpoint "
            "ferlib/shipped/model.pt --data-dir DIR --split test --shift all --markdown`.",
            "",
            facts["robustness"],
        ]
    if facts.get("without_augmentation"):
        lines += [
            "",
            "The same recipe without its augmentation (trained by the same command, for "
            "comparison; not shipped):",
            "",
            facts["without_augmentation"]["robustness"],
        ]
    lines += [
        "",
        "## Rebuild",
        "",
        "```bash",
        facts["command"],
        "```",
        "",
        f"Weight digest (SHA-256 over the tensors): `{facts['weight_digest']}`. Built with torch "
        f"{facts['torch']} on {facts['machine']} with one thread; a rebuild with the same software "
        "and thread count on a CPU gives the same digest (other thread counts or hardware can "
        "change the last bits, and with them the digest).",
        "",
        "## What it must not be used for",
        "- Decisions about people: hiring, grading, policing, insurance, health or any judgement "
        "of a person's feelings or character. Valence and arousal of a face are how an "
        "expression *looks*, not what a person feels.",
        "- Faces unlike its training data without checking first: it has seen only generated, "
        "frontal, well-lit faces of adults; real photographs, profile views, children, "
        "occlusions and low light are outside it (see the robustness table).",
        "- Surveillance or identification: it has no notion of identity and must not be used to "
        "track people.",
        "",
    ]
    return "\n".join(lines)


def robustness_of(model: torch.nn.Module, test: Any, image_size: int, seed: int = 0) -> str:
    """The markdown robustness table of ``model`` on a test split (``FERData`` with its tensor
    store), under every shift."""
    from ..evaluation.robustness import robustness_markdown, robustness_table
    from ..evaluation.shifts import SHIFTS

    table = robustness_table(model, test, image_size, list(SHIFTS), seed=seed)
    return robustness_markdown(table)


def build_shipped_model(
    config: dict[str, Any],
    command: str,
    profile: str,
    out_dir: str | os.PathLike[str] = SHIPPED_DIR,
) -> dict[str, Any]:
    """Train (or reuse) the run of ``config``, export it into ``out_dir`` with its card."""
    from ..data import load_from_config
    from ..models import parameter_count
    from ..runs.store import fit_or_load

    data = load_from_config(config)  # once: the runs, their tests and the card share it
    test, size = data.subset("test"), config["image_size"]
    result = fit_or_load(config, data=data)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / SHIPPED_MODEL.name
    export_checkpoint(result.out_dir / ckpt.BEST, model_path)
    metrics = result.metrics
    facts = {
        "profile": profile,
        "command": command,
        "config": {k: v for k, v in result.config.items() if k != "data_dir"},
        "augmentation": {k: v for k, v in result.config.items() if k.startswith("aug_") and v},
        "test_metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
        "data": data.summary(),
        "data_digest": (result.metrics.get("data") or {}).get("digest"),
        "parameters": parameter_count(result.model),
        "size_kib": model_path.stat().st_size / 1024,
        "weight_digest": weight_digest(model_path),
        "torch": torch.__version__,
        "machine": f"{platform.machine()} {platform.system()}",
        "robustness": robustness_of(result.model, test, size),
    }
    plain = {k: (0.0 if k.startswith("aug_") else v) for k, v in config.items()}
    if plain != config:  # the same recipe without augmentation: what augmentation bought
        ablation = fit_or_load(plain, data=data)
        facts["without_augmentation"] = {
            "test_metrics": {
                k: v for k, v in ablation.metrics.items() if isinstance(v, (int, float))
            },
            "robustness": robustness_of(ablation.model, test, size),
        }
    (out_dir / SHIPPED_FACTS.name).write_text(metrics_json(facts) + "\n")  # NaN as null
    (out_dir / SHIPPED_CARD.name).write_text(card_markdown(facts))
    return facts


def ship_model(
    data_dir: str | os.PathLike[str],
    profile: str = "robust",
    sets: list[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """``ferlib ship-model``: the Baseline of ``profile`` (with the ``--set`` items ``sets``)
    trained on the release at ``data_dir`` and exported (``build_shipped_model``); its card
    records the command that rebuilds it."""
    from ..params import parse_set, resolve_config

    overrides = parse_set(sets)
    overrides["data_dir"] = data_dir
    overrides["method"] = "baseline"
    config = resolve_config(profile, overrides)
    command = f"OMP_NUM_THREADS=1 ferlib ship-model --params {profile} --data-dir DIR" + (
        f" --set {' '.join(sets)}" if sets else ""
    )
    return build_shipped_model(config, command, profile, out_dir or SHIPPED_DIR)


def shipped_line(facts: dict[str, Any]) -> str:
    """``ship_model``'s facts in one line: test scores, size and weight digest."""
    m = facts["test_metrics"]
    return (
        f"shipped model: test mean CCC {m['ccc_mean']:.3f} (v {m['ccc_v']:.3f}, "
        f"a {m['ccc_a']:.3f}), {facts['size_kib']:.0f} KiB, digest {facts['weight_digest'][:16]}"
    )


__all__ = [
    "SHIPPED_CARD",
    "SHIPPED_DIR",
    "SHIPPED_FACTS",
    "SHIPPED_MODEL",
    "build_shipped_model",
    "card_markdown",
    "default_checkpoint",
    "export_checkpoint",
    "ship_model",
    "shipped_facts",
    "shipped_line",
    "weight_digest",
]
