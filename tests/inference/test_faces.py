"""Face detection and crop geometry (``ferlib.inference.faces``)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ferlib.inference import faces as F
from ferlib.inference.bench import iou
from ferlib.synthetic.clip import ClipConfig, render_clip


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """A SyntheticFER clip frame: one face (a 144 px tile) on a plain room background."""
    return next(render_clip(ClipConfig(seconds=0.1)))[1]


def test_square_box_is_centred_and_enlarged_by_the_margin():
    assert F.square_box((10, 20, 40, 50), margin=0.1) == (0, 15, 60, 75)
    x0, y0, x1, y1 = F.square_box((100, 100, 80, 80), margin=0.0)
    assert (x0, y0, x1 - x0, y1 - y0) == (100, 100, 80, 80)


def test_square_box_follows_the_detectors_crop_frame():
    # side 100 · 1.2 = 120, centre (150, 150) moved up by 0.05 · 100 = 5 px
    assert F.square_box((100, 100, 100, 100), 0.0, scale=1.2, shift=-0.05) == (90, 85, 210, 205)
    # a negative margin tightens: 120 · (1 − 0.2) = 96
    assert F.square_box((100, 100, 100, 100), -0.1, scale=1.2) == (102, 102, 198, 198)
    spec = F.DETECTORS["dlib_hog"]
    face = F.Face((100, 100, 100, 100), 1.0)
    assert F.FaceDetector("dlib_hog").square(face) == F.square_box(
        face.box, 0.0, spec.crop_scale, spec.crop_shift
    )


@pytest.mark.parametrize(
    ("square", "share"),
    [
        ((0, 0, 10, 10), 0.0),
        ((-5, 0, 5, 10), 0.5),
        ((-10, -10, 10, 10), 0.75),
        ((50, 50, 60, 60), 1.0),
    ],
)
def test_outside_share(square, share):
    assert F.outside_share(square, height=20, width=20) == pytest.approx(share)


def test_cut_face_repeats_edge_pixels_outside_the_image():
    image = np.zeros((20, 20, 3), np.uint8)
    image[:, 0] = 200  # the left column
    crop = F.cut_face(image, (-10, 0, 10, 20), size=20)
    assert crop.shape == (20, 20, 3)
    assert (crop[:, :9] == 200).all()  # the padded half repeats the edge column
    assert (crop[:, 12:] == 0).all()


def test_cut_face_turns_greyscale_into_rgb():
    crop = F.cut_face(np.full((30, 30), 77, np.uint8), (5, 5, 25, 25), size=8)
    assert crop.shape == (8, 8, 3) and (crop == 77).all()


def test_outcomes_follow_size_and_border_rules():
    def outcome(box, min_face=32):
        face = F.Face(box, 1.0)
        return F.face_outcome(face, F.square_box(box, 0.05), 300, 300, min_face)

    assert outcome((100, 100, 40, 40)) == F.OK
    assert outcome((100, 100, 40, 40), min_face=41) == F.TOO_SMALL
    assert outcome((-15, 100, 40, 40)) == F.CUT_BY_BORDER  # 17 of 44 px of the crop outside
    assert outcome((-5, 100, 40, 40)) == F.OK  # 7 of 44 px outside: padded and predicted


def test_every_detector_ships_inside_its_wheel():
    for name, spec in F.DETECTORS.items():
        if spec.backend == "haar":
            assert F.cascade_path(name).is_file()
        assert F.FaceDetector(name).name == name  # builds offline, nothing to download
    with pytest.raises(ValueError, match="unknown detector 'yolo'; choose one of dlib_hog, haar"):
        F.FaceDetector("yolo")


@pytest.mark.parametrize("name", ["dlib_hog", "haar"])
def test_detector_finds_the_one_synthetic_face_where_it_was_drawn(frame, name):
    found = F.FaceDetector(name)(frame)
    assert len(found) == 1 and found[0].score > 0
    x, y, w, h = found[0].box
    tile = ClipConfig()
    left, top = (tile.width - tile.face_size) / 2, (tile.height - tile.face_size) / 2
    assert left <= x and x + w <= left + tile.face_size  # inside the drawn face tile
    assert top <= y and y + h <= top + tile.face_size
    assert 0.3 * tile.face_size < w < tile.face_size


@pytest.mark.parametrize("name", ["dlib_hog", "haar"])
def test_detector_finds_nothing_in_a_plain_picture_and_accepts_greyscale(frame, name):
    assert F.FaceDetector(name)(np.full((240, 320, 3), 128, np.uint8)) == []
    grey = np.asarray(Image.fromarray(frame).convert("L"))
    assert len(F.FaceDetector(name)(grey)) == 1


@pytest.mark.slow
def test_detector_boxes_on_real_crops_match_the_crop_geometry(dev_set):
    """DiffusionFER-S crops pasted into a canvas are mostly found, and each detector's crop
    square of what it finds is nearly the original crop."""
    paths = sorted((dev_set / "DiffusionEmotion_S" / "cropped" / "happy").glob("*.png"))[:10]
    detector, overlaps = F.FaceDetector(), []
    original = (150, 120, 200, 200)
    for path in paths:
        crop = Image.open(path).convert("RGB").resize((200, 200))
        canvas = Image.new("RGB", (480, 400), (90, 110, 130))
        canvas.paste(crop, (150, 120))
        found = detector(np.asarray(canvas))
        assert len(found) <= 1
        for face in found:
            x0, y0, x1, y1 = detector.square(face)
            overlaps.append(iou((x0, y0, x1 - x0, y1 - y0), original))
    assert len(overlaps) >= 8 and np.median(overlaps) > 0.75 and min(overlaps) > 0.6


def test_bench_photos_store_every_fifth_sideways_and_read_upright(frame, tmp_path):
    from ferlib.data.images import read_rgb
    from ferlib.inference.bench import SCENE, photo_folder

    Image.fromarray(frame[:200, :200]).save(tmp_path / "face.png")
    folder = photo_folder([tmp_path / "face.png"], 5, tmp_path / "photos")
    photos = sorted(folder.glob("*.jpg"))
    assert len(photos) == 5
    for index, path in enumerate(photos):
        with Image.open(path) as stored:
            sideways = stored.getexif().get(274) == 6
            assert sideways == (index == 4) and stored.size == (SCENE[::-1] if sideways else SCENE)
        assert read_rgb(path)[0].size == SCENE


@pytest.mark.slow
def test_bench_photos_table_measures_predict_on_a_folder(frame, tmp_path):
    from ferlib.inference.bench import photo_folder, photos_table

    Image.fromarray(frame[:200, :200]).save(tmp_path / "face.png")
    folder = photo_folder([tmp_path / "face.png"], 3, tmp_path / "photos")
    (row,) = photos_table({"three": folder})
    assert (row["folder"], row["photos"]) == ("three", 3)
    assert 0 <= row["with a face predicted"] <= 3 and row["photos/s"] > 0
    assert row["peak memory (MiB)"] > 50
