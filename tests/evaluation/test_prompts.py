"""ferlib.evaluation.prompts and figures.prompt: fidelity, misses, prompt words, face or prompt."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from ferlib import figures
from ferlib.data import load_dataset
from ferlib.emotions import CODE
from ferlib.evaluation import prompts as pa

matplotlib.use("Agg")


def frame_of(rows: list[tuple[str, str, float, float]], split: str = "train") -> pd.DataFrame:
    """(prompted, annotated, valence, arousal) rows as a loader frame."""
    return pd.DataFrame(
        {
            "prompted": [r[0] for r in rows],
            "expression": [CODE[r[1]] for r in rows],
            "valence": [r[2] for r in rows],
            "arousal": [r[3] for r in rows],
            "split": split,
        }
    )


def test_fidelity_shares_intervals_order_and_misses():
    rows = [("happy", "happy", 0.8, 0.3)] * 9 + [("happy", "neutral", 0.0, 0.0)]
    rows += [("angry", "angry", -0.6, 0.6)] * 5 + [("angry", "surprise", 0.0, 0.6)] * 5
    table = pa.fidelity_table(frame_of(rows), n_boot=500)
    assert list(table.index) == ["happy", "angry", "all"]
    assert table.loc["happy", "faithful"] == pytest.approx(0.9)
    assert table.loc["all", "faithful"] == pytest.approx(14 / 20)
    assert table.loc["angry", "most common miss"] == "surprise"
    assert (table["low"] <= table["faithful"]).all() and (table["faithful"] <= table["high"]).all()
    assert table.loc["angry", "high"] - table.loc["angry", "low"] > 0.2  # 10 images: wide


def test_misses_and_va_by_label():
    rows = [("fear", "fear", -0.4, 0.6)] * 4 + [("fear", "neutral", 0.0, 0.0)] * 2
    frame = frame_of(rows)
    misses = pa.miss_table(frame)
    assert misses.iloc[0][["prompted", "annotated", "images"]].tolist() == ["fear", "neutral", 2]
    assert misses.iloc[0][["meant_valence", "meant_arousal"]].tolist() == [-0.4, 0.6]
    by_prompt = pa.va_by_label(frame, "prompted")
    assert by_prompt.loc["fear", "valence_mean"] == pytest.approx((-0.4 * 4) / 6)
    assert list(pa.va_by_label(frame, "annotated").index) == ["neutral", "fear"]


def test_ridge_matches_least_squares_without_penalty():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 3.0
    fit = pa.ridge(x, y, alpha=0.0)
    np.testing.assert_allclose(np.ravel(fit.coef_), [1.0, -2.0, 0.5], atol=1e-10)
    np.testing.assert_allclose(np.ravel(fit.intercept_), [3.0], atol=1e-10)
    shrunk = pa.ridge(x, y, alpha=100.0)
    assert np.abs(shrunk.coef_).sum() < np.abs(fit.coef_).sum()


def prompted_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Prompts whose words set VA exactly: "happy" +0.5 valence, "very" +0.2 arousal."""
    rng = np.random.default_rng(seed)
    happy, very = rng.random(n) < 0.5, rng.random(n) < 0.5
    hair = rng.choice(["red", "black"], n)  # a nuisance word
    prompts = [
        f"portrait of a person, {'very ' if v else ''}{'happy' if h else 'calm'}, {c} hair"
        for h, v, c in zip(happy, very, hair, strict=True)
    ]
    return pd.DataFrame(
        {
            "prompt": prompts,
            "prompted": np.where(happy, "happy", "neutral"),
            "expression": np.where(happy, CODE["happy"], CODE["neutral"]),
            "valence": 0.5 * happy,
            "arousal": 0.2 * very,
            "split": np.where(np.arange(n) % 4 == 0, "test", "train"),
        }
    )


def test_word_effects_recover_the_words_that_set_va():
    frame = prompted_frame()
    assert pa.has_prompts(frame) and pa.tokens("A very, Happy face") == [
        "a",
        "very",
        "happy",
        "face",
    ]
    table = pa.word_effects(frame, n_boot=50)
    assert table.attrs["reference"] == {"prompted": "neutral", "intensity": "(none)"}
    # the emotion's words are the prompted emotion's term; one of two hair colours is the reference
    assert table.attrs["dropped"]["happy"] == "prompted: happy"
    assert table.attrs["dropped"]["calm"] == "reference"
    assert "word: portrait" not in table.index  # in every prompt: explains nothing
    assert {"word: red", "word: black"} & set(table.index) and len(table) == 3
    # reference coding: each coefficient is the planted change against the reference level
    assert table.loc["prompted: happy", "valence"] == pytest.approx(0.5, abs=1e-9)
    assert table.loc["intensity: very", "arousal"] == pytest.approx(0.2, abs=1e-9)
    assert table.loc["prompted: happy", "arousal"] == pytest.approx(0.0, abs=1e-9)
    hair = table.index[table.index.str.startswith("word: ")][0]
    assert abs(table.loc[hair, "valence"]) < 1e-9
    assert table.loc["intensity: very", "arousal_low"] <= 0.2 + 1e-9
    assert table.index[0] == "prompted: happy"  # sorted by effect size
    flipped = pa.word_effects(frame, n_boot=20, reference="happy")
    assert flipped.attrs["reference"]["prompted"] == "happy"
    assert flipped.loc["prompted: neutral", "valence"] == pytest.approx(-0.5, abs=1e-9)


def test_reference_design_rebuilds_its_terms_for_other_rows():
    frame = prompted_frame()
    train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
    design = pa.reference_design(train)
    again = pa.reference_design(test, terms=design.columns)
    assert list(again.columns) == list(design.columns) and len(again) == len(test)
    np.testing.assert_array_equal(
        again["prompted: happy"].to_numpy(), (test["prompted"] == "happy").to_numpy(float)
    )
    x = np.hstack([np.ones((len(design), 1)), design.to_numpy()])
    assert np.linalg.matrix_rank(x) == x.shape[1]  # no collinear columns left


def test_prompt_models_without_prompt_text_say_so():
    frame = prompted_frame()
    frame["prompt"] = None
    for call in (lambda: pa.word_effects(frame), lambda: pa.explained_variance(frame, [])):
        with pytest.raises(ValueError, match="no training image has prompt text"):
            call()


def test_explained_variance_prompt_vs_image():
    frame = prompted_frame()
    test = frame[frame["split"] == "test"]
    noisy = test[["valence", "arousal"]].to_numpy() + 0.1
    r2 = pa.explained_variance(frame, np.zeros((len(test), 2)) + noisy)
    assert r2.loc["prompt words only"].min() > 0.99
    assert r2.loc["image model"].max() < 0.99  # a constant offset costs R²
    with pytest.raises(ValueError, match="one row per test image"):
        pa.explained_variance(frame, np.zeros((3, 2)))


def test_intensity_words_order():
    frame = prompted_frame()
    frame["prompt"] = [p.replace("very", "extremely") for p in frame["prompt"]]
    frame.loc[frame.index % 3 == 0, "prompt"] += " slightly"
    table = pa.intensity_table(frame)
    assert list(table.index) == [w for w in pa.INTENSITY_ORDER if w in table.index]
    assert pa.intensity_word("an extremely happy face") == "extremely"
    assert pa.intensity_word("a happy face") == "(none)"


def test_intensity_scale_recovers_planted_factors():
    """Faces drawn at 0.5, 1 and 1.5 times their emotion's offset from neutral, with noise."""
    rng = np.random.default_rng(0)
    rows = [("neutral", "neutral", 0.0, 0.0, "a neutral face")] * 50
    for word, scale in (("slightly", 0.5), ("very", 1.0), ("extremely", 1.5)):
        for emotion, (v, a) in (("happy", (0.4, 0.2)), ("angry", (-0.5, 0.5))):
            for _ in range(100):
                noise = rng.normal(0, 0.05, 2)
                rows.append(
                    (
                        emotion,
                        emotion,
                        scale * v + noise[0],
                        scale * a + noise[1],
                        f"a {word} {emotion} face",
                    )
                )
    frame = frame_of([r[:4] for r in rows])
    frame["prompt"] = [r[4] for r in rows]
    table = pa.intensity_table(frame, n_boot=200)
    assert list(table.index) == ["slightly", "very", "extremely"]
    np.testing.assert_allclose(table["scale"], [0.5, 1.0, 1.5], atol=0.03)
    assert (table["scale_low"] < table["scale"]).all() and (
        table["scale"] < table["scale_high"]
    ).all()
    planted = pa.planted_intensity(
        table, words=(("slightly", 0.5), ("very", 1.0), ("extremely", 1.5))
    )
    assert planted["inside"].all() and list(planted["planted"]) == [0.5, 1.0, 1.5]


def test_planted_fidelity_sits_beside_the_recovered_share():
    rows = [("happy", "happy", 0.8, 0.3)] * 9 + [("happy", "neutral", 0.0, 0.0)]
    rows += [("angry", "angry", -0.6, 0.6)] * 5 + [("angry", "surprise", 0.0, 0.6)] * 15
    table = pa.fidelity_table(frame_of(rows), n_boot=500)
    planted = pa.planted_fidelity(
        table, fidelity={"happy": {"happy": 0.9, "neutral": 0.1}, "angry": {"angry": 0.9}}
    )
    assert list(planted.index) == ["happy", "angry", "all"]
    assert planted.loc["happy", "inside"] and not planted.loc["angry", "inside"]
    assert planted.loc["all", "planted"] == pytest.approx(0.9)  # both 0.9, whatever the weights
    assert planted.loc["all", "recovered"] == pytest.approx(14 / 30)
    real = pa.planted_fidelity(table)  # the tables SyntheticFER draws from
    assert real.loc["happy", "planted"] == pytest.approx(0.99)
    # the overall share weighs each emotion by its images: more happy images, higher overall
    assert real.loc["all", "planted"] == pytest.approx((10 * 0.99 + 20 * 0.60) / 30)


def test_face_or_prompt_tells_which_centre_a_prediction_is_near():
    rows = [("happy", "happy", 0.8, 0.2)] * 4 + [("neutral", "neutral", 0.0, 0.0)] * 4
    rows += [("happy", "neutral", 0.0, 0.0)] * 3
    frame = frame_of(rows)
    at_face = frame[["valence", "arousal"]].to_numpy()
    table = pa.face_or_prompt(frame, at_face)
    assert len(table) == 3 and (table["follows"] == "face").all()
    assert table["to face"].max() == pytest.approx(0.0)
    at_prompt = at_face.copy()
    at_prompt[-3:] = [0.8, 0.2]
    assert (pa.face_or_prompt(frame, at_prompt)["follows"] == "prompt").all()
    with pytest.raises(ValueError, match="predictions"):
        pa.face_or_prompt(frame, at_face[:2])


def test_a_constant_predictor_can_look_like_it_follows_the_face():
    """Misses to neutral: a constant prediction near the middle is nearer the drawn face."""
    rows = [("happy", "happy", 0.8, 0.2)] * 6 + [("neutral", "neutral", 0.0, 0.0)] * 6
    rows += [("happy", "neutral", 0.0, 0.0)] * 4
    frame = frame_of(rows)
    mean = pa.training_mean(frame)
    np.testing.assert_allclose(mean, frame[["valence", "arousal"]].mean().to_numpy())
    labels = frame[["valence", "arousal"]].to_numpy()
    summary = pa.face_or_prompt_summary(
        frame, {"labels": labels, "constant": np.tile(mean, (len(frame), 1))}
    )
    assert list(summary.index) == ["labels", "constant"]
    assert (summary["unfaithful images"] == 4).all()
    assert summary.loc["labels", "nearer the face"] == 1.0
    assert summary.loc["constant", "nearer the face"] == 1.0  # it looks at nothing
    assert summary.loc["labels", "mean to face"] == pytest.approx(0.0)


def test_plots_draw_their_tables(tiny_synth):
    frame = load_dataset("diffusionfer", tiny_synth).frame
    fig = figures.prompt.fidelity_ranking(pa.fidelity_table(frame, n_boot=50))
    fig.canvas.draw()
    assert len(fig.axes[0].patches) == frame["prompted"].nunique()
    fig = figures.prompt.misses_by_prompt(pa.labelled(frame))
    assert sum(ax.get_visible() for ax in fig.axes) == frame["prompted"].nunique()
    words = pa.word_effects(frame, n_boot=20, min_count=2)
    fig = figures.prompt.word_effects(words, top=5)
    assert len(fig.axes[0].get_yticklabels()) == 5
    assert "reference levels: prompted = neutral" in fig._suptitle.get_text()
    preds = frame[["valence", "arousal"]].to_numpy()
    table = pa.face_or_prompt(frame, preds)
    title = figures.prompt.face_or_prompt(table).axes[0].get_title()
    share = (table["follows"] == "face").mean()
    assert f"{len(table)} unfaithful images: {share:.0%} nearer the face" in title


def test_real_dev_set_reproduces_the_fidelity_gap(dev_set):
    """DiffusionFER-S: about 85 % faithful overall; disgust and angry the least faithful."""
    frame = load_dataset("diffusionfer", dev_set).frame
    table = pa.fidelity_table(frame, n_boot=200)
    assert 0.8 < table.loc["all", "faithful"] < 0.9
    assert set(table.drop(index="all").index[-2:]) == {"disgust", "angry"}
    assert not pa.has_prompts(frame)  # the cropped release carries no prompt text
