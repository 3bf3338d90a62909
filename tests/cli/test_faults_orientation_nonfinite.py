"""Fault suite, issue 28 items 1 and 4: pictures are read upright, and NaN or inf is never ``ok``.

1. Orientation. A phone stores a portrait photo as landscape pixels plus EXIF orientation 6 or 8,
   and a portrait video as landscape frames plus a display matrix. Every reader (``predict``,
   the tensor store that training and evaluation read) must show them upright, as the phone's
   gallery does: tested on all eight EXIF orientations and on videos turned by their metadata.
2. Non-finite numbers. A checkpoint with NaN weights gives NaN for every face: those faces get
   the status ``non-finite output`` and no values, and ``ferlib predict`` exits 1. Scores of NaN
   predictions are NaN (SAGR included, never 0.0), said in one warning line, and written as
   ``null`` (valid JSON) by ``evaluate --json`` and in a run's ``metrics.json``.

The expected pictures are built from the EXIF specification's wording (which visual side row 0
and column 0 hold), independently of Pillow's ``exif_transpose``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from ferlib.cli import main
from ferlib.data import cache_images, load_va_csv
from ferlib.data.images import read_rgb
from ferlib.evaluation.metrics import (
    SCORE_KEYS,
    NonFiniteMetricWarning,
    metrics_json,
    read_metrics_json,
    va_metrics,
    va_scores,
)
from ferlib.inference import predict as P
from ferlib.inference.shipped import SHIPPED_MODEL
from ferlib.inference.video import sample_frames, video_info
from ferlib.synthetic.clip import ClipConfig, render_clip
from ferlib.training import checkpoint as ckpt

TRAIN = ["--params", "ci", "--no-progress", "--set", "epochs=1", "batch_size=8", "image_size=32"]
COLOURS = [
    (220, 40, 40),
    (40, 200, 40),
    (40, 40, 220),
    (230, 230, 40),
    (40, 220, 220),
    (200, 0, 200),
]


def blocks() -> np.ndarray:
    """A 48×32 portrait picture: a 3×2 grid of distinct colours, so that each of the eight
    orientations (and each wrong reading) gives other pixels."""
    img = np.zeros((48, 32, 3), np.uint8)
    for i, colour in enumerate(COLOURS):
        row, col = divmod(i, 2)
        img[16 * row : 16 * row + 16, 16 * col : 16 * col + 16] = colour
    return img


def stored_as(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels a camera stores for ``upright`` under EXIF ``orientation``. The standard says
    which visual side row 0 and column 0 hold: 1 top/left, 2 top/right, 3 bottom/right,
    4 bottom/left; 5-8 are 1-4 with rows and columns swapped (row 0 is the left/right side)."""
    flipped = {1: upright, 2: upright[:, ::-1], 3: upright[::-1, ::-1], 4: upright[::-1]}
    pixels = flipped[(orientation - 1) % 4 + 1]
    return np.ascontiguousarray(pixels.swapaxes(0, 1) if orientation > 4 else pixels)


def save_photo(pixels: np.ndarray, path, orientation: int) -> None:
    """A JPEG (quality 95, no chroma subsampling) tagged with EXIF orientation (tag 274)."""
    exif = Image.Exif()
    exif[274] = orientation
    Image.fromarray(pixels).save(path, quality=95, subsampling=0, exif=exif)


def mean_error(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def write_turned_video(frames: list[np.ndarray], path, degrees: int) -> None:
    """Frames stored turned by ``-degrees`` (counter-clockwise), with a display matrix that turns
    them back by ``degrees``: how a phone records upright portrait video (``degrees`` -90)."""
    av = pytest.importorskip("av")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        if not hasattr(stream, "set_display_rotation"):
            pytest.skip(f"PyAV {av.__version__} cannot write a display matrix (av>=18 can)")
        height, width = np.rot90(frames[0], -degrees // 90).shape[:2]
        stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
        stream.options = {"crf": "12"}
        stream.set_display_rotation(degrees)
        for frame in frames:
            coded = np.ascontiguousarray(np.rot90(frame, -degrees // 90))
            for packet in stream.encode(av.VideoFrame.from_ndarray(coded, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """A 320×240 frame with one synthetic face that the default detector finds upright."""
    return next(render_clip(ClipConfig(seconds=0.1)))[1]


@pytest.fixture(scope="module")
def nan_checkpoint(tmp_path_factory):
    """The shipped model with every weight NaN: what a diverged or corrupted run leaves."""
    blob = ckpt.load(SHIPPED_MODEL)
    state = blob["modules"]["model"]
    blob["modules"]["model"] = {
        k: torch.full_like(v, math.nan) if v.is_floating_point() else v for k, v in state.items()
    }
    path = tmp_path_factory.mktemp("nan") / "checkpoint.pt"
    ckpt.save(blob, path)
    return path


# --- 1. orientation --------------------------------------------------------------------------
@pytest.mark.parametrize("orientation", range(1, 9))
def test_read_rgb_turns_each_exif_orientation_upright(orientation, tmp_path):
    upright = blocks()
    path = tmp_path / f"orientation{orientation}.jpg"
    save_photo(stored_as(upright, orientation), path, orientation)
    img, converted = read_rgb(path)
    assert not converted
    assert mean_error(np.asarray(img), upright) < 3  # JPEG noise; a wrong turn is ~100 off


def test_a_portrait_phone_photo_is_found_and_predicted_upright(face, tmp_path):
    """Orientation 6 (a phone held upright): before, ``no face`` (and, with ``--no-detect``, a
    sideways crop predicted with status ``ok``); now the same as the upright photo."""
    save_photo(stored_as(face, 6), tmp_path / "phone.jpg", 6)
    save_photo(face, tmp_path / "upright.jpg", 1)
    paths = [tmp_path / "phone.jpg", tmp_path / "upright.jpg"]
    for settings in (P.Settings(), P.Settings(detect=False)):
        result = P.predict(paths, SHIPPED_MODEL, settings)
        assert [s.status for s in result.inputs] == ["ok", "ok"]
        phone, upright = result.rows
        assert (phone["x"], phone["y"], phone["w"], phone["h"]) == pytest.approx(
            (upright["x"], upright["y"], upright["w"], upright["h"]), abs=3
        )
        assert phone["valence"] == pytest.approx(upright["valence"], abs=0.02)
        assert phone["arousal"] == pytest.approx(upright["arousal"], abs=0.02)


def test_training_and_evaluation_read_phone_photos_upright(tmp_path):
    """The tensor store (what training and ``evaluate`` read) goes through the same reader."""
    upright = blocks()
    save_photo(upright, tmp_path / "plain.jpg", 1)
    save_photo(stored_as(upright, 8), tmp_path / "phone.jpg", 8)
    (tmp_path / "va.csv").write_text("path,valence,arousal\nplain.jpg,0.1,0.2\nphone.jpg,0.3,0.4\n")
    data = cache_images(load_va_csv(tmp_path / "va.csv"), 32, cache_dir=tmp_path / "cache")
    by_key = dict(zip(data.frame["path"].map(lambda p: p.name), data.images, strict=True))
    assert mean_error(by_key["phone.jpg"].numpy(), by_key["plain.jpg"].numpy()) < 3


@pytest.mark.parametrize("degrees", [-90, 90, 180])
def test_video_frames_are_turned_by_their_display_matrix(degrees, tmp_path):
    upright = blocks()
    path = tmp_path / f"turned{degrees}.mp4"
    write_turned_video([upright] * 3, path, degrees)
    info = video_info(path)
    assert (info.width, info.height, info.rotation) == (32, 48, degrees % 360)
    frames = [image for _, _, image in sample_frames(path)]
    assert len(frames) == 3
    for image in frames:
        assert image.flags["C_CONTIGUOUS"] and mean_error(image, upright) < 6


def test_a_portrait_phone_video_is_predicted_as_the_upright_one(tmp_path):
    """Display matrix -90° (a phone filming upright): before, ``no face`` in every frame; now
    the faces of the same clip stored upright (values differ by the codec's noise only)."""
    frames = [f for _, f, _ in render_clip(ClipConfig(seconds=1.0, fps=10))]
    write_turned_video(frames, tmp_path / "phone.mp4", -90)
    write_turned_video(frames, tmp_path / "upright.mp4", 0)
    paths = [tmp_path / "phone.mp4", tmp_path / "upright.mp4"]
    result = P.predict(paths, SHIPPED_MODEL, P.Settings(fps=5, detector="haar"))
    phone, upright = result.inputs
    assert phone.status == upright.status == "ok"
    assert phone.reason == upright.reason == "a face in 5 of 5 sampled frames"
    by_video = [[r for r in result.rows if r["source"] == str(p)] for p in paths]
    for a, b in zip(*by_video, strict=True):
        assert (a["x"], a["y"], a["w"], a["h"]) == pytest.approx(
            (b["x"], b["y"], b["w"], b["h"]), abs=3
        )
        assert math.isfinite(a["valence"]) and a["emotion"]


# --- 2. non-finite numbers -------------------------------------------------------------------
def predict_csv(capsys, argv: list[str]) -> tuple[int, list[dict], list[str]]:
    """``ferlib predict argv``: exit code, the CSV rows on stdout, the lines on stderr."""
    code = main(["predict", "--no-progress", *argv])
    out, err = capsys.readouterr()
    return code, list(csv.DictReader(io.StringIO(out))), err.strip().splitlines()


@pytest.mark.parametrize("detect", [[], ["--no-detect"]])
def test_a_nan_checkpoint_is_never_ok_and_predict_exits_1(
    detect, face, nan_checkpoint, tmp_path, capsys
):
    Image.fromarray(face).save(tmp_path / "face.png")
    photo = str(tmp_path / "face.png")
    code, rows, err = predict_csv(capsys, [photo, "--checkpoint", str(nan_checkpoint), *detect])
    assert code == 1
    assert [r["status"] for r in rows] == [P.NON_FINITE]
    assert rows[0]["valence"] == rows[0]["arousal"] == rows[0]["emotion"] == ""
    reason = "the model gave NaN or inf for every face; its checkpoint is likely broken"
    assert f"ferlib predict: {photo}: non-finite output ({reason})" in err  # one line of err
    assert "ferlib predict: 1 input: 1 non-finite output" in err


def test_a_nan_checkpoint_on_a_video_gives_the_video_that_status(face, nan_checkpoint, tmp_path):
    write_turned_video([face] * 4, tmp_path / "clip.mp4", 0)
    result = P.predict([tmp_path / "clip.mp4"], nan_checkpoint, P.Settings(fps=None))
    assert [(s.status, s.faces, s.frames) for s in result.inputs] == [(P.NON_FINITE, 0, 4)]
    assert {r["status"] for r in result.rows} == {P.NON_FINITE}
    assert all(r["valence"] is None and r["emotion"] is None for r in result.rows)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_one_non_finite_face_among_good_ones_is_named(bad, face, tmp_path, monkeypatch):
    Image.fromarray(np.concatenate([face, face], axis=1)).save(tmp_path / "two.png")
    real = P.FacePredictor.va

    def first_face_bad(self, crops):
        values = real(self, crops)
        values[0, 1] = bad
        return values

    monkeypatch.setattr(P.FacePredictor, "va", first_face_bad)
    result = P.predict([tmp_path / "two.png"], SHIPPED_MODEL)
    assert [r["status"] for r in result.rows] == [P.NON_FINITE, "ok"]
    assert result.rows[0]["valence"] is None and math.isfinite(result.rows[1]["arousal"])
    status = result.inputs[0]
    assert (status.status, status.faces) == ("ok", 1)
    assert status.reason == "1 of 2 faces gave NaN or inf and have no values"


def test_scores_of_nan_predictions_are_nan_with_the_reason():
    y = torch.tensor([[0.5, -0.2], [-0.3, 0.4], [0.1, 0.0], [0.7, -0.6]], dtype=torch.float64)
    p = y.clone()
    p[1, 0] = math.nan  # one valence prediction
    for compat in ("project", "authors"):
        with pytest.warns(NonFiniteMetricWarning) as record:
            m = va_metrics(p, y, compat=compat)
        assert math.isnan(m["sagr_v"]) and math.isnan(m["sagr_nonzero_v"])  # was 0.75, not NaN
        assert math.isnan(m["rmse_v"]) and m["rmse_a"] == 0.0  # arousal is untouched
        assert m["sagr_a"] == (1.0 if compat == "project" else 0.75)  # authors: hits on y != 0
        reasons = {w.message.key: w.message.reason for w in record.list}
        assert set(reasons) == {"rmse_v", "pcc_v", "ccc_v", "sagr_v", "sagr_nonzero_v"}
        assert set(reasons.values()) == {"1 of 4 predictions are NaN or inf"}
    resamples = va_scores(torch.stack([p, y]), torch.stack([y, y]))  # as the bootstrap scores
    assert resamples["sagr_v"].isnan().tolist() == [True, False]  # only the one with a NaN


def test_metrics_json_writes_null_and_reads_it_back_as_nan():
    metrics = {"rmse_v": math.nan, "ccc_mean": -math.inf, "n": 3, "nested": {"x": [1.5, math.nan]}}
    text = metrics_json(metrics)
    strict = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert strict == {"rmse_v": None, "ccc_mean": None, "n": 3, "nested": {"x": [1.5, None]}}
    back = read_metrics_json(text)
    assert math.isnan(back["rmse_v"]) and math.isnan(back["ccc_mean"]) and back["n"] == 3


def test_evaluate_of_a_nan_checkpoint_says_so_and_writes_valid_json(
    nan_checkpoint, tiny_synth, capsys
):
    argv = ["evaluate", "--checkpoint", str(nan_checkpoint), "--dataset", "synthetic"]
    argv += ["--data-dir", str(tiny_synth), "--split", "all"]
    assert main([*argv, "--json"]) == 0
    out, err = capsys.readouterr()
    metrics = json.loads(out, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert {k: metrics[k] for k in SCORE_KEYS} == dict.fromkeys(SCORE_KEYS)  # all null
    n = metrics["n"]
    warning = (
        f"ferlib evaluate: warning: {', '.join(k for k in SCORE_KEYS if k != 'ccc_mean')} "
        f"not finite: {n} of {n} predictions are NaN or inf"
    )
    assert err.strip().splitlines() == [warning]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert out.count("SAGR nan") == 2 and "0.0000" not in out
    assert err.strip().splitlines() == [warning]


def test_a_run_with_nan_scores_writes_valid_metrics_json(tiny_synth, tmp_path, monkeypatch):
    """The one place a run's ``metrics.json`` is written, and ``fit_or_load`` reading it."""
    from ferlib.runs import store
    from ferlib.training import trainer

    def nan_evaluate(model, loader, device, channels_last=False):
        targets = torch.as_tensor(loader.dataset.targets, dtype=torch.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NonFiniteMetricWarning)
            return va_metrics(torch.full_like(targets, math.nan), targets)

    monkeypatch.setattr(trainer, "evaluate", nan_evaluate)
    monkeypatch.setenv("FERZOO_OUTPUTS", str(tmp_path / "outputs"))
    out = tmp_path / "run"
    assert main(["train", *TRAIN, f"data_dir={tiny_synth}", "--out", str(out)]) == 0
    text = (out / "metrics.json").read_text()
    strict = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in metrics.json"))
    assert strict["ccc_mean"] is None and strict["sagr_v"] is None
    again = store.fit_or_load(strict["config"], out_dir=out)
    assert not again.trained and math.isnan(again.metrics["ccc_mean"])
