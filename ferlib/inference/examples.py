"""The demo inputs in ``examples/``, made by the project (``ferlib make-examples``).

The repository ships no third-party photos or videos. Its demo pictures are composites of
DiffusionFER-S crops (CC0) on generated backgrounds, one per outcome ``ferlib predict`` reports
for a picture (``INTENDED``: two people and a greyscale photo are ``ok``, a face the detector
finds but below ``MIN_FACE`` is ``too small``, a face with more than a quarter of its crop outside
the picture is ``cut by border``, a picture without a face, a file cut short), and its demo
video is a SyntheticFER clip with the true valence and arousal of every frame beside it
(``synthetic_clip_truth.csv``, outside ``video/`` so that ``ferlib predict examples/photos
examples/video`` meets only pictures and videos; the one broken file among the photos is there on
purpose). The crops are the first of each wanted expression
(in file order) that the default detector finds when pasted alone; the selection is by
detectability, not by prediction.

Taught in ``notebooks/40_real_faces.ipynb`` §1.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..data import load_dataset
from ..data.images import read_rgb
from ..emotions import CODE
from ..synthetic.clip import ClipConfig, render_clip
from .faces import CUT_BY_BORDER, OK, TOO_SMALL, FaceDetector
from .predict import NO_FACE, UNREADABLE
from .video import write_video

MIN_FACE = 40
"""The ``--min-face`` (px) the demo photos are read with in chapter 40. dlib's smallest box at its
default upsampling is about 37 px, above FER-Zoo's default ``min_face`` of 32, so only a higher
``min_face`` makes a face the default detector finds ``too small``."""

INTENDED = {
    "at_the_border.jpg": CUT_BY_BORDER,
    "broken.jpg": UNREADABLE,
    "greyscale.jpg": OK,
    "no_face.jpg": NO_FACE,
    "small_face.jpg": TOO_SMALL,
    "two_people.jpg": OK,
}
"""Each demo photo and the outcome it is made to get (with ``min_face=MIN_FACE``)."""


def colour_field(
    rng: np.random.Generator,
    width: int,
    height: int,
    cell: int = 40,
    low: float = 50,
    high: float = 210,
    pad: int = 2,
) -> Image.Image:
    """A soft random colour field (blurred noise, one random colour per ``cell`` pixels): a
    background that is not a face, different per draw."""
    shape = (height // cell + pad, width // cell + pad, 3)
    small = rng.uniform(low, high, size=shape).astype(np.uint8)
    return Image.fromarray(small).resize((width, height), Image.BICUBIC)


def pick_crops(data_dir: str | os.PathLike[str], expressions: tuple[str, ...]) -> dict[str, Path]:
    """Per expression, the first crop (in file order) whose face the default detector finds."""
    frame = load_dataset("diffusionfer", data_dir).frame.sort_values("path")
    detector = FaceDetector()
    chosen = {}
    for expression in expressions:
        for path in frame.loc[frame["expression"] == CODE[expression], "path"]:
            canvas = Image.new("RGB", (448, 448), (120, 120, 120))
            canvas.paste(read_rgb(path)[0].resize((224, 224)), (112, 112))
            if len(detector(np.asarray(canvas))) == 1:
                chosen[expression] = Path(path)
                break
    return chosen


def make_photos(crops: dict[str, Image.Image], photos: Path, seed: int = 0) -> list[Path]:
    """Write the demo pictures (``INTENDED``) into ``photos``; return their paths. ``crops``
    holds a happy, an angry and a sad face (``pick_crops``)."""
    photos.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = []

    def save(image: Image.Image, name: str) -> None:
        image.save(photos / name, quality=88)
        written.append(photos / name)

    scene = colour_field(rng, 640, 400)
    scene.paste(crops["happy"].resize((200, 200)), (60, 110))
    scene.paste(crops["angry"].resize((170, 170)), (400, 80))
    save(scene, "two_people.jpg")

    # 48 px: found by dlib (whose box for it is about 37 px wide), narrower than MIN_FACE
    scene = colour_field(rng, 640, 400)
    scene.paste(crops["sad"].resize((48, 48)), (420, 190))
    save(scene, "small_face.jpg")

    # 70 of 220 px past the left edge: still found, but about 28 % of its crop is outside
    scene = colour_field(rng, 400, 320)
    scene.paste(crops["sad"].resize((220, 220)), (-70, 50))
    save(scene, "at_the_border.jpg")

    save(colour_field(rng, 480, 320), "no_face.jpg")

    scene = colour_field(rng, 480, 360)
    scene.paste(crops["sad"].resize((200, 200)), (140, 80))
    save(scene.convert("L").convert("RGB"), "greyscale.jpg")

    broken = photos / "broken.jpg"  # a download cut short: the start of a real JPEG
    broken.write_bytes((photos / "two_people.jpg").read_bytes()[:2048])
    written.append(broken)
    return written


def make_examples(
    data_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], seed: int = 0
) -> list[Path]:
    """Write the demo pictures, the clip and its truth into ``out_dir``; return their paths."""
    out = Path(out_dir)
    video = out / "video"
    video.mkdir(parents=True, exist_ok=True)
    crops = {k: read_rgb(p)[0] for k, p in pick_crops(data_dir, ("happy", "angry", "sad")).items()}
    written = make_photos(crops, out / "photos", seed)

    clip = ClipConfig()
    truth_rows = []

    def frames():
        for t, frame, truth in render_clip(clip):
            truth_rows.append({"time": round(t, 3), **truth})
            yield frame

    written.append(write_video(frames(), video / "synthetic_clip.mp4", clip.fps))
    with open(out / "synthetic_clip_truth.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["time", "valence", "arousal", "expression"])
        writer.writeheader()
        writer.writerows(truth_rows)
    written.append(out / "synthetic_clip_truth.csv")
    return written


__all__ = ["INTENDED", "MIN_FACE", "colour_field", "make_examples", "make_photos", "pick_crops"]
