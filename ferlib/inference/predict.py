"""Valence and arousal for photos, folders and videos (``ferlib predict``).

The pipeline for one picture (a photo, or a frame sampled from a video):

1. find the faces (``faces.FaceDetector``) — or, with ``detect=False``, take the whole picture
   as one face, the way pre-cropped DiffusionFER-style images are read in training;
2. cut each face as the training crops were cut (``faces.square_box`` + ``faces.cut_face``) at
   the checkpoint's stored size, then the evaluation transform (centre crop) and normalisation;
3. run the model once on all faces of the picture, and name the nearest emotion on the
   circumplex (``emotions.nearest_emotion``) as a convenience label.

Pictures are read upright: photos by their EXIF orientation (``data.images.read_rgb``), video
frames by their display matrix (``video.upright``), as a phone's gallery shows them.

Every input gets a status, and one bad input never stops the others: ``ok``, ``no face``,
``too small``, ``cut by border`` (every face found was), ``non-finite output`` (the model gave
NaN or inf for every face: a broken checkpoint; such faces get no values), ``unreadable`` (an
image that cannot be decoded), ``decode error`` (a video that fails, possibly part-way: its
earlier frames stay), ``not an image or video``, ``no such file``, ``bad file name`` (not
valid UTF-8, or longer than the file system allows: shown with ``\\xNN`` escapes, not read)
and ``skipped`` (a folder holding ``ferlib predict``'s own outputs, marked by
``OUTPUT_MARKER``: its annotated pictures are never read back as photos). Videos are streamed
frame by frame, so memory does not grow with their length.

Taught in ``notebooks/40_real_faces.ipynb`` §2.
"""

from __future__ import annotations

import errno
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.cache import store_size
from ..data.images import CorruptImageError, fit_square, is_image_file, read_rgb
from ..data.transforms import eval_transform, normalize
from ..emotions import nearest_emotion
from ..training.checkpoint import load_model
from . import faces as F
from .video import VideoDecodeError, is_video_file, sample_frames, video_info

NO_SUCH_FILE = "no such file"
NOT_MEDIA = "not an image or video"
UNREADABLE = "unreadable"
DECODE_ERROR = "decode error"
NO_FACE = "no face"
NON_FINITE = "non-finite output"
BAD_NAME = "bad file name"
SKIPPED = "skipped"
OUTPUT_MARKER = ".ferlib-predict-output"
"""Empty file in each ``--out``/``--annotate`` folder: walking inputs leaves such folders out."""
NAME_MAX = 255  # bytes in one file name (ext4, XFS, APFS, NTFS)

ROW_FIELDS = (
    "source",
    "frame",
    "time",
    "face",
    "x",
    "y",
    "w",
    "h",
    "score",
    "outside",
    "status",
    "valence",
    "arousal",
    "emotion",
)


@dataclass
class InputStatus:
    """What happened to one input file: its kind, status, the reason, and how much came out."""

    source: str
    kind: str  # image | video | folder | other
    status: str
    reason: str = ""
    faces: int = 0  # faces predicted
    frames: int = 0  # pictures looked at (1 for an image)


@dataclass(frozen=True)
class Settings:
    """How faces are found and cut (the defaults are the ones ``ferlib bench-faces`` chose)."""

    detect: bool = True
    detector: str = F.DEFAULT_DETECTOR
    margin: float = F.DEFAULT_MARGIN
    min_face: int = F.DEFAULT_MIN_FACE
    fps: float | None = 2.0


@dataclass
class Prediction:
    """The rows (one per face, or per picture without a usable face) and one status per input."""

    rows: list[dict] = field(default_factory=list)
    inputs: list[InputStatus] = field(default_factory=list)

    def add(self, rows: list[dict], status: InputStatus) -> None:
        """One input's rows and status, in the order the inputs come."""
        self.rows.extend(rows)
        self.inputs.append(status)

    def summary(self) -> str:
        """``N inputs: a ok, b no face, …`` in the order the statuses first appear."""
        counts: dict[str, int] = {}
        for item in self.inputs:
            counts[item.status] = counts.get(item.status, 0) + 1
        parts = ", ".join(f"{n} {status}" for status, n in counts.items())
        return f"{len(self.inputs)} input{'s' * (len(self.inputs) != 1)}: {parts}"

    def to_json(self) -> dict:
        return {"inputs": [asdict(s) for s in self.inputs], "rows": self.rows}


# 1. Inputs -------------------------------------------------------------------------------------


def collect_inputs(paths: list[str | os.PathLike[str]]) -> list[tuple[Path, str]]:
    """Every input with its kind (``image``, ``video``, or ``other``/``missing``), folders walked
    recursively in sorted order, hidden files left out; a folder marked with ``OUTPUT_MARKER``
    is not walked (kind ``output``), a path the file system calls too long is kind ``bad name``.
    """
    found: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        try:
            if path.is_dir():
                found.extend(_walk(path))
            elif not path.exists():
                found.append((path, "missing"))
            else:
                found.append((path, _kind(path)))
        except OSError as err:
            if err.errno != errno.ENAMETOOLONG:
                raise
            found.append((path, "bad name"))
    return found


def _kind(path: Path) -> str:
    return "image" if is_image_file(path) else "video" if is_video_file(path) else "other"


def _walk(root: Path) -> list[tuple[Path, str]]:
    """The files under ``root`` (symbolic links to folders not followed, as ``Path.rglob``)."""
    found: list[tuple[Path, str]] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        outputs = {d for d in dirs if (here / d / OUTPUT_MARKER).is_file()}
        found.extend((here / d, "output") for d in outputs)
        dirs[:] = [d for d in dirs if d not in outputs]
        for name in files:
            child = here / name
            if name.startswith(".") or not child.is_file():
                continue
            found.append((child, _kind(child)))
    return sorted(found)


def shown_name(path: str | os.PathLike[str]) -> str:
    """``path`` as text that any file can hold: bytes that are not UTF-8 as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def name_problem(path: Path) -> str:
    """Why ``path`` cannot be read and reported faithfully ("" when it can)."""
    longest = max((len(os.fsencode(part)) for part in path.parts), default=0)
    if longest > NAME_MAX:
        return f"a name of {longest} bytes: the file system allows {NAME_MAX}"
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return r"not valid UTF-8, shown with \xNN escapes: rename it to predict it"
    return ""


# 2. One picture ---------------------------------------------------------------------------------


class FacePredictor:
    """A checkpoint plus the face settings: ``predict_picture`` gives the rows of one picture."""

    def __init__(self, checkpoint: str | os.PathLike[str], settings: Settings = Settings()):
        self.model, self.config = load_model(checkpoint)
        self.checkpoint = Path(checkpoint)
        self.settings = settings
        self.size = store_size(self.config["image_size"])
        self.crop = eval_transform(self.config["image_size"])
        self.detector = F.FaceDetector(settings.detector) if settings.detect else None

    def faces(self, image: np.ndarray) -> list[tuple[F.Face, str]]:
        """Each face in ``image`` with its outcome (the whole picture without detection)."""
        height, width = image.shape[:2]
        if self.detector is None:
            return [(F.Face((0, 0, width, height), math.nan), F.OK)]
        s = self.settings
        found = self.detector(image, min_size=min(16, s.min_face))
        return [(f, F.face_outcome(f, self.square(f), height, width, s.min_face)) for f in found]

    def square(self, face: F.Face) -> tuple[int, int, int, int]:
        """The crop square of ``face`` (the whole picture without detection)."""
        if self.detector is None:
            x, y, w, h = face.box
            return x, y, x + w, y + h
        return self.detector.square(face, self.settings.margin)

    def crops(self, image: np.ndarray, faces: list[F.Face]) -> torch.Tensor:
        """The model's input for ``faces``: N×3×S×S uint8, cut as the training crops were."""
        if self.detector is None:
            from PIL import Image

            square = fit_square(Image.fromarray(image), self.size)
            batch = [torch.from_numpy(np.asarray(square).copy()).permute(2, 0, 1)]
        else:
            batch = [
                torch.from_numpy(F.cut_face(image, self.square(f), self.size)).permute(2, 0, 1)
                for f in faces
            ]
        return self.crop(torch.stack(batch))

    @torch.no_grad()
    def va(self, crops: torch.Tensor) -> np.ndarray:
        """N×2 (valence, arousal) for a batch of uint8 crops."""
        return self.model(normalize(crops))[0].double().numpy()

    def predict_picture(self, image: np.ndarray, source: str, frame=None, time=None) -> list[dict]:
        """One row per face found (``too small``/``cut by border`` faces without VA, and
        ``non-finite output`` where the model gave NaN or inf), or one ``no face`` row."""
        found = self.faces(image)
        base = {"source": source, "frame": frame, "time": time}
        if not found:
            return [{**dict.fromkeys(ROW_FIELDS), **base, "status": NO_FACE}]
        usable = [f for f, outcome in found if outcome == F.OK]
        values = iter(self.va(self.crops(image, usable)) if usable else [])
        rows = []
        for index, (face, outcome) in enumerate(found):
            x, y, w, h = face.box
            row = {**base, "face": index, "x": x, "y": y, "w": w, "h": h}
            row.update(score=None if math.isnan(face.score) else round(face.score, 3))
            outside = F.outside_share(self.square(face), *image.shape[:2])
            row["outside"] = round(outside, 3)  # share of the crop padded from the edge
            row.update(status=outcome, valence=None, arousal=None, emotion=None)
            if outcome == F.OK:
                v, a = next(values)
                if math.isfinite(v) and math.isfinite(a):
                    row.update(valence=float(v), arousal=float(a), emotion=nearest_emotion(v, a))
                else:  # NaN or inf is never a prediction: no values, and a status that says so
                    row["status"] = NON_FINITE
            rows.append(row)
        return rows


# 3. Files and the batch ------------------------------------------------------------------------

OnPicture = Callable[[str, "int | None", np.ndarray, list[dict]], None]


def picture_status(rows: list[dict]) -> str:
    """``ok`` if any face was predicted, else ``non-finite output`` if the model ran on a face
    but gave NaN or inf, else the first face's outcome (or ``no face``)."""
    statuses = [r["status"] for r in rows]
    for status in (F.OK, NON_FINITE):
        if status in statuses:
            return status
    return statuses[0] if statuses else NO_FACE


def _non_finite_note(rows: list[dict]) -> str:
    """How many of the faces the model ran on gave NaN or inf ("" when none did)."""
    bad = sum(r["status"] == NON_FINITE for r in rows)
    ran = bad + sum(r["status"] == F.OK for r in rows)
    return f"{bad} of {ran} faces gave NaN or inf and have no values" if bad else ""


def _image_rows(
    predictor: FacePredictor, path: Path, on_picture: OnPicture | None
) -> tuple[list[dict], InputStatus]:
    try:
        img, _ = read_rgb(path)
    except CorruptImageError as err:
        return [], InputStatus(str(path), "image", UNREADABLE, str(err).split(": ", 1)[-1])
    image = np.asarray(img)
    rows = predictor.predict_picture(image, str(path))
    if on_picture is not None:
        on_picture(str(path), None, image, rows)
    ok = sum(r["status"] == F.OK for r in rows)
    status = picture_status(rows)
    reason = _non_finite_note(rows) if status == F.OK else _reason(status, predictor.settings)
    return rows, InputStatus(str(path), "image", status, reason, faces=ok, frames=1)


def _video_rows(
    predictor: FacePredictor, path: Path, on_picture: OnPicture | None, progress: bool
) -> tuple[list[dict], InputStatus]:
    from tqdm import tqdm

    rows: list[dict] = []
    status = InputStatus(str(path), "video", NO_FACE)
    try:
        total = video_info(path).sampled_count(predictor.settings.fps)
        frames = sample_frames(path, predictor.settings.fps)
        bar = tqdm(frames, total=total, desc=path.name, unit="frame", disable=not progress)
        for index, time, image in bar:
            picture = predictor.predict_picture(image, str(path), index, round(time, 3))
            if on_picture is not None:
                on_picture(str(path), index, image, picture)
            rows.extend(picture)
            status.frames += 1
    except VideoDecodeError as err:
        status.status, status.reason = DECODE_ERROR, str(err).split(": ", 1)[-1]
        if status.frames:
            status.reason += f" (after {status.frames} sampled frames, which are kept)"
    status.faces = sum(r["status"] == F.OK for r in rows)
    if status.status != DECODE_ERROR:
        framed = {r["frame"]: r for r in rows if r["status"] == F.OK}
        status.status = F.OK if framed else picture_status(rows) if rows else NO_FACE
        if status.status == F.OK:
            status.reason = f"a face in {len(framed)} of {status.frames} sampled frames"
            note = _non_finite_note(rows)
            status.reason += f"; {note}" if note else ""
        else:
            status.reason = _reason(status.status, predictor.settings)
    return rows, status


def _reason(status: str, settings: Settings) -> str:
    return {
        NO_FACE: f"the {settings.detector} detector found no face",
        F.TOO_SMALL: f"every face found is smaller than min_face={settings.min_face} px",
        F.CUT_BY_BORDER: (
            f"every face found has more than {F.MAX_BORDER_SHARE:.0%} of its crop outside the image"
        ),
        NON_FINITE: "the model gave NaN or inf for every face; its checkpoint is likely broken",
    }.get(status, "")


def iter_predictions(
    predictor: FacePredictor,
    paths: list[str | os.PathLike[str]],
    on_picture: OnPicture | None = None,
    progress: bool = False,
) -> Iterator[tuple[list[dict], InputStatus]]:
    """Rows and status of each input in turn (see the module doc for the statuses)."""
    from tqdm import tqdm

    inputs = collect_inputs(paths)
    for path, kind in tqdm(inputs, desc="inputs", unit="file", disable=not progress):
        status = _unread_status(path, kind)
        if status is not None:
            yield [], status
        elif kind == "image":
            yield _image_rows(predictor, path, on_picture)
        else:
            yield _video_rows(predictor, path, on_picture, progress)


def _unread_status(path: Path, kind: str) -> InputStatus | None:
    """The status of an input that is not read: an output folder, a bad name, a missing file,
    or not media (``None`` for an image or video to read)."""
    if kind == "output":
        reason = f"holds ferlib predict's outputs, marked by its {OUTPUT_MARKER} file"
        return InputStatus(str(path), "folder", SKIPPED, reason)
    problem = name_problem(path)
    if kind == "bad name":
        problem = problem or "the path is longer than the file system allows"
    if problem:
        shown_kind = kind if kind in ("image", "video") else "other"
        return InputStatus(shown_name(path), shown_kind, BAD_NAME, problem)
    if kind == "missing":
        return InputStatus(str(path), "other", NO_SUCH_FILE)
    if kind == "other":
        return InputStatus(str(path), "other", NOT_MEDIA, f"suffix {path.suffix!r}")
    return None


def predict(
    paths: list[str | os.PathLike[str]],
    checkpoint: str | os.PathLike[str],
    settings: Settings = Settings(),
    on_picture: OnPicture | None = None,
    progress: bool = False,
) -> Prediction:
    """Every input's rows and status (``ferlib predict`` without the writing)."""
    predictor = FacePredictor(checkpoint, settings)
    result = Prediction()
    for rows, status in iter_predictions(predictor, paths, on_picture, progress):
        result.add(rows, status)
    return result


# 4. Traces -------------------------------------------------------------------------------------


def main_face_trace(rows: list[dict], source: str) -> dict[str, np.ndarray]:
    """Per sampled frame of ``source``: time, and the valence/arousal of its largest predicted
    face (NaN where the frame had none) — the trace of the video's main subject."""
    frames: dict[int, tuple[float, float, float, float]] = {}
    for r in rows:
        if r["source"] != source or r["frame"] is None:
            continue
        best = frames.get(r["frame"], (r["time"], -1.0, math.nan, math.nan))
        if r["status"] == F.OK and r["w"] * r["h"] > best[1]:
            best = (r["time"], r["w"] * r["h"], r["valence"], r["arousal"])
        frames[r["frame"]] = best
    order = sorted(frames)
    table = np.array([frames[k] for k in order], dtype=float).reshape(-1, 4)
    return {
        "frame": np.array(order),
        "time": table[:, 0],
        "valence": table[:, 2],
        "arousal": table[:, 3],
    }


def smooth(times: np.ndarray, values: np.ndarray, seconds: float) -> np.ndarray:
    """Centred moving average over a ``seconds`` window, by time, ignoring NaN frames.

    A frame whose window holds no predicted face stays NaN: smoothing never invents a value
    across a gap longer than the window.
    """
    if seconds <= 0:
        return values.copy()
    out = np.full_like(values, np.nan)
    valid = ~np.isnan(values)
    for i, t in enumerate(times):
        window = valid & (np.abs(times - t) <= seconds / 2)
        if window.any():
            out[i] = values[window].mean()
    return out


__all__ = [
    "BAD_NAME",
    "DECODE_ERROR",
    "NOT_MEDIA",
    "NO_FACE",
    "NON_FINITE",
    "NO_SUCH_FILE",
    "OUTPUT_MARKER",
    "SKIPPED",
    "ROW_FIELDS",
    "UNREADABLE",
    "FacePredictor",
    "InputStatus",
    "Prediction",
    "Settings",
    "collect_inputs",
    "iter_predictions",
    "main_face_trace",
    "name_problem",
    "picture_status",
    "predict",
    "shown_name",
    "smooth",
]
