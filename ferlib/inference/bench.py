"""The measurements behind ``ferlib predict``'s defaults (``ferlib bench-faces``).

DiffusionFER-S images are tight face crops, so they can be put back into larger pictures whose
truth is known: where each face is, and what the model says about the original crop.

0. ``geometry_table``: where each detector's box sits in a training crop (the crop frame).
1. ``detector_table``: every detector on composite scenes (one to three faces per canvas, at
   random sizes, rotations and positions on a textured background; some cut by the border):
   share of faces found, false detections per scene, and speed.
2. ``margin_table``: each validation crop padded into a canvas twice its size, detected back
   and cut with several margins; how far the predictions move from those on the original crop,
   and the CCC against the labels. The default margin is the one that moves them least.
3. ``scale_table``: the same at several face sizes: the share found, and how far predictions
   move as the face gets small. ``min_face`` is set where they start to move a lot.
4. ``decoder_table``: frames per second of PyAV, OpenCV and torchcodec decoding one clip;
   ``memory_table``: peak memory of ``ferlib predict`` on a short and a six-times longer video.
5. ``photos_table``: ``ferlib predict`` on folders of photos (``photo_folder``: one face each,
   some stored sideways with an EXIF orientation, as phones store portraits), each in a fresh
   process: photos per second and peak memory, for a tenth of the photos and for all of them
   (if photos are read one at a time, more photos do not need more memory).
6. ``latency_table``: the model's time per face after detection (``ferlib predict
   --no-detect`` on one validation crop at a time: cut, resize, model, row), at one thread and
   at the machine's default.

``bench_faces`` runs the chosen parts on a DiffusionFER-S release, part by part, as headings and
``Table``s (``box_detectors``: each detector as one function of a picture to its boxes).
Everything is seeded; the tables are the README's ("Real faces").
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data import load_dataset
from ..data.images import read_rgb
from ..evaluation.metrics import va_scores
from ..paths import display_path
from ..synthetic.clip import ClipConfig, render_clip
from . import faces as F
from .examples import colour_field
from .predict import FacePredictor, Settings
from .shipped import default_checkpoint
from .video import video_info, write_video

SCENE = (640, 480)
PARTS = ("geometry", "detectors", "crops", "decoders", "memory", "photos", "latency")
"""The parts of ``ferlib bench-faces``, in the order they run."""

Boxes = Callable[[np.ndarray], list[tuple[int, int, int, int]]]
"""A detector as one function: an RGB picture to its face boxes ``(x, y, w, h)``."""


def _texture(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A scene's background: a random colour field, finer and wider in range than the demos'."""
    return colour_field(rng, width, height, cell=32, low=40, high=220, pad=1)


def _paste(canvas: Image.Image, face: Image.Image, x: int, y: int, angle: float) -> None:
    """Paste ``face`` at (x, y), rotated by ``angle`` degrees (its corners stay background)."""
    if angle:
        mask = Image.new("L", face.size, 255).rotate(angle, resample=Image.BILINEAR)
        face = face.rotate(angle, resample=Image.BILINEAR)
        canvas.paste(face, (x, y), mask)
    else:
        canvas.paste(face, (x, y))


def face_box_of_crop(x: int, y: int, side: int) -> tuple[int, int, int, int]:
    """Where a detector's box sits in a pasted DiffusionFER-S crop (crop side ≈ 1.09 × box)."""
    box = side / 1.09
    return (round(x + (side - box) / 2), round(y + (side - box) / 2), round(box), round(box))


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def make_scenes(
    paths: Sequence[Path], count: int, seed: int = 0
) -> list[tuple[np.ndarray, list[dict]]]:
    """``count`` scenes of 1–3 faces: sizes 40–220 px, rotation 0/±15/±30°, 1 in 6 at a border."""
    rng = np.random.default_rng(seed)
    scenes = []
    for _ in range(count):
        canvas = _texture(rng, *SCENE)
        truth = []
        for _ in range(rng.integers(1, 4)):
            side = int(rng.integers(40, 221))
            angle = float(rng.choice([0, 0, 15, -15, 30, -30]))
            if rng.uniform() < 1 / 6:  # cut by the left or right border by up to a third
                x = int(rng.choice([-side // 3, SCENE[0] - side + side // 3]))
            else:
                x = int(rng.integers(0, SCENE[0] - side))
            y = int(rng.integers(0, SCENE[1] - side))
            if any(
                iou((x, y, side, side), (t["x"], t["y"], t["side"], t["side"])) > 0 for t in truth
            ):
                continue
            img = read_rgb(paths[int(rng.integers(len(paths)))])[0].resize((side, side))
            _paste(canvas, img, x, y, angle)
            truth.append({"x": x, "y": y, "side": side, "angle": abs(angle)})
        scenes.append((np.asarray(canvas), truth))
    return scenes


def detector_table(
    scenes: list[tuple[np.ndarray, list[dict]]],
    detectors: dict[str, Callable[[np.ndarray], list[tuple[int, int, int, int]]]],
) -> list[dict]:
    """Per detector: faces found (IoU ≥ 0.4) overall, upright, rotated, small (< 80 px); false
    detections per scene; milliseconds per scene."""
    rows = []
    for name, detect in detectors.items():
        found = {"all": [], "upright": [], "rotated 15-30°": [], "small (<80 px)": []}
        false, seconds = 0, 0.0
        for image, truth in scenes:
            start = time.perf_counter()
            boxes = detect(image)
            seconds += time.perf_counter() - start
            expected = [face_box_of_crop(t["x"], t["y"], t["side"]) for t in truth]
            matched = [any(iou(e, b) >= 0.4 for b in boxes) for e in expected]
            false += sum(not any(iou(e, b) >= 0.4 for e in expected) for b in boxes)
            for t, hit in zip(truth, matched, strict=True):
                found["all"].append(hit)
                found["upright" if t["angle"] == 0 else "rotated 15-30°"].append(hit)
                if t["side"] < 80:
                    found["small (<80 px)"].append(hit)
        row = {"detector": name}
        row.update({f"found {k}": float(np.mean(v)) for k, v in found.items()})
        row["false per scene"] = false / len(scenes)
        row["ms per scene"] = 1000 * seconds / len(scenes)
        rows.append(row)
    return rows


def geometry_table(paths: Sequence[Path], detectors: dict[str, F.FaceDetector]) -> list[dict]:
    """Per detector, on crops pasted alone in the middle of a plain canvas twice their size:
    the share found, and the crop frame (median crop side / box side, and the crop centre's
    vertical offset from the box centre in box sides) that ``DetectorSpec`` records."""
    rows = []
    for name, detector in detectors.items():
        scales, shifts = [], []
        for path in paths:
            crop = np.asarray(read_rgb(path)[0])
            side = crop.shape[0]
            canvas = np.full((2 * side, 2 * side, 3), 128, np.uint8)
            canvas[side // 2 : side // 2 + side, side // 2 : side // 2 + side] = crop
            found = detector(canvas)
            if found:
                x, y, w, h = max(found, key=lambda f: f.box[2]).box
                scales.append(side / max(w, h))
                shifts.append((side - (y + h / 2)) / max(w, h))
        rows.append(
            {
                "detector": name,
                "found": len(scales) / len(paths),
                "crop side / box": float(np.median(scales)) if scales else math.nan,
                "centre shift / box": float(np.median(shifts)) if shifts else math.nan,
                "spec": f"{detector.spec.crop_scale:.2f}, {detector.spec.crop_shift:+.2f}",
            }
        )
    return rows


def _in_canvas(crop: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """``crop`` resized to ``side`` px, pasted at a random place in a canvas of 2.5 × its size."""
    size = max(round(side * 2.5), 96)
    canvas = _texture(rng, size, size)
    x, y = (int(v) for v in rng.integers(0, size - side, size=2))
    canvas.paste(Image.fromarray(crop).resize((side, side), Image.BILINEAR), (x, y))
    return np.asarray(canvas)


def _largest_face(predictor: FacePredictor, image: np.ndarray) -> F.Face | None:
    found = predictor.detector(image, min_size=16)
    return max(found, key=lambda f: f.box[2]) if found else None


def _va_at_margin(
    predictor: FacePredictor, image: np.ndarray, face: F.Face, margin: float
) -> np.ndarray:
    """VA of ``face`` cut with ``margin``."""
    square = predictor.detector.square(face, margin)
    crop = torch.from_numpy(F.cut_face(image, square, predictor.size)).permute(2, 0, 1)
    return predictor.va(predictor.crop(crop[None]))[0]


def crop_study(
    checkpoint: str | Path,
    crops: list[np.ndarray],
    labels: np.ndarray,
    margins: Sequence[float],
    sides: Sequence[int],
    detector: str = F.DEFAULT_DETECTOR,
    seed: int = 0,
) -> list[dict]:
    """For each (face side, margin): share detected, mean |Δ| of V and A from the prediction on
    the original crop, and CCC of the detected faces against their labels (original crop's
    CCC on the same faces beside it)."""
    predictor = FacePredictor(checkpoint, Settings(detector=detector))
    plain = FacePredictor(checkpoint, Settings(detect=False))
    reference = np.stack([plain.va(plain.crops(c, []))[0] for c in crops])
    rows = []
    for side in sides:
        rng = np.random.default_rng(seed)
        scenes = [_in_canvas(c, side, rng) for c in crops]
        found = [_largest_face(predictor, s) for s in scenes]  # detect once, cut at each margin
        for margin in margins:
            outs = [
                None if f is None else _va_at_margin(predictor, s, f, margin)
                for s, f in zip(scenes, found, strict=True)
            ]
            hit = np.array([o is not None for o in outs])
            row = {"face px": side, "margin": margin, "found": float(hit.mean())}
            if hit.sum() >= 3:
                pred = np.stack([o for o in outs if o is not None])
                delta = np.abs(pred - reference[hit]).mean(axis=0)
                row.update({"|Δv|": float(delta[0]), "|Δa|": float(delta[1])})
                ccc = va_scores(torch.from_numpy(pred), torch.from_numpy(labels[hit]))
                ref = va_scores(torch.from_numpy(reference[hit]), torch.from_numpy(labels[hit]))
                row.update(
                    {"CCC mean": float(ccc["ccc_mean"]), "CCC of the crops": float(ref["ccc_mean"])}
                )
            rows.append(row)
    return rows


def predict_in_fresh_process(args: Sequence[str]) -> tuple[float, float]:
    """Seconds and peak resident memory (MiB) of ``ferlib predict ARGS`` in a new Python process
    (the seconds from the call to its end: the imports are not counted, loading the model is)."""
    import subprocess

    code = (
        "import json, resource, sys, time; from ferlib.cli import main; "
        "start = time.perf_counter(); main(['predict', *sys.argv[1:]]); "
        "took = time.perf_counter() - start; "
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
        "print('measured', json.dumps([took, peak]), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    took, peak_kib = json.loads(done.stderr.rsplit("measured", 1)[1])
    return took, peak_kib / 1024


def memory_table(videos: dict[str, Path], fps: float = 1.0) -> list[dict]:
    """Peak resident memory of ``ferlib predict`` on each video, each in a fresh process: if
    frames are streamed, a longer video does not need more memory."""
    rows = []
    for name, path in videos.items():
        args = [str(path), "--fps", str(fps), "--no-progress", "--format", "json"]
        _, peak = predict_in_fresh_process(args)
        rows.append(
            {
                "video": name,
                "frames sampled": round(video_info(path).duration * fps),
                "peak memory (MiB)": peak,
            }
        )
    return rows


def photo_folder(paths: Sequence[Path], count: int, folder: Path, seed: int = 0) -> Path:
    """``count`` JPEG photos (``SCENE`` size) in ``folder``, each one validation face of 120-300
    px on a textured background; every fifth stored sideways with EXIF orientation 6, as a phone
    stores a portrait photo."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        canvas = _texture(rng, *SCENE)
        side = int(rng.integers(120, 301))
        face = read_rgb(paths[int(rng.integers(len(paths)))])[0].resize((side, side))
        x, y = int(rng.integers(0, SCENE[0] - side)), int(rng.integers(0, SCENE[1] - side))
        canvas.paste(face, (x, y))
        exif = Image.Exif()
        if index % 5 == 4:  # orientation 6 turns the stored picture 90° clockwise to show it
            canvas, exif[274] = canvas.transpose(Image.Transpose.ROTATE_90), 6
        canvas.save(folder / f"photo_{index:04d}.jpg", quality=90, exif=exif)
    return folder


def photos_table(folders: dict[str, Path]) -> list[dict]:
    """``ferlib predict FOLDER --out …`` on each folder in a fresh process: photos, photos with a
    face predicted, seconds, photos per second and peak resident memory."""
    import pandas as pd

    rows = []
    for name, folder in folders.items():
        out = folder.with_name(folder.name + "_out")
        seconds, peak = predict_in_fresh_process([str(folder), "--no-progress", "--out", str(out)])
        status = pd.read_csv(out / "inputs.csv")["status"]
        rows.append(
            {
                "folder": name,
                "photos": len(status),
                "with a face predicted": int((status == F.OK).sum()),
                "seconds": seconds,
                "photos/s": len(status) / seconds,
                "peak memory (MiB)": peak,
            }
        )
    return rows


def face_latency(checkpoint: str | Path, pictures: Sequence[np.ndarray]) -> dict[str, float]:
    """Milliseconds per face of ``FacePredictor.predict_picture`` without detection (one face
    crop at a time: cut, resize, the model, the row), on the current thread count: the median
    and the 95th percentile over ``pictures``, after one warm-up call."""
    predictor = FacePredictor(checkpoint, Settings(detect=False))
    predictor.predict_picture(pictures[0], "")
    times = []
    for picture in pictures:
        start = time.perf_counter()
        predictor.predict_picture(picture, "")
        times.append(1000 * (time.perf_counter() - start))
    return {"ms per face": float(np.median(times)), "95th pct": float(np.percentile(times, 95))}


def latency_table(checkpoint: str | Path, pictures: Sequence[np.ndarray]) -> list[dict]:
    """``face_latency`` at one thread and at the default thread count (restored after)."""
    default = torch.get_num_threads()
    rows = []
    for threads in dict.fromkeys((1, default)):
        torch.set_num_threads(threads)
        try:
            rows.append({"threads": threads, **face_latency(checkpoint, pictures)})
        finally:
            torch.set_num_threads(default)
    return rows


def decoder_table(path: str | Path) -> list[dict]:
    """Frames per second decoding every frame of ``path`` with each decoder (RGB arrays out)."""

    def pyav() -> int:
        from .video import sample_frames

        return sum(1 for _ in sample_frames(path))

    def opencv() -> int:
        import cv2

        capture, count = cv2.VideoCapture(str(path)), 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            count += 1
        capture.release()
        return count

    def torchcodec() -> int:
        from torchcodec.decoders import VideoDecoder

        return sum(1 for _ in VideoDecoder(str(path)))

    rows = []
    for name, decode in (
        ("PyAV", pyav),
        ("OpenCV VideoCapture", opencv),
        ("torchcodec", torchcodec),
    ):
        try:
            start = time.perf_counter()
            frames = decode()
            seconds = time.perf_counter() - start
            rows.append({"decoder": name, "frames": frames, "frames/s": frames / seconds})
        except Exception as err:  # a decoder that cannot run here is a result, not a crash
            rows.append(
                {
                    "decoder": name,
                    "frames": 0,
                    "frames/s": math.nan,
                    "note": f"{type(err).__name__}: {str(err).splitlines()[0][:80]}",
                }
            )
    return rows


# ``ferlib bench-faces`` ------------------------------------------------------------------------


@dataclass
class Table:
    """A measured table of ``bench_faces``, its floats shown to ``digits`` decimals."""

    rows: list[dict]
    digits: int = 3


def mtcnn_boxes() -> Boxes | None:
    """facenet-pytorch's MTCNN as a ``Boxes`` function, or None when it cannot be imported (it
    cannot be installed beside this torch: it pins <2.3)."""
    try:
        from facenet_pytorch import MTCNN

        mtcnn = MTCNN(keep_all=True, device="cpu")
    except ImportError:
        return None

    def run_mtcnn(image: np.ndarray) -> list[tuple[int, int, int, int]]:
        boxes, _ = mtcnn.detect(image)
        return (
            []
            if boxes is None
            else [(x0, y0, x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes.tolist()]
        )

    return run_mtcnn


def box_detectors() -> dict[str, Boxes]:
    """Every detector of ``faces.DETECTORS`` (faces from 16 px), dlib's HOG without upsampling,
    and MTCNN when importable (else a line on stderr says it is left out)."""
    detectors: dict[str, Boxes] = {}
    for name in F.DETECTORS:
        detector = F.FaceDetector(name)
        detectors[name] = lambda image, d=detector: [f.box for f in d(image, 16)]
    quick = F.FaceDetector("dlib_hog", upsample=0)
    detectors["dlib_hog (no upsampling)"] = lambda image: [f.box for f in quick(image)]
    mtcnn = mtcnn_boxes()
    if mtcnn is None:
        print("(facenet-pytorch not importable: MTCNN left out)", file=sys.stderr)
    else:
        detectors["mtcnn (facenet-pytorch)"] = mtcnn
    return detectors


def clip_file(seconds: int, path: Path) -> Path:
    """A SyntheticFER clip of ``seconds`` at 25 fps, 640x480, written to ``path``."""
    config = ClipConfig(seconds=seconds, fps=25, width=640, height=480, face_size=288)
    write_video((frame for _, frame, _ in render_clip(config)), path, config.fps)
    return path


def _geometry(paths: list[str]) -> Iterator[str | Table]:
    detectors = {name: F.FaceDetector(name) for name in F.DETECTORS}
    yield (
        f"Crop frame of each detector on {len(paths)} validation crops, each pasted alone"
        " in a grey canvas twice its size:\n"
    )
    yield Table(geometry_table(paths, detectors))


def _detectors(paths: list[str], scenes: int, seed: int) -> Iterator[str | Table]:
    detectors = box_detectors()
    made = make_scenes(paths, scenes, seed)
    n_faces = sum(len(t) for _, t in made)
    yield (
        f"Detectors on {len(made)} composite scenes ({n_faces} faces, {SCENE[0]}x"
        f"{SCENE[1]}) from {len(paths)} validation images, seed {seed}:\n"
    )
    yield Table(detector_table(made, detectors))


def _crops(
    val,
    paths: list[str],
    checkpoint: str | Path,
    count: int,
    margins: Sequence[float],
    sides: Sequence[int],
    detector: str,
    seed: int,
) -> Iterator[str | Table]:
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(paths), size=min(count, len(paths)), replace=False)
    crops = [np.asarray(read_rgb(paths[i])[0]) for i in chosen]
    labels = val[["valence", "arousal"]].to_numpy(dtype=np.float64)[chosen]
    rows = crop_study(checkpoint, crops, labels, margins, sides, detector, seed)
    yield (
        f"Crop margin and face size, {len(crops)} validation crops pasted into textured"
        f" canvases and detected back by {detector} (model {display_path(checkpoint)}):\n"
    )
    yield Table(rows)


def _decoders() -> Iterator[str | Table]:
    with tempfile.TemporaryDirectory() as tmp:
        clip = clip_file(10, Path(tmp) / "clip.mp4")
        yield "Video decoders on a 10 s 640x480 H.264 clip (250 frames):\n"
        yield Table(decoder_table(clip), digits=1)


def _memory() -> Iterator[str | Table]:
    with tempfile.TemporaryDirectory() as tmp:
        videos = {
            f"{seconds} s, 640x480, 25 fps": clip_file(seconds, Path(tmp) / f"clip_{seconds}s.mp4")
            for seconds in (10, 60)
        }
        yield "Peak memory of `ferlib predict --fps 1` (a fresh process per video):\n"
        yield Table(memory_table(videos), digits=0)


def _photos(paths: list[str], count: int, seed: int) -> Iterator[str | Table]:
    with tempfile.TemporaryDirectory() as tmp:
        folders = {
            f"{n} photos, {SCENE[0]}x{SCENE[1]} JPEG": photo_folder(
                paths, n, Path(tmp) / f"photos_{n}", seed
            )
            for n in dict.fromkeys((max(1, count // 10), count))
        }
        yield (
            "`ferlib predict FOLDER --out DIR` on folders of photos (one validation face each, "
            "every fifth stored sideways with EXIF orientation 6), a fresh process per folder:\n"
        )
        yield Table(photos_table(folders), digits=1)


def _latency(paths: list[str], checkpoint: str | Path, count: int) -> Iterator[str | Table]:
    pictures = [np.asarray(read_rgb(path)[0]) for path in paths[:count]]
    yield (
        f"Predict time per face after detection ({display_path(checkpoint)}, one of "
        f"{len(pictures)} validation crops at a time, `--no-detect`):\n"
    )
    yield Table(latency_table(checkpoint, pictures), digits=1)


def bench_faces(
    data_dir: str | Path,
    parts: Sequence[str] = PARTS,
    checkpoint: str | Path | None = None,
    detector: str = F.DEFAULT_DETECTOR,
    scenes: int = 80,
    crops: int = 120,
    margins: Sequence[float] = (-0.1, -0.05, 0.0, 0.05, 0.1, 0.2),
    sides: Sequence[int] = (224,),
    seed: int = 0,
    photos: int = 500,
) -> Iterator[str | Table]:
    """``ferlib bench-faces``: each chosen part of ``PARTS`` on the validation crops of the
    DiffusionFER-S release at ``data_dir``, as its heading then its ``Table``, part by part
    (``checkpoint``, default the shipped model, is the crop study's model; ``photos`` the
    size of the larger photo folder)."""
    val = load_dataset("diffusionfer", data_dir).subset("val").frame
    paths = list(val["path"])
    if "geometry" in parts:
        yield from _geometry(paths)
    if "detectors" in parts:
        yield from _detectors(paths, scenes, seed)
    if "crops" in parts:
        model = checkpoint or default_checkpoint()
        yield from _crops(val, paths, model, crops, margins, sides, detector, seed)
    if "decoders" in parts:
        yield from _decoders()
    if "memory" in parts:
        yield from _memory()
    if "photos" in parts:
        yield from _photos(paths, photos, seed)
    if "latency" in parts:
        yield from _latency(paths, checkpoint or default_checkpoint(), crops)


__all__ = [
    "PARTS",
    "Table",
    "bench_faces",
    "box_detectors",
    "clip_file",
    "crop_study",
    "decoder_table",
    "detector_table",
    "face_box_of_crop",
    "face_latency",
    "iou",
    "latency_table",
    "make_scenes",
    "mtcnn_boxes",
    "photo_folder",
    "photos_table",
    "predict_in_fresh_process",
]
