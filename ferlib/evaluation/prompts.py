"""Prompt against expression: what a text-to-image generator was asked for and what it drew.

DiffusionFER's images were generated from prompts naming an emotion (the image's folder), then
annotated with the expression people actually see and its valence/arousal. This module measures
the gap between the two, for ``notebooks/30_prompt_vs_expression.ipynb``:

- ``fidelity_table``: per prompted emotion, the share of images that show it, with bootstrap CIs;
- ``va_by_label`` and ``miss_table``: where images land on the VA plane by prompt and by expression,
  and where the generator lands when it misses;
- ``prompt_design`` / ``word_effects``: a ridge regression of valence and arousal on the prompt's
  words, with bootstrap CIs per word (SyntheticFER, or originals that kept their prompt text);
- ``intensity_table``: intensity words ("slightly" … "extremely") against the distance from neutral;
- ``explained_variance``: how much of the VA variance the prompt explains vs an image model;
- ``face_or_prompt``: for unfaithful images, is a model's prediction nearer the annotated emotion's
  centre (it reads the face) or the prompted one's (it would have learnt the prompt)?

Everything is computed from the frame (``FERData.frame``): no number here is typed in.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from ..emotions import EMOTIONS
from .arrays import as_numpy

VA = ["valence", "arousal"]
INTENSITY_ORDER = ("slightly", "(none)", "very", "extremely")
"""SyntheticFER's intensity words, weakest first; "(none)" is a prompt without one."""
_TOKEN = re.compile(r"[a-z]+")


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with both a prompted emotion and an annotated expression, with names and a
    ``faithful`` flag (the annotators saw the prompted emotion)."""
    rows = frame[frame["prompted"].notna() & frame["expression"].notna()].copy()
    rows["annotated"] = [EMOTIONS[int(c)] for c in rows["expression"]]
    rows["faithful"] = rows["prompted"] == rows["annotated"]
    return rows


def _share_interval(
    flags: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the share of True in ``flags``."""
    if len(flags) < 2:  # scipy needs two observations; one image's share cannot move
        return float(flags.mean()), float(flags.mean())
    with warnings.catch_warnings():  # all True (or all False): every resample agrees, as it should
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        ci = stats.bootstrap(
            (flags.astype(float),), np.mean, n_resamples=n_boot, method="percentile", rng=rng
        ).confidence_interval
    return float(ci.low), float(ci.high)


def fidelity_table(frame: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per prompted emotion (most faithful first) and overall: images, the share that show the
    prompted emotion, and its 95 % percentile-bootstrap interval (images resampled within the
    emotion), plus the most common other expression seen.

    Taught in ``notebooks/30_prompt_vs_expression.ipynb`` §1.
    """
    rows = labelled(frame)
    if rows.empty:
        raise ValueError("no image has both a prompted emotion and an annotated expression")
    rng = np.random.default_rng(seed)
    table = []
    for name, group in [*rows.groupby("prompted", sort=False), ("all", rows)]:
        flags = group["faithful"].to_numpy(dtype=bool)
        low, high = _share_interval(flags, n_boot, rng)
        misses = group.loc[~group["faithful"], "annotated"].value_counts()
        table.append(
            {
                "prompted": name,
                "images": len(group),
                "faithful": flags.mean(),
                "low": low,
                "high": high,
                "most common miss": misses.index[0] if len(misses) else "",
            }
        )
    out = pd.DataFrame(table).set_index("prompted")
    emotions = out.drop(index="all").sort_values("faithful", ascending=False)
    return pd.concat([emotions, out.loc[["all"]]])


def va_by_label(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Mean and standard deviation of valence and arousal per ``by`` ("prompted"/"annotated").

    Taught in ``notebooks/30_prompt_vs_expression.ipynb`` §2.
    """
    rows = labelled(frame)
    stats = rows.groupby(by)[VA].agg(["mean", "std", "count"])
    stats.columns = [f"{dim}_{stat}" for dim, stat in stats.columns]
    order = [e for e in EMOTIONS if e in stats.index]
    return (
        stats.loc[order].rename(columns={"valence_count": "images"}).drop(columns="arousal_count")
    )


def miss_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every (prompted, annotated) pair of the misses: images and their mean valence/arousal,
    next to the mean VA of the prompt's faithful images (where the image was meant to land).

    Taught in ``notebooks/30_prompt_vs_expression.ipynb`` §2.
    """
    rows = labelled(frame)
    meant = rows[rows["faithful"]].groupby("prompted")[VA].mean().add_prefix("meant_")
    misses = rows[~rows["faithful"]]
    table = misses.groupby(["prompted", "annotated"])[VA].agg(["count", "mean"])
    table.columns = ["images", "valence", "_n", "arousal"]
    table = table.drop(columns="_n").reset_index()
    table = table.join(meant, on="prompted")
    return table.sort_values("images", ascending=False, ignore_index=True)


# --- prompt words ------------------------------------------------------------------------------
def has_prompts(frame: pd.DataFrame) -> bool:
    """Whether the frame holds prompt text for at least half of its images."""
    return "prompt" in frame and frame["prompt"].notna().mean() >= 0.5


def tokens(prompt: str) -> list[str]:
    """Lower-case words of a prompt, punctuation dropped."""
    return _TOKEN.findall(str(prompt).lower())


def prompt_design(
    prompts: Sequence[str], min_count: int = 5, vocab: Sequence[str] | None = None
) -> pd.DataFrame:
    """Binary bag of words: one column per word in at least ``min_count`` prompts but not in
    all of them (a word every prompt has, like "portrait", cannot explain any difference), or
    one per word of a given ``vocab`` (the training vocabulary, for test prompts)."""
    sets = [set(tokens(p)) for p in prompts]
    if vocab is None:
        counts = pd.Series([w for s in sets for w in s]).value_counts()
        vocab = sorted(counts.index[(counts >= min_count) & (counts < len(sets))])
    matrix = np.array([[w in s for w in vocab] for s in sets], dtype=np.float64)
    return pd.DataFrame(matrix.reshape(len(sets), len(vocab)), columns=list(vocab))


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> Ridge:
    """scikit-learn's ridge regression of ``y`` on ``x`` with an unpenalised intercept (the
    closed form on centred data, (XᵀX + αI)⁻¹Xᵀy: a few hundred words need no iterative solver)."""
    return Ridge(alpha=alpha, solver="cholesky").fit(x, y)


def _usable(frame: pd.DataFrame) -> pd.Series:
    """Rows with a prompt and both labels: what the prompt models fit and score."""
    return frame["prompt"].notna() & frame["valence"].notna() & frame["arousal"].notna()


def _train_test(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and test rows with prompt text; a clear error when there is none to fit on."""
    rows = frame[_usable(frame)]
    train, test = rows[rows["split"] == "train"], rows[rows["split"] == "test"]
    if train.empty:
        raise ValueError(
            "no training image has prompt text (DiffusionFER's cropped release keeps none); "
            "the prompt-word analysis needs SyntheticFER or images with their prompts"
        )
    return train, test


def word_effects(
    frame: pd.DataFrame,
    alpha: float = 10.0,
    n_boot: int = 200,
    seed: int = 0,
    min_count: int = 5,
) -> pd.DataFrame:
    """Each prompt word's ridge coefficient on valence and arousal (training split), with 95 %
    bootstrap intervals (prompts resampled), sorted by the size of its effect.

    Taught in ``notebooks/30_prompt_vs_expression.ipynb`` §3.
    """
    train, _ = _train_test(frame)
    design = prompt_design(list(train["prompt"]), min_count)
    x, y = design.to_numpy(), train[VA].to_numpy(dtype=np.float64)
    coef = ridge(x, y, alpha).coef_.T  # (words, 2)

    def coefficients(rows: np.ndarray) -> np.ndarray:
        return ridge(x[rows], y[rows], alpha).coef_.T.ravel()

    result = stats.bootstrap(
        (np.arange(len(x)),),
        coefficients,
        n_resamples=n_boot,
        vectorized=False,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low = result.confidence_interval.low.reshape(coef.shape)
    high = result.confidence_interval.high.reshape(coef.shape)
    table = pd.DataFrame(
        {
            "prompts": x.sum(0).astype(int),
            "valence": coef[:, 0],
            "valence_low": low[:, 0],
            "valence_high": high[:, 0],
            "arousal": coef[:, 1],
            "arousal_low": low[:, 1],
            "arousal_high": high[:, 1],
        },
        index=pd.Index(design.columns, name="word"),
    )
    size = np.hypot(table["valence"], table["arousal"])
    return table.loc[size.sort_values(ascending=False).index]


def intensity_word(prompt: str, words: Sequence[str] = INTENSITY_ORDER) -> str:
    """The intensity word of a prompt, "(none)" when it has none."""
    found = [w for w in tokens(prompt) if w in words]
    return found[0] if found else "(none)"


def intensity_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per intensity word, over faithful non-neutral images: images and the mean distance of
    their VA label from the neutral images' mean (how far from neutral the face was drawn).

    Taught in ``notebooks/30_prompt_vs_expression.ipynb`` §3.
    """
    rows = labelled(frame)
    rows = rows[rows["prompt"].notna()]
    neutral = rows.loc[rows["annotated"] == "neutral", VA].mean().to_numpy()
    faces = rows[rows["faithful"] & (rows["annotated"] != "neutral")].copy()
    faces["intensity"] = [intensity_word(p) for p in faces["prompt"]]
    faces["distance"] = np.linalg.norm(faces[VA].to_numpy(dtype=float) - neutral, axis=1)
    table = faces.groupby("intensity")["distance"].agg(["count", "mean", "std"])
    table.columns = ["images", "distance from neutral", "std"]
    return table.reindex([w for w in INTENSITY_ORDER if w in table.index])


def explained_variance(
    frame: pd.DataFrame, image_preds: Any, alpha: float = 10.0, min_count: int = 5
) -> pd.DataFrame:
    """R² on the test split of a prompt-only ridge model (fitted on the training prompts) and of
    an image model's predictions ``image_preds`` (test rows of ``frame``, in order).

    Taught in ``notebooks/30_prompt_vs_expression.ipynb`` §4.
    """
    train, test = _train_test(frame)
    design = prompt_design(list(train["prompt"]), min_count)
    model = ridge(design.to_numpy(), train[VA].to_numpy(dtype=float), alpha)
    x_test = prompt_design(list(test["prompt"]), vocab=design.columns).to_numpy()
    y_test = test[VA].to_numpy(dtype=float)
    image = as_numpy(image_preds).reshape(-1, 2)
    test_rows = frame["split"] == "test"
    if len(image) != test_rows.sum():
        raise ValueError("image_preds must hold one row per test image of the frame")
    image = image[_usable(frame[test_rows]).to_numpy()]
    return pd.DataFrame(
        {
            "prompt words only": r2_score(y_test, model.predict(x_test), multioutput="raw_values"),
            "image model": r2_score(y_test, image, multioutput="raw_values"),
        },
        index=VA,
    ).T


def emotion_centres(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean valence and arousal of the training images per annotated expression."""
    train = labelled(frame[frame["split"] == "train"])
    if train.empty:
        raise ValueError("no labelled training images to place the emotion centres")
    return train.groupby("annotated")[VA].mean()


def face_or_prompt(
    frame: pd.DataFrame, preds: Any, centres: pd.DataFrame | None = None
) -> pd.DataFrame:
    """For each unfaithful image (rows of ``frame`` aligned with ``preds``): the prediction's
    distance to the annotated emotion's VA centre and to the prompted emotion's, and which is
    nearer. ``centres`` (emotion -> mean valence/arousal; ``emotion_centres`` of the whole
    data, so that test images never set them) defaults to those of ``frame`` itself.

    Taught in ``notebooks/30_prompt_vs_expression.ipynb`` §5.
    """
    preds = as_numpy(preds).reshape(-1, 2)
    if len(preds) != len(frame):
        raise ValueError(f"{len(preds)} predictions for {len(frame)} images")
    if centres is None:
        centres = emotion_centres(frame)
    rows = labelled(frame)
    position = frame.index.get_indexer(rows.index)
    miss = ~rows["faithful"].to_numpy()
    rows, p = rows[miss], preds[position[miss]]
    face = centres.loc[rows["annotated"], VA].to_numpy()
    prompt = centres.loc[rows["prompted"], VA].to_numpy()
    out = pd.DataFrame(
        {
            "prompted": rows["prompted"].to_numpy(),
            "annotated": rows["annotated"].to_numpy(),
            "to face": np.linalg.norm(p - face, axis=1),
            "to prompt": np.linalg.norm(p - prompt, axis=1),
            "label to face": np.linalg.norm(rows[VA].to_numpy(dtype=float) - face, axis=1),
        },
        index=rows.index,
    )
    out["follows"] = np.where(out["to face"] < out["to prompt"], "face", "prompt")
    return out


__all__ = [
    "emotion_centres",
    "explained_variance",
    "face_or_prompt",
    "fidelity_table",
    "has_prompts",
    "intensity_table",
    "labelled",
    "miss_table",
    "prompt_design",
    "ridge",
    "tokens",
    "va_by_label",
    "word_effects",
]
