"""The model that ships inside the package, so that ``ferlib predict photo.jpg`` works offline
on a fresh clone without training.

``build_shipped_model`` is the one way it is made: train the runs of a params profile on
DiffusionFER-S (through the trainer, like any run: one per ensemble member, seeds ``seed`` to
``seed + members - 1``), write their best checkpoints as one file with the machine-specific data
path removed (one model, or an ensemble with optional horizontal-flip test-time augmentation,
``models.Ensemble``), score it on the test split (clean, and under every image shift of
``evaluation.shifts``) as ``ferlib evaluate`` scores it, time it per face, train the same recipe
without its augmentation to show what the augmentation buys, and write the model card beside it.
The means (members, flip) are the ones ``ferlib ship-study`` kept on the validation split
(``docs/results/ship_study.csv``, which the card shows with the peer table of ``ferlib peers``).
The card records the command and the weight digest, so a rebuild can be checked bit for bit.

Taught in ``notebooks/40_real_faces.ipynb`` §1.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..evaluation.metrics import metrics_json
from ..paths import results_home
from ..training import checkpoint as ckpt

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "shipped"
SHIPPED_MODEL = SHIPPED_DIR / "model.pt"
SHIPPED_CARD = SHIPPED_DIR / "MODEL_CARD.md"
SHIPPED_FACTS = SHIPPED_DIR / "card.json"
RESULTS_DIR = results_home()
PEERS_CSV = RESULTS_DIR / "peers_diffusionfer_test.csv"
"""``ferlib peers --data-dir DIR --out docs/results``'s table, which the card shows."""
SHIPPED_MEMBERS = 3
SHIPPED_HFLIP = True
SHIPPED_SETS = ("width=2",)
"""The means ``ferlib ship-study`` kept on validation (``docs/results/ship_study.csv``): an
ensemble of three seeds of the recipe at width 2, each reading the picture and its mirror
image (``ferlib ship-model``'s defaults)."""
LATENCY_CROPS = 100
"""Validation crops timed one at a time for the card's time per face."""
MAX_DROP = 0.05
"""The robustness goal the card checks: no shift costs more mean CCC than this."""
MIN_CCC = 0.88
"""The test mean CCC goal the card checks (issue 25)."""


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


def portable(source: str | os.PathLike[str]) -> dict[str, Any]:
    """A run's checkpoint content without what is specific to the machine that trained it."""
    blob = ckpt.load(source)
    config = dict(blob["config"])
    config["data_dir"] = None  # where the data sat on the training machine means nothing here
    blob["config"] = config
    return blob


def export_checkpoint(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Copy a run's best checkpoint without what is specific to the machine that trained it."""
    ckpt.save(portable(source), target)


def export_ensemble(
    sources: list[Path], target: str | os.PathLike[str], hflip: bool = False
) -> None:
    """The runs' best checkpoints as one file: a single model as it is (one run, no flip), else
    an ensemble (``training.checkpoint.ensemble_checkpoint``)."""
    if len(sources) == 1 and not hflip:
        export_checkpoint(sources[0], target)
        return
    blobs = [portable(source) for source in sources]
    ckpt.save(ckpt.ensemble_checkpoint(blobs, hflip), target)


def what_it_is(facts: dict[str, Any]) -> list[str]:
    """The card's first section: method, members, data, recipe, input."""
    c = facts["config"]
    members, seeds = facts.get("members", 1), facts.get("seeds", [c["seed"]])
    model = f"{c['method']} on a `{c['backbone']}` trunk, {c['image_size']} px RGB input"
    if members > 1:
        model += f"; an ensemble of {members} runs of the recipe (seeds {seeds[0]}–{seeds[-1]})"
    if facts.get("hflip"):
        model += ", each reading the face and its mirror image"
    if members > 1 or facts.get("hflip"):
        model += "; the predictions averaged (`ferlib.models.Ensemble`)"
    return [
        "## What it is",
        f"- **Method / trunk**: {model}; {facts['parameters']:,} parameters in all.",
        f"- **Data**: DiffusionFER-S (cropped Stable-Diffusion faces, CC0), its development "
        f"set: {facts['data']}; data fingerprint `{facts['data_digest']}`. Every member was "
        "trained on the train split only; nothing was trained on another model's outputs.",
        f"- **Recipe**: params profile `{facts['profile']}`: {c['epochs']} epochs, batch "
        f"{c['batch_size']}, Adam lr {c['lr']}, milestones {c['milestones']}, best epoch on "
        "validation mean CCC"
        + (f"; augmentation {facts['augmentation']}" if facts.get("augmentation") else "")
        + ".",
        "- **Input**: a face crop as `ferlib predict` cuts it (the detector's box mapped to the "
        "DiffusionFER-S framing by its measured crop frame, square, resized), or a "
        "pre-cropped face with `--no-detect`.",
    ]


def study_section(facts: dict[str, Any], study: pd.DataFrame | None) -> list[str]:
    """Why this model: the ``ferlib ship-study`` table (validation split), what was kept, and
    this model's row."""
    from .ship_study import RESULT_NAME, study_markdown

    if study is None:
        return [f"## Why this model\n\n(`docs/results/{RESULT_NAME}` is not here to show.)"]
    kept = study.loc[study["verdict"].str.startswith("kept"), "candidate"].tolist()
    return [
        "## Why this model (validation evidence)",
        "",
        f"Every means was measured on the validation split only, by `OMP_NUM_THREADS=1 ferlib "
        f"ship-study --data-dir DIR` (`docs/results/{RESULT_NAME}`): mean CCC with its 95 % "
        "bootstrap interval (over the validation images, and over seeds for seed means); "
        "valence sign (balanced accuracy, happy against sad/angry/disgust/fear) and arousal "
        "order (AUC, surprise/fear/angry against neutral/sad), against the emotion folders as "
        "`ferlib peers` scores them; the mean and the worst drop of mean CCC over the shifts of "
        "the robustness table; the difference from the row it is compared with, with its paired "
        "interval, clean and under the reference's worst shift. A means is kept only when its "
        "difference's interval lies above zero. Each run's checkpoint is its best epoch on "
        "validation, so every row is a little optimistic alike.",
        "",
        study_markdown(study),
        "",
        "Kept on validation: " + ("; ".join(kept) if kept else "none") + ".",
        *choice_lines(facts, study),
    ]


def this_row(facts: dict[str, Any], study: pd.DataFrame) -> dict | None:
    """The study's row of this model (its members, flip and ``--set`` items), if any."""
    from .ship_study import study_row

    sets = " ".join(facts.get("sets") or [])
    return study_row(study, facts.get("members", 1), bool(facts.get("hflip")), sets)


def choice_lines(facts: dict[str, Any], study: pd.DataFrame) -> list[str]:
    """Which row this model is, where it stands among the kept ones, and each step's reading."""
    row = this_row(facts, study)
    if row is None:
        return ["", "(This model is none of the study's candidates.)"]
    kept = study[study["verdict"].str.startswith("kept")]
    best = bool(len(kept)) and row["ccc_mean"] >= kept["ccc_mean"].max()
    rank = "the highest of the kept candidates" if best else "not the highest of the kept ones"
    lines = [
        "",
        f"Shipped: **{row['candidate']}** ({row['means']}): validation mean CCC "
        f"{row['ccc_mean']:.3f}, {rank}; {delta_text(row)} against the reference, "
        f"{delta_text(row, 'shifted_')} under {row['shifted']}. The steps between candidates:",
        "",
    ]
    steps = study[study["candidate"].str.startswith("step:")].to_dict("records")
    lines += [
        f"- {r['candidate']}: {delta_text(r)} against {r['versus']}, {r['verdict']}." for r in steps
    ]
    return lines + step_reasons(facts, study)


def delta_text(row: dict, prefix: str = "") -> str:
    """A study row's difference with its interval: ``+0.012 [+0.003, +0.020]``."""
    from .ship_study import interval_text

    d, low, high = (row[f"{prefix}diff{end}"] for end in ("", "_low", "_high"))
    return interval_text(d, low, high, signed=True)


def step_reasons(facts: dict[str, Any], study: pd.DataFrame) -> list[str]:
    """Why a step within its interval was left out (members) or kept (flip), from the rows."""
    rows = study.set_index("candidate")
    lines = []
    more = rows.loc["step: 5 members, not 3"] if "step: 5 members, not 3" in rows.index else None
    if more is not None and facts.get("members") == 3 and more["diff_low"] <= 0:
        lines.append(
            "Three members, not five: five did not beat three beyond the interval, and three "
            "are smaller and faster."
        )
    flip = "step: hflip on ensemble ×5"
    alone = rows.loc["hflip TTA"] if "hflip TTA" in rows.index else None
    if facts.get("hflip") and flip in rows.index and alone is not None:
        step = rows.loc[flip]
        if step["diff_low"] <= 0 and step["diff"] >= 0 and alone["diff_low"] > 0:
            lines.append(
                "Flip TTA is kept although its step on an ensemble stayed within its interval: "
                "alone it is above its interval, on the ensemble it cost nothing on validation, "
                "and a face and its mirror image then read the same."
            )
    return [part for line in lines for part in ("", line)]


def metrics_section(facts: dict[str, Any]) -> list[str]:
    """The test metrics (one run of the test split, for this model only)."""
    m = facts["test_metrics"]
    return [
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
        f"Mean CCC {m['ccc_mean']:.3f} on {m['n']} test images (one evaluation of this model "
        "on the test split, after every choice was made on validation; the split is small, so "
        "treat the third decimal as noise). Goal, test mean CCC ≥ "
        f"{MIN_CCC}: {'met' if m['ccc_mean'] >= MIN_CCC else '**not met**'}.",
    ]


def goal_lines(facts: dict[str, Any], study: pd.DataFrame | None) -> list[str]:
    """Whether every shift's drop is within ``MAX_DROP`` on test, and on validation (the
    study's row of this model)."""
    drops = facts.get("drops")
    if not drops:
        return []
    over = {k: v for k, v in drops.items() if v > MAX_DROP}
    said = ", ".join(f"{k} {v:+.3f}" for k, v in over.items())
    text = f"Goal, every shift's drop ≤ {MAX_DROP}: on test " + (
        f"**not met** ({said})" if over else "met"
    )
    row = None if study is None else this_row(facts, study)
    if row is not None:
        met = row["worst_drop"] <= MAX_DROP
        text += f"; on validation (the study) {'met' if met else '**not met**'}: worst drop "
        text += f"{row['worst_drop']:+.3f} ({row['worst_shift']})"
    return ["", text + "."]


def robustness_section(facts: dict[str, Any], study: pd.DataFrame | None = None) -> list[str]:
    """The robustness table, the goal read off it, and the same recipe without augmentation."""
    lines = [
        "## Robustness (test split under image shifts)",
        "",
        "Mean CCC clean and under each shift of `ferlib.evaluation.shifts` (seed 0); "
        "`drop` is clean minus shifted. The same as `ferlib evaluate --checkpoint "
        "ferlib/shipped/model.pt --data-dir DIR --split test --shift all --markdown`.",
        "",
        facts["robustness"],
    ]
    lines += goal_lines(facts, study)
    if facts.get("without_augmentation"):
        lines += [
            "",
            "One run (seed 0) of the same recipe without its augmentation (trained by the same "
            "command, for comparison; not shipped):",
            "",
            facts["without_augmentation"]["robustness"],
        ]
    return lines


def threads_text(threads: int) -> str:
    """``one CPU thread`` or ``N CPU threads``."""
    return "one CPU thread" if threads == 1 else f"{threads} CPU threads"


def speed_section(facts: dict[str, Any]) -> list[str]:
    """Size and time per face."""
    lines = ["## Size and speed", "", f"- File: {facts['size_kib']:.0f} KiB."]
    latency = facts.get("latency")
    if latency:
        lines.append(
            f"- Predict time per face after detection: {latency['ms per face']:.1f} ms (median; "
            f"95th percentile {latency['95th pct']:.1f} ms) on {threads_text(latency['threads'])} "
            f"of the build machine, one of {latency['faces']} validation crops at a "
            "time (cut, resize, model, row), measured when it was built; "
            "`ferlib bench-faces --parts latency --data-dir DIR` measures it on yours."
        )
    return lines


def peers_section(facts: dict[str, Any], peers: pd.DataFrame | None) -> list[str]:
    """The ``ferlib peers`` table on DiffusionFER-S test, if it was made with this model."""
    from .peers import peers_markdown

    head = ["## Beside a peer (DiffusionFER-S test split)", ""]
    if peers is None:
        return [*head, "(No `docs/results/peers_diffusionfer_test.csv` here to show.)"]
    if not peers_match(facts, peers):
        return [
            *head,
            "(The committed peer table was made with another model: run `ferlib peers "
            "--data-dir DIR --out docs/results`, then `ferlib ship-model --card-only`.)",
        ]
    return [
        *head,
        "`ferlib peers --data-dir DIR --out docs/results` (`docs/results/"
        f"{PEERS_CSV.name}`): this model and `fer`'s CNN (FER2013, mini-Xception, MIT) on the "
        f"same {int(peers['n'].max())} crops, each on the whole crop and with its own face "
        'detector; "own": each '
        'model on the inputs it gave an output for, "common": on those all gave one for. '
        "`fer` gives classes, so its valence and arousal are read off its posterior and it has "
        "no CCC. Peers are yardsticks: nothing here was trained on their outputs.",
        "",
        peers_markdown(peers),
    ]


def peers_match(facts: dict[str, Any], peers: pd.DataFrame, tol: float = 5e-4) -> bool:
    """Whether the peer table's whole-picture shipped row has this model's test CCCs."""
    rows = peers[(peers["model"] == "shipped (whole picture)") & (peers["inputs"] == "own")]
    m = facts["test_metrics"]
    return len(rows) == 1 and all(
        abs(float(rows.iloc[0][f"{name} CCC"]) - m[f"ccc_{d}"]) <= tol
        for d, name in (("v", "valence"), ("a", "arousal"))
    )


REAL_PHOTOS = (
    "## Real photographs",
    "",
    "This project has no labelled real photographs it may use, so how the model reads real "
    "photographs (issue 25's goals: valence sign ≥ 0.92 and arousal order ≥ 0.80 on every real "
    "set) is **not measured here**. The proxies it has are the validation columns of the study "
    "above (valence sign and arousal order on DiffusionFER-S validation), the same scores on "
    "the test split in the peer table, and the robustness table: generated faces and image "
    "shifts, not the faces, cameras and lighting of real photographs. Score it on your own "
    "labelled photos with `ferlib peers --photos FOLDER` before relying on it.",
)


def card_markdown(
    facts: dict[str, Any], study: pd.DataFrame | None = None, peers: pd.DataFrame | None = None
) -> str:
    """The model card (``MODEL_CARD.md``) from the facts ``build_shipped_model`` measured, the
    study table (``ferlib ship-study``) and the peer table (``ferlib peers``)."""
    lines = [
        "# The shipped FER-Zoo model",
        "",
        f"`{SHIPPED_MODEL.name}` ({facts['size_kib']:.0f} KiB): the default model of "
        "`ferlib predict`. Written by `ferlib ship-model`; do not edit by hand.",
        "",
        *what_it_is(facts),
        "",
        *study_section(facts, study),
        "",
        *metrics_section(facts),
        "",
        *robustness_section(facts, study),
        "",
        *speed_section(facts),
        "",
        *peers_section(facts, peers),
        "",
        *REAL_PHOTOS,
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
        'occlusions and low light are outside it (see the robustness table and "Real '
        'photographs").',
        "- Surveillance or identification: it has no notion of identity and must not be used to "
        "track people.",
        "",
    ]
    return "\n".join(lines)


def committed_tables() -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The committed study and peer tables (None where a file is absent)."""
    from .peers import read_peers
    from .ship_study import RESULT_NAME, read_study

    study = RESULTS_DIR / RESULT_NAME
    return (
        read_study(study) if study.is_file() else None,
        read_peers(PEERS_CSV) if PEERS_CSV.is_file() else None,
    )


def write_card(facts: dict[str, Any], out_dir: str | os.PathLike[str]) -> Path:
    """``card.json`` and ``MODEL_CARD.md`` in ``out_dir``, the card with the committed tables
    (each file whole or not at all, ``atomic.atomic_write_text``)."""
    from ..atomic import atomic_write_text

    out = Path(out_dir)
    atomic_write_text(metrics_json(facts) + "\n", out / SHIPPED_FACTS.name)  # NaN as null
    path = out / SHIPPED_CARD.name
    atomic_write_text(card_markdown(facts, *committed_tables()), path)
    return path


def rewrite_card(out_dir: str | os.PathLike[str] | None = None) -> Path:
    """``ferlib ship-model --card-only``: the card again from ``card.json`` and the committed
    tables (after ``ferlib ship-study`` or ``ferlib peers`` rewrote them); no training."""
    out = Path(out_dir or SHIPPED_DIR)
    facts_path = out / SHIPPED_FACTS.name
    if not facts_path.is_file():
        raise FileNotFoundError(f"{facts_path}: no card facts; run `ferlib ship-model` first")
    return write_card(json.loads(facts_path.read_text()), out)


def robustness_facts(model: torch.nn.Module, test: Any, image_size: int) -> dict[str, Any]:
    """The robustness table of ``model`` on a test split (``FERData`` with its tensor store)
    under every shift, as Markdown, and each shift's drop."""
    from ..evaluation.robustness import robustness_markdown, robustness_table
    from ..evaluation.shifts import SHIFTS

    table = robustness_table(model, test, image_size, list(SHIFTS))
    drops = {r.shift: float(r.drop) for r in table.itertuples() if r.shift != "clean"}
    return {"robustness": robustness_markdown(table), "drops": drops}


@dataclass(frozen=True)
class ShipOptions:
    """What ``ferlib ship-model`` builds: the ``profile`` with its ``--set`` items, the number
    of ensemble members (seeds ``seed`` on) and the flip test-time augmentation."""

    profile: str = "robust"
    sets: tuple[str, ...] | list[str] | None = SHIPPED_SETS
    members: int = SHIPPED_MEMBERS
    hflip: bool = SHIPPED_HFLIP

    def __post_init__(self) -> None:
        from ..errors import UserError
        from ..training.checkpoint import MAX_MEMBERS

        if not 1 <= self.members <= MAX_MEMBERS:
            raise UserError(f"--members must be 1 to {MAX_MEMBERS}, not {self.members}")

    def command(self) -> str:
        """The command line that rebuilds this model."""
        flip = "--hflip" if self.hflip else "--no-hflip"
        text = f"OMP_NUM_THREADS=1 ferlib ship-model --params {self.profile} --data-dir DIR"
        text += f" --members {self.members} {flip}"
        return text + (f" --set {' '.join(self.sets)}" if self.sets else "")


def train_members(config: dict[str, Any], members: int, data: Any) -> list[Any]:
    """The finished runs of ``config`` at seeds ``seed`` to ``seed + members - 1`` (trained
    where missing, ``runs.parallel.finished_runs``)."""
    from ..runs.parallel import finished_runs

    return finished_runs([{**config, "seed": config["seed"] + i} for i in range(members)], data)


def scored_facts(model_path: Path, config: dict[str, Any], data: Any) -> dict[str, Any]:
    """The exported model scored as ``ferlib evaluate`` scores it (test split), its robustness,
    size, parameters, digest and time per face (on ``data``'s validation crops)."""
    from ..models import parameter_count
    from .evaluate import load_for_scoring, split_metrics

    run = load_for_scoring(str(model_path), "test", data_dir=config["data_dir"])
    metrics = split_metrics(run)
    facts = {
        "test_metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
        "parameters": parameter_count(run.model),
        "size_kib": model_path.stat().st_size / 1024,
        "weight_digest": weight_digest(model_path),
        **robustness_facts(run.model, run.data, config["image_size"]),
    }
    facts["latency"] = latency_facts(model_path, data)
    return facts


def latency_facts(model_path: Path, data: Any) -> dict[str, Any]:
    """``bench.face_latency`` of the model on the first ``LATENCY_CROPS`` validation crops of
    ``data`` (``FERData``), at the current thread count (one, under ``OMP_NUM_THREADS=1``)."""
    import numpy as np

    from ..data.images import read_rgb
    from .bench import face_latency

    val = data.subset("val").frame
    crops = [np.asarray(read_rgb(path)[0]) for path in val["path"][:LATENCY_CROPS]]
    timing = face_latency(model_path, crops)
    return {**timing, "threads": torch.get_num_threads(), "faces": len(crops)}


def build_shipped_model(
    config: dict[str, Any],
    options: ShipOptions = ShipOptions(),
    out_dir: str | os.PathLike[str] = SHIPPED_DIR,
) -> dict[str, Any]:
    """Train (or reuse) the member runs of ``config``, export them into ``out_dir`` as one
    model, score it, and write its card."""
    from ..data import load_from_config

    data = load_from_config(config)  # once: runs, time per face and ablation share it
    runs = train_members(config, options.members, data)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / SHIPPED_MODEL.name
    export_ensemble([r.out_dir / ckpt.BEST for r in runs], model_path, options.hflip)
    first = runs[0].config
    facts = {
        "profile": options.profile,
        "command": options.command(),
        "config": {k: v for k, v in first.items() if k != "data_dir"},
        "members": options.members,
        "sets": list(options.sets or []),
        "seeds": [r.config["seed"] for r in runs],
        "hflip": options.hflip,
        "augmentation": {k: v for k, v in first.items() if k.startswith("aug_") and v},
        "data": data.summary(),
        "data_digest": (runs[0].metrics.get("data") or {}).get("digest"),
        **scored_facts(model_path, config, data),
        "torch": torch.__version__,
        "machine": f"{platform.machine()} {platform.system()}",
    }
    plain = {k: (0.0 if k.startswith("aug_") else v) for k, v in config.items()}
    if plain != config:  # the same recipe without augmentation: what augmentation bought
        from ..runs.store import fit_or_load

        ablation = fit_or_load(plain, data=data)
        test = data.subset("test")
        facts["without_augmentation"] = {
            "test_metrics": {
                k: v for k, v in ablation.metrics.items() if isinstance(v, (int, float))
            },
            **robustness_facts(ablation.model, test, config["image_size"]),
        }
    write_card(facts, out_dir)
    return facts


def ship_model(
    data_dir: str | os.PathLike[str],
    options: ShipOptions = ShipOptions(),
    out_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """``ferlib ship-model``: the Baseline of ``options.profile`` (with its ``--set`` items)
    trained on the release at ``data_dir``, ``options.members`` seeds, exported as one model
    (``build_shipped_model``); its card records the command that rebuilds it."""
    from .ship_study import shipped_recipe

    config = shipped_recipe(data_dir, options.profile, options.sets)
    return build_shipped_model(config, options, out_dir or SHIPPED_DIR)


def shipped_line(facts: dict[str, Any]) -> str:
    """``ship_model``'s facts in one line: test scores, size and weight digest."""
    m = facts["test_metrics"]
    return (
        f"shipped model: test mean CCC {m['ccc_mean']:.3f} (v {m['ccc_v']:.3f}, "
        f"a {m['ccc_a']:.3f}), {facts['size_kib']:.0f} KiB, digest {facts['weight_digest'][:16]}"
    )


__all__ = [
    "MAX_DROP",
    "MIN_CCC",
    "PEERS_CSV",
    "SHIPPED_CARD",
    "SHIPPED_DIR",
    "SHIPPED_FACTS",
    "SHIPPED_HFLIP",
    "SHIPPED_MEMBERS",
    "SHIPPED_MODEL",
    "SHIPPED_SETS",
    "ShipOptions",
    "build_shipped_model",
    "card_markdown",
    "committed_tables",
    "default_checkpoint",
    "export_checkpoint",
    "export_ensemble",
    "peers_match",
    "portable",
    "rewrite_card",
    "ship_model",
    "shipped_facts",
    "shipped_line",
    "weight_digest",
    "write_card",
]
