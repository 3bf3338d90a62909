"""The demo photos in ``examples/photos``: each gets the outcome it is made for, for its reason."""

from __future__ import annotations

import pytest

from ferlib.data.images import read_rgb
from ferlib.inference import faces as F
from ferlib.inference import predict as P
from ferlib.inference.examples import INTENDED, MIN_FACE, make_photos, pick_crops
from ferlib.inference.shipped import SHIPPED_MODEL
from ferlib.paths import repo_root

PHOTOS = repo_root() / "examples" / "photos"


def read(folder, min_face: int = MIN_FACE) -> tuple[dict, dict]:
    """Each file's status, and each file's rows, as chapter 40 reads the folder."""
    result = P.predict([folder], SHIPPED_MODEL, P.Settings(min_face=min_face))
    status = {s.source.rsplit("/", 1)[-1]: s.status for s in result.inputs}
    rows: dict[str, list[dict]] = {}
    for row in result.rows:
        rows.setdefault(row["source"].rsplit("/", 1)[-1], []).append(row)
    return status, rows


@pytest.fixture(scope="module")
def committed():
    return read(PHOTOS)


def test_every_outcome_of_a_picture_has_an_example():
    assert set(INTENDED.values()) == {F.OK, P.NO_FACE, F.TOO_SMALL, F.CUT_BY_BORDER, P.UNREADABLE}


def test_each_committed_photo_gets_its_intended_status(committed):
    status, _ = committed
    assert status == INTENDED


def test_each_status_comes_for_its_reason(committed):
    _, rows = committed
    (small,) = rows["small_face.jpg"]  # found by the detector, narrower than MIN_FACE
    assert F.DEFAULT_MIN_FACE <= small["w"] < MIN_FACE
    (border,) = rows["at_the_border.jpg"]  # found, but too much of its crop is outside
    assert border["w"] >= MIN_FACE and border["outside"] > F.MAX_BORDER_SHARE
    assert [r["w"] for r in rows["no_face.jpg"]] == [None]  # nothing found at all
    assert "broken.jpg" not in rows  # never decoded
    assert len(rows["two_people.jpg"]) == 2
    assert all(r["outside"] <= F.MAX_BORDER_SHARE for r in rows["two_people.jpg"])


def test_the_default_min_face_reads_the_small_face():
    """dlib's smallest box is above FER-Zoo's default min_face: why the examples use MIN_FACE."""
    status, _ = read(PHOTOS / "small_face.jpg", F.DEFAULT_MIN_FACE)
    assert status == {"small_face.jpg": F.OK}


def test_make_photos_rebuilds_them(tmp_path, dev_set):
    crops = pick_crops(dev_set, ("happy", "angry", "sad"))
    make_photos({k: read_rgb(path)[0] for k, path in crops.items()}, tmp_path)
    assert read(tmp_path)[0] == INTENDED
