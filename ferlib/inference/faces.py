"""Find faces in a photograph and cut each one out the way the training images were cut.

A model trained on DiffusionFER-S has only seen tight, square face crops. Feeding it a whole
photograph, or a loosely cut face, changes what it predicts. So prediction on real inputs is two
steps:

1. **Detect** (``FaceDetector``). Two families run offline from wheels on the package registry,
   with nothing to download: dlib's HOG + linear-SVM frontal-face detector (``dlib_hog``, built
   into the ``dlib-bin`` wheel) and OpenCV's Haar cascades (``haar*``, files inside the
   ``opencv-python-headless`` wheel). ``ferlib bench-faces`` compares them on composite scenes;
   ``dlib_hog`` found the most faces with the fewest false ones, so it is the default.
2. **Cut** (``square_box`` + ``cut_face``). Each detector draws its box differently (Haar's
   covers brow to chin; dlib's sits lower and tighter), so each has a *crop frame* measured on
   DiffusionFER-S: the training crop's side in box widths, and how far the crop's centre sits
   from the box's (``DetectorSpec``). ``margin`` then widens (or, negative, tightens) that frame
   on each side. Where the square leaves the image its pixels are repeated from the edge, and
   the share of the crop invented this way is reported.

Every face gets a defined outcome: a detected box smaller than ``min_face`` pixels is ``too
small`` (its few pixels say little about the expression); a face whose crop is more than
``MAX_BORDER_SHARE`` outside the image is ``cut by border``. Neither is predicted. Faces smaller
than the detector's window (about 24 px for Haar, 40 px for dlib without upsampling) are not
found at all.

Taught in ``notebooks/40_real_faces.ipynb`` §1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError


@dataclass(frozen=True)
class DetectorSpec:
    """One detector and its crop frame (``ferlib bench-faces`` measures ``crop_scale`` and
    ``crop_shift`` as medians over DiffusionFER-S validation crops)."""

    backend: str  # "dlib" or "haar"
    crop_scale: float  # training crop side / detected box side
    crop_shift: float  # (crop centre − box centre) / box side, vertical, + is down
    cascade: str | None = None  # Haar cascade file in cv2.data.haarcascades


DETECTORS: dict[str, DetectorSpec] = {
    "dlib_hog": DetectorSpec("dlib", crop_scale=1.20, crop_shift=-0.05),
    "haar": DetectorSpec("haar", 1.08, 0.0, "haarcascade_frontalface_default.xml"),
    "haar_alt": DetectorSpec("haar", 1.08, 0.0, "haarcascade_frontalface_alt.xml"),
    "haar_alt2": DetectorSpec("haar", 1.09, 0.0, "haarcascade_frontalface_alt2.xml"),
    "haar_alt_tree": DetectorSpec("haar", 1.06, 0.0, "haarcascade_frontalface_alt_tree.xml"),
}
DEFAULT_DETECTOR = "dlib_hog"
DEFAULT_MARGIN = 0.0
"""Extra side on each side of the crop frame, as a fraction of its side (0: as in training)."""
DEFAULT_MIN_FACE = 32
"""Smallest detected box (pixels) that is predicted (``ferlib bench-faces`` has the scale study)."""
MAX_BORDER_SHARE = 0.25
"""A crop with more of its area outside the image than this is not predicted."""

OK, TOO_SMALL, CUT_BY_BORDER = "ok", "too small", "cut by border"


@dataclass(frozen=True)
class Face:
    """One detected face: its box ``(x, y, w, h)`` in image pixels and the detector's score.

    The score is dlib's SVM margin or the Haar cascade's level weight: larger is more
    face-like; comparable between faces of one detector, not a probability.
    """

    box: tuple[int, int, int, int]
    score: float


# 1. Detect -------------------------------------------------------------------------------------


def cascade_path(name: str) -> Path:
    """The cascade file of Haar detector ``name``, inside the installed OpenCV wheel."""
    import cv2

    spec = detector_spec(name)
    if spec.cascade is None:
        raise ValueError(f"detector {name!r} is not a Haar cascade")
    return Path(cv2.data.haarcascades) / spec.cascade


def detector_spec(name: str) -> DetectorSpec:
    if name not in DETECTORS:
        raise UserError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
    return DETECTORS[name]


class FaceDetector:
    """Frontal faces in RGB or greyscale uint8 images, in reading order (left to right).

    ``upsample`` (dlib) looks for faces half the window size by doubling the image first (about
    4× slower). ``scale_factor`` and ``min_neighbors`` (Haar) are OpenCV's: the image pyramid's
    step, and how many overlapping raw detections make a face.
    """

    def __init__(
        self,
        name: str = DEFAULT_DETECTOR,
        upsample: int = 1,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
    ) -> None:
        self.name = name
        self.spec = detector_spec(name)
        if self.spec.backend == "dlib":
            import dlib

            self._dlib = dlib.get_frontal_face_detector()
            self.upsample = upsample
        else:
            import cv2

            path = cascade_path(name)
            self._cascade = cv2.CascadeClassifier(str(path))
            if self._cascade.empty():
                raise RuntimeError(f"OpenCV could not load the cascade {path}")
            self.scale_factor = scale_factor
            self.min_neighbors = min_neighbors

    def __call__(self, image: np.ndarray, min_size: int = 16) -> list[Face]:
        """Faces found in ``image`` (Haar does not search below ``min_size`` pixels)."""
        image = np.ascontiguousarray(image, dtype=np.uint8)
        faces = (
            self._dlib_faces(image) if self.spec.backend == "dlib" else self._haar(image, min_size)
        )
        return sorted(faces, key=lambda f: (f.box[0], f.box[1]))

    def _dlib_faces(self, image: np.ndarray) -> list[Face]:
        boxes, scores, _ = self._dlib.run(image, self.upsample, 0.0)
        return [
            Face((b.left(), b.top(), b.width(), b.height()), float(s))
            for b, s in zip(boxes, scores, strict=True)
        ]

    def _haar(self, image: np.ndarray, min_size: int) -> list[Face]:
        import cv2

        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        boxes, _, weights = self._cascade.detectMultiScale3(
            cv2.equalizeHist(grey),
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_size, min_size),
            outputRejectLevels=True,
        )
        return [
            Face(tuple(int(v) for v in box), float(w))
            for box, w in zip(boxes, np.ravel(weights), strict=True)
        ]

    def square(self, face: Face, margin: float = DEFAULT_MARGIN) -> tuple[int, int, int, int]:
        """The crop square of ``face`` in this detector's crop frame, widened by ``margin``."""
        return square_box(face.box, margin, self.spec.crop_scale, self.spec.crop_shift)


# 2. Cut ----------------------------------------------------------------------------------------


def square_box(
    box: tuple[int, int, int, int],
    margin: float = DEFAULT_MARGIN,
    scale: float = 1.0,
    shift: float = 0.0,
) -> tuple[int, int, int, int]:
    """The square ``(x0, y0, x1, y1)`` of side ``max(w, h)·scale·(1 + 2·margin)``, centred on
    the box moved down by ``shift`` box sides. It may extend past the image (``cut_face``
    pads)."""
    x, y, w, h = box
    side = max(w, h)
    full = round(side * scale * (1 + 2 * margin))
    x0 = round(x + w / 2 - full / 2)
    y0 = round(y + h / 2 + shift * side - full / 2)
    return x0, y0, x0 + full, y0 + full


def outside_share(square: tuple[int, int, int, int], height: int, width: int) -> float:
    """Share of the square's area that lies outside a ``height × width`` image."""
    x0, y0, x1, y1 = square
    inside = max(0, min(x1, width) - max(x0, 0)) * max(0, min(y1, height) - max(y0, 0))
    return 1 - inside / ((x1 - x0) * (y1 - y0))


def cut_face(image: np.ndarray, square: tuple[int, int, int, int], size: int) -> np.ndarray:
    """The ``size × size × 3`` RGB crop of ``square`` (edge pixels repeated outside the image)."""
    from PIL import Image

    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = square
    pad = max(0, -x0, -y0, x1 - width, y1 - height)
    if pad:
        rgb = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    crop = rgb[y0 + pad : y1 + pad, x0 + pad : x1 + pad]
    return np.array(Image.fromarray(crop).resize((size, size), Image.BILINEAR))


def face_outcome(
    face: Face, square: tuple[int, int, int, int], height: int, width: int, min_face: int
) -> str:
    """``ok``, ``too small`` or ``cut by border`` for one detected face and its crop square."""
    if min(face.box[2:]) < min_face:
        return TOO_SMALL
    if outside_share(square, height, width) > MAX_BORDER_SHARE:
        return CUT_BY_BORDER
    return OK


__all__ = [
    "CUT_BY_BORDER",
    "DEFAULT_DETECTOR",
    "DEFAULT_MARGIN",
    "DEFAULT_MIN_FACE",
    "DETECTORS",
    "DetectorSpec",
    "MAX_BORDER_SHARE",
    "OK",
    "TOO_SMALL",
    "Face",
    "FaceDetector",
    "cascade_path",
    "cut_face",
    "detector_spec",
    "face_outcome",
    "outside_share",
    "square_box",
]
