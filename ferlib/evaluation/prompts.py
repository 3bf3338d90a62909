"""Prompt against expression: what a text-to-image generator was asked for and what it drew.

DiffusionFER's images were generated from prompts naming an emotion (the image's folder), then
annotated with the expression people actually see and its valence/arousal. This module measures
the gap between the two, for ``notebooks/30_prompt_vs_expression.ipynb``:

- ``fidelity_table``: per prompted emotion, the share of images that show it, with bootstrap CIs;
- ``va_by_label`` and ``miss_table``: where images land on the VA plane by prompt and by expression,
  and where the generator lands when it misses;
- ``prompt_design`` / ``word_effects``: a least-squares regression (ridge when ``alpha > 0``) of
  valence and arousal on the prompt's words, with bootstrap CIs per word (SyntheticFER, or
  originals that kept their prompt text);
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
from ..synthetic.tables import INTENSITY_WORDS, PROMPT_FIDELITY
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


def _term_column(rows: pd.DataFrame, term: str) -> np.ndarray:
    """The 0/1 column of one design term ("prompted: happy", "intensity: very", "word: red")."""
    kind, level = term.split(": ", 1)
    if kind == "prompted":
        values = rows["prompted"] == level
    elif kind == "intensity":
        values = pd.Series([intensity_word(p) == level for p in rows["prompt"]], index=rows.index)
    else:
        values = pd.Series([level in set(tokens(p)) for p in rows["prompt"]], index=rows.index)
    return values.to_numpy(dtype=np.float64)


def reference_design(
    rows: pd.DataFrame,
    min_count: int = 5,
    terms: Sequence[str] | None = None,
    reference: str = "neutral",
) -> pd.DataFrame:
    """Reference-coded design matrix of prompts (``rows``: a frame with ``prompt`` and
    ``prompted``): one 0/1 column per term, and no column for each factor's reference level.

    The terms, in order: the prompted emotion (reference: ``reference``, or the first emotion
    present when it is absent), the intensity word (reference:
    no intensity word, "(none)"), then every other word in at least ``min_count`` prompts, most
    frequent first. A column that the intercept and the columns before it already determine is
    dropped: a word that always comes with one prompted emotion ("smiling" with happy) is that
    emotion's term; of words that split the prompts between them (one hair colour per prompt),
    the last one left is the reference the others are measured against. So each coefficient is
    the change in mean VA when the prompt has this term *instead of its reference*, every other
    term held fixed. ``terms`` rebuilds the columns of a fitted design for other rows (test
    prompts). ``attrs``: ``reference`` (factor -> reference level) and ``dropped`` (word -> the
    term it duplicates, or "reference").
    """
    if terms is not None:
        columns = {t: _term_column(rows, t) for t in terms}
        return pd.DataFrame(columns, index=rows.index, columns=list(terms))
    present = set(rows["prompted"].dropna())
    emotions = [e for e in EMOTIONS if e in present] + sorted(present - set(EMOTIONS))
    ref_emotion = reference if reference in emotions else emotions[0]
    intensities = {intensity_word(p) for p in rows["prompt"]}
    levels = [w for w in INTENSITY_ORDER if w in intensities]
    ref_intensity = "(none)" if "(none)" in levels else levels[0]
    candidates = [f"prompted: {e}" for e in emotions if e != ref_emotion]
    candidates += [f"intensity: {w}" for w in levels if w != ref_intensity]
    counts = pd.Series([w for p in rows["prompt"] for w in set(tokens(p))]).value_counts()
    words = counts[(counts >= min_count) & (counts < len(rows))]
    words = sorted(words.index, key=lambda w: (-words[w], w))
    candidates += [f"word: {w}" for w in words]

    kept: dict[str, np.ndarray] = {}
    basis: list[np.ndarray] = []  # orthonormal, of the centred kept columns
    dropped: dict[str, str] = {}
    for term in candidates:
        column = _term_column(rows, term)
        residual = column - column.mean()
        for b in basis:
            residual = residual - (residual @ b) * b
        if residual @ residual > 1e-9 * len(column):
            basis.append(residual / np.linalg.norm(residual))
            kept[term] = column
            continue
        if term.startswith("word: "):
            twin = next((t for t, c in kept.items() if np.array_equal(c, column)), None)
            dropped[term.removeprefix("word: ")] = twin or "reference"
    design = pd.DataFrame(kept, index=rows.index, columns=list(kept))
    design.attrs.update(
        reference={"prompted": ref_emotion, "intensity": ref_intensity}, dropped=dropped
    )
    return design


def _fit(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Coefficients ``(terms, 2)`` of ``y`` on ``x`` with an intercept: least squares when
    ``alpha`` is 0 (a resample that lacks a rare term gets the minimum-norm solution), ridge
    otherwise."""
    if alpha > 0:
        return ridge(x, y, alpha).coef_.T
    ones = np.ones((len(x), 1))
    solution = np.linalg.lstsq(np.hstack([ones, x]), y, rcond=None)[0]
    return solution[1:]


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
    alpha: float = 0.0,
    n_boot: int = 200,
    seed: int = 0,
    min_count: int = 5,
    reference: str = "neutral",
) -> pd.DataFrame:
    """Each prompt term's coefficient on valence and arousal (training split), with 95 %
    bootstrap intervals (prompts resampled), sorted by the size of its effect.

    The design is ``reference_design``: the prompted emotion against ``reference``, the
    intensity word against none, the other words against their reference. A coefficient is the
    change in mean valence (arousal) when the prompt has the term instead of its reference, all
    other terms held fixed; the intercept (not shown) is the mean VA of a prompt made of
    reference levels only.
    ``alpha`` 0 fits least squares (reference coding leaves no collinear columns to tame); a
    positive ``alpha`` fits a ridge regression instead. The table's ``attrs`` carry the design's
    ``reference`` and ``dropped``.

    Taught in ``notebooks/30_prompt_vs_expression.ipynb`` §3.
    """
    train, _ = _train_test(frame)
    design = reference_design(train, min_count, reference=reference)
    x, y = design.to_numpy(), train[VA].to_numpy(dtype=np.float64)
    coef = _fit(x, y, alpha)  # (terms, 2)

    def coefficients(rows: np.ndarray) -> np.ndarray:
        return _fit(x[rows], y[rows], alpha).ravel()

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
        index=pd.Index(design.columns, name="term"),
    )
    size = np.hypot(table["valence"], table["arousal"])
    table = table.loc[size.sort_values(ascending=False).index]
    table.attrs.update(design.attrs)
    return table


def intensity_word(prompt: str, words: Sequence[str] = INTENSITY_ORDER) -> str:
    """The intensity word of a prompt, "(none)" when it has none."""
    found = [w for w in tokens(prompt) if w in words]
    return found[0] if found else "(none)"


def _scale_interval(
    dot: np.ndarray, norm2: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of sum(dot) / sum(norm2), images resampled."""
    if len(dot) < 2:
        value = float(dot.sum() / norm2.sum())
        return value, value
    ci = stats.bootstrap(
        (dot, norm2),
        lambda d, n, axis=-1: d.sum(axis) / n.sum(axis),
        paired=True,
        vectorized=True,
        n_resamples=n_boot,
        method="percentile",
        rng=rng,
    ).confidence_interval
    return float(ci.low), float(ci.high)


def intensity_table(frame: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per intensity word, over faithful non-neutral images: how far from neutral the face was
    drawn.

    ``distance from neutral`` is the mean distance of the VA labels from the neutral images' mean
    ``n`` (noise adds to it, so it never reaches 0). ``scale`` estimates the factor by which the
    word moves a face away from neutral, relative to its emotion's average face: each image's
    offset ``y - n`` projected on its emotion's mean offset ``u_e`` (the mean of the emotion's
    faithful images, all words together, minus ``n``), ``Σ⟨y - n, u_e⟩ / Σ|u_e|²`` over the
    word's images — zero-mean noise cancels from the sum. ``scale_low``/``scale_high``: its 95 %
    percentile-bootstrap interval (the word's images resampled).

    Taught in ``notebooks/30_prompt_vs_expression.ipynb`` §3.
    """
    rows = labelled(frame)
    rows = rows[rows["prompt"].notna()]
    neutral = rows.loc[rows["annotated"] == "neutral", VA].mean().to_numpy()
    faces = rows[rows["faithful"] & (rows["annotated"] != "neutral")].copy()
    faces["intensity"] = [intensity_word(p) for p in faces["prompt"]]
    offset = faces[VA].to_numpy(dtype=float) - neutral
    mean_offset = faces.groupby("annotated")[VA].transform("mean").to_numpy(dtype=float) - neutral
    faces["distance"] = np.linalg.norm(offset, axis=1)
    faces["dot"] = (offset * mean_offset).sum(axis=1)
    faces["norm2"] = (mean_offset**2).sum(axis=1)
    rng = np.random.default_rng(seed)
    table = []
    for word in [w for w in INTENSITY_ORDER if w in set(faces["intensity"])]:
        group = faces[faces["intensity"] == word]
        dot, norm2 = group["dot"].to_numpy(), group["norm2"].to_numpy()
        low, high = _scale_interval(dot, norm2, n_boot, rng)
        table.append(
            {
                "intensity": word,
                "images": len(group),
                "distance from neutral": group["distance"].mean(),
                "std": group["distance"].std(),
                "scale": dot.sum() / norm2.sum(),
                "scale_low": low,
                "scale_high": high,
            }
        )
    return pd.DataFrame(table).set_index("intensity")


# --- what SyntheticFER planted -----------------------------------------------------------------
def planted_fidelity(
    table: pd.DataFrame, fidelity: dict[str, dict[str, float]] = PROMPT_FIDELITY
) -> pd.DataFrame:
    """The rendering fidelity SyntheticFER planted (``fidelity[e][e]``, the chance that a prompt
    for ``e`` is drawn as ``e``) beside what ``fidelity_table`` recovered, and whether the planted
    share lies inside the recovered 95 % interval. The "all" row's planted share weighs each
    emotion's by its images in ``table``: the overall share depends on the mix of prompts.

    Taught in ``notebooks/30_prompt_vs_expression.ipynb`` §1.
    """
    emotions = table.drop(index="all", errors="ignore")
    planted = pd.Series({e: fidelity.get(e, {}).get(e, np.nan) for e in emotions.index})
    weights = emotions["images"] / emotions["images"].sum()
    planted["all"] = float((planted[emotions.index] * weights).sum())
    out = pd.DataFrame(
        {
            "planted": planted,
            "recovered": table["faithful"],
            "low": table["low"],
            "high": table["high"],
        }
    ).loc[table.index]
    out["inside"] = (out["low"] <= out["planted"]) & (out["planted"] <= out["high"])
    out.index.name = "prompted"
    return out


def planted_intensity(
    table: pd.DataFrame, words: Sequence[tuple[str, float]] = INTENSITY_WORDS
) -> pd.DataFrame:
    """SyntheticFER's intensity factors (``INTENSITY_WORDS``; "" is "(none)"), divided by their
    mean (``intensity_table``'s ``scale`` is relative to the emotion's average face, and the words
    are drawn equally often), beside the recovered ``scale`` and its interval.

    Taught in ``notebooks/30_prompt_vs_expression.ipynb`` §3.
    """
    factors = {word or "(none)": scale for word, scale in words}
    mean = float(np.mean(list(factors.values())))
    out = pd.DataFrame(
        {
            "planted": [factors.get(w, np.nan) / mean for w in table.index],
            "recovered": table["scale"].to_numpy(),
            "low": table["scale_low"].to_numpy(),
            "high": table["scale_high"].to_numpy(),
        },
        index=table.index,
    )
    out["inside"] = (out["low"] <= out["planted"]) & (out["planted"] <= out["high"])
    return out


def explained_variance(
    frame: pd.DataFrame, image_preds: Any, alpha: float = 0.0, min_count: int = 5
) -> pd.DataFrame:
    """R² on the test split of a prompt-only model (``reference_design`` fitted on the training
    prompts, least squares or ridge as in ``word_effects``) and of an image model's predictions
    ``image_preds`` (test rows of ``frame``, in order).

    Taught in ``notebooks/30_prompt_vs_expression.ipynb`` §4.
    """
    train, test = _train_test(frame)
    design = reference_design(train, min_count)
    y_train = train[VA].to_numpy(dtype=float)
    coef = _fit(design.to_numpy(), y_train, alpha)
    intercept = y_train.mean(0) - design.to_numpy().mean(0) @ coef
    x_test = reference_design(test, terms=design.columns).to_numpy()
    y_test = test[VA].to_numpy(dtype=float)
    image = as_numpy(image_preds).reshape(-1, 2)
    test_rows = frame["split"] == "test"
    if len(image) != test_rows.sum():
        raise ValueError("image_preds must hold one row per test image of the frame")
    image = image[_usable(frame[test_rows]).to_numpy()]
    prompt_only = intercept + x_test @ coef
    return pd.DataFrame(
        {
            "prompt words only": r2_score(y_test, prompt_only, multioutput="raw_values"),
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


def training_mean(frame: pd.DataFrame) -> np.ndarray:
    """Mean ``[valence, arousal]`` of the training labels: what a constant predictor, which
    looks at nothing, predicts for every image."""
    train = frame.loc[frame["split"] == "train", VA].dropna()
    if train.empty:
        raise ValueError("no labelled training images")
    return train.mean().to_numpy(dtype=float)


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


def face_or_prompt_summary(
    frame: pd.DataFrame, predictions: dict[str, Any], centres: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``face_or_prompt`` for several predictors of the same rows of ``frame``, one row each:
    unfaithful images, the share predicted nearer the face's centre than the prompt's, and the
    mean distances to both.

    Put a constant predictor among them (``training_mean`` for every image): it looks at nothing,
    yet it can land nearer the face for many misses, because misses often go to neutral, near the
    middle of the plane where a mean prediction sits. A model "follows the face" only by as much
    as it beats that row.

    Taught in ``notebooks/30_prompt_vs_expression.ipynb`` §5.
    """
    rows = []
    for name, preds in predictions.items():
        table = face_or_prompt(frame, preds, centres)
        rows.append(
            {
                "predictor": name,
                "unfaithful images": len(table),
                "nearer the face": (table["follows"] == "face").mean() if len(table) else np.nan,
                "mean to face": table["to face"].mean(),
                "mean to prompt": table["to prompt"].mean(),
            }
        )
    return pd.DataFrame(rows).set_index("predictor")


__all__ = [
    "emotion_centres",
    "explained_variance",
    "face_or_prompt",
    "face_or_prompt_summary",
    "fidelity_table",
    "has_prompts",
    "intensity_table",
    "labelled",
    "miss_table",
    "planted_fidelity",
    "planted_intensity",
    "prompt_design",
    "reference_design",
    "ridge",
    "training_mean",
    "tokens",
    "va_by_label",
    "word_effects",
]
