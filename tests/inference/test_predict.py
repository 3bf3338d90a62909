"""``ferlib predict`` on photos, folders and videos: statuses, rows, traces, the shipped model."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from PIL import Image

from ferlib.cli import main
from ferlib.emotions import emotion_centres, nearest_emotion
from ferlib.inference import predict as P
from ferlib.inference.shipped import SHIPPED_MODEL, shipped_facts, weight_digest
from ferlib.inference.video import sample_frames, video_info, write_video
from ferlib.synthetic.clip import ClipConfig, render_clip, va_path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A folder with every kind of input: a face, two faces, no face, a broken image, a text
    file, a short video and a broken video."""
    folder = tmp_path_factory.mktemp("inputs")
    frame = next(render_clip(ClipConfig(seconds=0.1)))[1]
    Image.fromarray(frame).save(folder / "face.png")
    Image.fromarray(np.concatenate([frame, frame], axis=1)).save(folder / "two_faces.jpg")
    Image.new("RGB", (200, 160), (180, 170, 160)).save(folder / "wall.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (folder / "notes.txt").write_text("not a picture")
    (folder / ".hidden.png").write_bytes(b"")
    clip = ClipConfig(seconds=2.0, fps=10)
    write_video((f for _, f, _ in render_clip(clip)), folder / "clip.mp4", clip.fps)
    (folder / "broken.mp4").write_bytes(b"\x00" * 512)
    return folder


def statuses(result: P.Prediction) -> dict[str, str]:
    return {s.source.rsplit("/", 1)[-1]: s.status for s in result.inputs}


def test_nearest_emotion_of_each_centre_is_itself():
    for name, (v, a) in emotion_centres().items():
        assert nearest_emotion(v, a) == name
    assert nearest_emotion(0.9, 0.3) == "happy"


def test_collect_inputs_walks_folders_and_names_kinds(inputs, tmp_path):
    found = P.collect_inputs([inputs, tmp_path / "missing.png"])
    kinds = {p.name: k for p, k in found}
    assert kinds["face.png"] == "image" and kinds["clip.mp4"] == "video"
    assert kinds["notes.txt"] == "other" and kinds["missing.png"] == "missing"
    assert ".hidden.png" not in kinds


def test_every_input_gets_a_status_and_one_bad_file_stops_nothing(inputs, tmp_path):
    result = P.predict([inputs, tmp_path / "missing.png"], SHIPPED_MODEL, P.Settings(fps=4))
    assert statuses(result) == {
        "broken.jpg": P.UNREADABLE,
        "broken.mp4": P.DECODE_ERROR,
        "clip.mp4": "ok",
        "face.png": "ok",
        "notes.txt": P.NOT_MEDIA,
        "two_faces.jpg": "ok",
        "wall.png": P.NO_FACE,
        "missing.png": P.NO_SUCH_FILE,
    }
    by_source = {}
    for row in result.rows:
        by_source.setdefault(row["source"].rsplit("/", 1)[-1], []).append(row)
    two = by_source["two_faces.jpg"]
    assert [r["face"] for r in two] == [0, 1] and two[0]["x"] < two[1]["x"]  # reading order
    for row in two + by_source["face.png"]:
        assert set(row) == set(P.ROW_FIELDS)
        assert -1.5 < row["valence"] < 1.5 and row["emotion"] in emotion_centres()
        assert row["outside"] == 0.0 and row["score"] > 0
    assert by_source["wall.png"] == [
        {**dict.fromkeys(P.ROW_FIELDS), "source": str(inputs / "wall.png"), "status": P.NO_FACE}
    ]
    assert result.summary() == (
        "8 inputs: 1 unreadable, 1 decode error, 3 ok, 1 not an image or video, 1 no face, "
        "1 no such file"
    )


def test_small_and_border_faces_are_reported_without_values(inputs):
    path = [inputs / "face.png"]
    small = P.predict(path, SHIPPED_MODEL, P.Settings(min_face=1000))
    assert statuses(small) == {"face.png": "too small"}
    assert small.rows[0]["status"] == "too small" and small.rows[0]["valence"] is None
    assert "min_face=1000" in small.inputs[0].reason
    cut = P.predict(path, SHIPPED_MODEL, P.Settings(margin=1.5))  # the square leaves the frame
    assert statuses(cut) == {"face.png": "cut by border"} and cut.rows[0]["outside"] > 0.25


def test_video_is_sampled_by_time_as_a_stream(inputs):
    info = video_info(inputs / "clip.mp4")
    assert info.fps == 10 and info.duration == pytest.approx(2.0, abs=0.11)
    frames = sample_frames(inputs / "clip.mp4", fps=4)
    assert inspect.isgenerator(frames)  # decoded one at a time, never the whole video
    times = [t for _, t, _ in frames]
    assert len(times) == 8 and times[0] == 0
    assert np.diff(times) == pytest.approx(0.25, abs=0.051)
    assert len(list(sample_frames(inputs / "clip.mp4"))) == 20  # fps=None: every frame
    with pytest.raises(ValueError, match="fps must be positive"):
        next(sample_frames(inputs / "clip.mp4", fps=0))


def test_video_rows_carry_frame_and_time_and_make_a_trace(inputs):
    haar = P.predict([inputs / "clip.mp4"], SHIPPED_MODEL, P.Settings(fps=5, detector="haar"))
    assert [r["frame"] for r in haar.rows] == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    trace = P.main_face_trace(haar.rows, str(inputs / "clip.mp4"))
    assert trace["time"] == pytest.approx(np.arange(10) / 5)
    assert np.isfinite(trace["valence"]).all()
    assert haar.inputs[0].reason == "a face in 10 of 10 sampled frames"
    # frames where the detector finds no face are gaps in the trace, never zeros
    dlib = P.predict([inputs / "clip.mp4"], SHIPPED_MODEL, P.Settings(fps=5, detector="dlib_hog"))
    trace = P.main_face_trace(dlib.rows, str(inputs / "clip.mp4"))
    missed = [r["frame"] for r in dlib.rows if r["status"] == P.NO_FACE]
    assert list(trace["frame"][np.isnan(trace["valence"])]) == missed
    assert dlib.inputs[0].reason == f"a face in {10 - len(missed)} of 10 sampled frames"


def test_smoothing_averages_by_time_and_keeps_long_gaps():
    times = np.arange(6.0)
    values = np.array([0.0, 1.0, np.nan, np.nan, np.nan, 3.0])
    out = P.smooth(times, values, seconds=2)
    assert out[0] == pytest.approx(0.5) and out[1] == pytest.approx(0.5)
    assert np.isnan(out[3]) and out[4] == pytest.approx(3.0)
    assert np.array_equal(P.smooth(times, values, 0), values, equal_nan=True)


def test_clip_truth_visits_each_expression():
    t = np.linspace(0, 12, 121)
    truth = va_path(t, 12)
    centres = emotion_centres()
    assert truth[0] == pytest.approx(centres["neutral"])
    # five legs of 2.4 s; each holds its expression for its first 40 % (2.4-3.36 s: happy)
    assert truth[28] == pytest.approx(centres["happy"])
    assert np.abs(np.diff(truth, axis=0)).max() < 0.1  # it moves smoothly


def test_cli_writes_tables_annotations_and_traces(inputs, tmp_path, capsys):
    out, ann = tmp_path / "out", tmp_path / "ann"
    code = main(["predict", str(inputs), "--out", str(out), "--annotate", str(ann), "--fps", "2"])
    err = capsys.readouterr().err
    assert code == 0
    assert "the shipped model" in err and "wall.png: no face" in err
    assert "7 inputs: " in err
    rows = json.loads((out / "predictions.json").read_text())["rows"]
    assert (out / "predictions.csv").read_text().splitlines()[0] == ",".join(P.ROW_FIELDS)
    assert len((out / "predictions.csv").read_text().splitlines()) == len(rows) + 1
    assert (out / "inputs.csv").is_file() and (out / "clip.mp4_va_trace.png").is_file()
    assert len(list(ann.glob("clip.mp4_frame*.jpg"))) == 4
    assert (ann / "two_faces.jpg.jpg").is_file()


def test_cli_exits_non_zero_only_when_nothing_could_be_processed(inputs, capsys):
    code = main(["predict", str(inputs / "broken.jpg"), str(inputs / "wall.png")])
    err = capsys.readouterr().err
    assert code == 1 and "nothing could be processed" in err
    assert main(["predict", str(inputs / "face.png"), str(inputs / "broken.jpg")]) == 0


def test_cli_refuses_a_file_as_output_folder(inputs, tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    assert main(["predict", str(inputs / "face.png"), "--out", str(tmp_path / "taken")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_write_video_round_trips_in_avi(tmp_path):
    frames = [np.full((48, 64, 3), v, np.uint8) for v in (0, 80, 160, 240)]
    write_video(frames, tmp_path / "grey.avi", fps=4)
    decoded = [f for _, _, f in sample_frames(tmp_path / "grey.avi")]
    assert len(decoded) == 4 and decoded[2].shape == (48, 64, 3)
    assert abs(int(decoded[2].mean()) - 160) < 6


def test_shipped_model_matches_its_card():
    facts = shipped_facts()
    assert SHIPPED_MODEL.stat().st_size <= 20 * 2**20  # issue 25's budget for the model file
    assert weight_digest(SHIPPED_MODEL) == facts["weight_digest"]
    from ferlib.training.checkpoint import load_model

    _, config = load_model(SHIPPED_MODEL)
    assert config["data_dir"] is None  # nothing of the training machine inside
    assert {k: v for k, v in config.items() if k != "data_dir"} == facts["config"]
    card = (SHIPPED_MODEL.parent / "MODEL_CARD.md").read_text()
    m = facts["test_metrics"]
    assert f"Mean CCC {m['ccc_mean']:.3f} on {m['n']} test images" in card
    assert facts["command"] in card and "must not be used for" in card


def test_shipped_model_card_metrics_are_reproduced_on_the_dev_set(dev_set, capsys):
    capsys.readouterr()
    argv = ["evaluate", "--checkpoint", str(SHIPPED_MODEL), "--data-dir", str(dev_set), "--json"]
    assert main(argv) == 0
    measured = json.loads(capsys.readouterr().out)
    facts = shipped_facts()["test_metrics"]
    assert measured["n"] == facts["n"]
    for key in ("ccc_v", "ccc_a", "rmse_v", "rmse_a"):
        assert measured[key] == pytest.approx(facts[key], abs=1e-4)
