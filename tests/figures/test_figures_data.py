"""The dataset figures draw what they claim: right grid shape, shares that sum to 1, one scatter
per class, the ellipses of the class covariance, honest messages for missing labels."""

from __future__ import annotations

import dataclasses
import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.collections import PathCollection, QuadMesh
from matplotlib.patches import Ellipse

from ferlib import figures
from ferlib.data import FERData, cache_images, load_dataset
from ferlib.emotions import EMOTIONS
from ferlib.synthetic import SynthConfig, generate

matplotlib.use("Agg")

TILE_TITLE = re.compile(r"^v=([+-]\d\.\d\d) a=([+-]\d\.\d\d)$")


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> FERData:
    """28 synthetic images (4 per prompted emotion, 4 identities) with a 72 px tensor store."""
    root = tmp_path_factory.mktemp("plots")
    generate(root / "data", SynthConfig(per_class=4, identities=4, size=64), workers=1)
    return cache_images(load_dataset("diffusionfer", root / "data"), 64, cache_dir=root / "cache")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _keep(data: FERData, mask: np.ndarray) -> FERData:
    """Rows of ``data`` where ``mask`` holds, with the image store kept aligned."""
    images = None if data.images is None else data.images[torch.from_numpy(mask)]
    return dataclasses.replace(data, frame=data.frame[mask].reset_index(drop=True), images=images)


def _with_column(data: FERData, column: str, value) -> FERData:
    frame = data.frame.copy()
    frame[column] = pd.Series([value] * len(frame), index=frame.index, dtype=object)
    return dataclasses.replace(data, frame=frame)


def _bar_heights(ax) -> dict[str, np.ndarray]:
    """Bar heights per legend label (one ``BarContainer`` per split)."""
    return {
        c.get_label().split(" (")[0]: np.array([p.get_height() for p in c]) for c in ax.containers
    }


def test_one_distinct_colour_per_emotion():
    assert list(figures.style.EMOTION_COLOURS) == list(EMOTIONS)
    assert len(set(figures.style.EMOTION_COLOURS.values())) == len(EMOTIONS)
    assert not set(figures.style.SPLIT_COLOURS.values()) & set(
        figures.style.EMOTION_COLOURS.values()
    )


def test_emotion_labels_rejects_unknown_grouping(synth):
    with pytest.raises(ValueError, match="prompted' or 'expression"):
        figures.data.emotion_labels(synth, "folder")


def test_sample_grid_rows_tiles_and_titles(synth):
    fig = figures.data.sample_grid(synth, per_class=3)
    axes = np.array(fig.axes).reshape(len(EMOTIONS), 3)
    frame = synth.frame
    for row, name in enumerate(EMOTIONS):
        assert axes[row, 0].get_ylabel() == f"{name}\nn=4"
        members = frame[frame["prompted"] == name]
        for ax in axes[row]:
            assert len(ax.images) == 1
            assert ax.images[0].get_array().shape == (72, 72, 3)  # the store's resolution
            assert not ax.get_xticks().size and not ax.get_yticks().size
            v, a = map(float, TILE_TITLE.match(ax.get_title()).groups())
            # the tile is one of this row's images
            assert (
                np.isclose(members["valence"], v, atol=0.005)
                & np.isclose(members["arousal"], a, atol=0.005)
            ).any()


def test_sample_grid_is_deterministic_per_seed(synth):
    def tiles(seed):
        fig = figures.data.sample_grid(synth, per_class=2, seed=seed)
        return np.stack([ax.images[0].get_array() for ax in fig.axes])

    assert np.array_equal(tiles(0), tiles(0))
    assert not np.array_equal(tiles(0), tiles(1))


def test_sample_grid_reads_files_without_a_store(synth):
    fig = figures.data.sample_grid(dataclasses.replace(synth, images=None), per_class=1)
    assert len(fig.axes) == len(EMOTIONS)
    assert all(ax.images[0].get_array().shape == (64, 64, 3) for ax in fig.axes)  # file size


def test_sample_grid_keeps_a_labelled_blank_row(synth):
    no_fear = _keep(synth, (synth.frame["prompted"] != "fear").to_numpy())
    fig = figures.data.sample_grid(no_fear, per_class=4)
    axes = np.array(fig.axes).reshape(len(EMOTIONS), 4)
    fear = EMOTIONS.index("fear")
    assert axes[fear, 0].get_ylabel() == "fear\nn=0"
    assert all(not ax.images and not ax.get_frame_on() for ax in axes[fear])
    assert sum(len(ax.images) for ax in fig.axes) == 6 * 4


def test_sample_grid_by_expression_counts_annotations(synth):
    fig = figures.data.sample_grid(synth, per_class=4, by="expression")
    axes = np.array(fig.axes).reshape(len(EMOTIONS), 4)
    counts = synth.frame["expression"].value_counts()
    for code, name in enumerate(EMOTIONS):
        n = int(counts.get(code, 0))
        assert axes[code, 0].get_ylabel() == f"{name}\nn={n}"
        assert sum(len(ax.images) for ax in axes[code]) == min(n, 4)


def _heatmap(fig) -> tuple[np.ndarray, list[str]]:
    ax = fig.axes[0]
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    values = np.ma.filled(np.ma.asarray(mesh.get_array(), dtype=float), np.nan)
    return values.reshape(len(EMOTIONS), len(EMOTIONS)), [t.get_text() for t in ax.texts]


def test_prompted_vs_annotated_rows_are_shares(synth):
    shares, texts = _heatmap(figures.data.prompted_vs_annotated(synth))
    np.testing.assert_allclose(np.nansum(shares, axis=1), 1.0)  # every prompted class has 4
    assert sum(bool(t) for t in texts) == np.count_nonzero(np.nan_to_num(shares))
    assert all(re.fullmatch(r"(<1|\d{1,3})%", t) for t in texts if t)


def test_prompted_vs_annotated_counts(synth):
    counts, texts = _heatmap(figures.data.prompted_vs_annotated(synth, normalize=False))
    frame = synth.frame
    expected = pd.crosstab(frame["prompted"], frame["expression"].map(lambda c: EMOTIONS[c]))
    expected = expected.reindex(index=list(EMOTIONS), columns=list(EMOTIONS), fill_value=0)
    np.testing.assert_array_equal(counts, expected.to_numpy())
    assert sorted(int(t) for t in texts if t) == sorted(int(c) for c in counts.ravel() if c)


def test_prompted_vs_annotated_skips_rows_missing_a_label(synth):
    frame = synth.frame.copy()
    frame.loc[:3, "expression"] = pd.NA
    frame.loc[4:5, "prompted"] = None
    counts, _ = _heatmap(
        figures.data.prompted_vs_annotated(dataclasses.replace(synth, frame=frame), normalize=False)
    )
    assert counts.sum() == len(frame) - 6


def test_prompted_vs_annotated_needs_prompted_emotions(synth):
    with pytest.raises(ValueError, match="no prompted emotions"):
        figures.data.prompted_vs_annotated(_with_column(synth, "prompted", None))


def _class_sizes(data: FERData, by: str) -> pd.Series:
    return figures.data.emotion_labels(data, by).value_counts()


@pytest.mark.parametrize("by", ["expression", "prompted"])
def test_va_scatter_one_collection_per_class_and_ellipses(synth, by):
    # thin one class to 2 points: it keeps its scatter but loses its ellipses
    labels = figures.data.emotion_labels(synth, by)
    thinned = labels.index[labels == "happy"][2:]
    data = _keep(synth, ~synth.frame.index.isin(thinned))
    sizes = _class_sizes(data, by)
    assert sizes["happy"] == 2

    ax = figures.data.va_scatter(data, by=by).axes[0]
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [s.get_label() for s in scatters] == [
        f"{name} (n={sizes[name]})" for name in EMOTIONS if name in sizes
    ]
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ellipses) == 2 * int((sizes >= 3).sum())
    assert ax.get_xlim() == (-1, 1) and ax.get_ylim() == (-1, 1)
    assert ax.get_aspect() == 1.0
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "1σ ellipse (~39%)" in legend and "2σ ellipse (~86%)" in legend


def test_va_scatter_without_ellipses_and_with_unlabelled_points(synth):
    frame = synth.frame.copy()
    frame.loc[:2, "expression"] = pd.NA
    ax = figures.data.va_scatter(dataclasses.replace(synth, frame=frame), ellipses=False).axes[0]
    assert not [p for p in ax.patches if isinstance(p, Ellipse)]
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    unlabelled = [s for s in scatters if s.get_label() == "no label (n=3)"]
    assert len(unlabelled) == 1 and scatters[-1] is unlabelled[0]  # listed after the emotions
    assert (
        matplotlib.colors.to_hex(unlabelled[0].get_facecolor()[0])
        == figures.style.UNLABELLED_COLOUR
    )
    assert sum(len(s.get_offsets()) for s in scatters) == len(frame)


@pytest.mark.parametrize("rotation", [0.0, 30.0, 135.0])
def test_covariance_ellipse_follows_the_covariance(rotation):
    # four points whose (ddof=1) covariance is diag(4, 1), then rotated
    points = np.array([[6**0.5, 0], [-(6**0.5), 0], [0, 1.5**0.5], [0, -(1.5**0.5)]])
    t = np.radians(rotation)
    turn = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    x, y = (points @ turn.T + [0.1, -0.2]).T
    ellipse = figures.style.covariance_ellipse(x, y, n_std=2)
    assert ellipse.center == pytest.approx((0.1, -0.2))
    assert (ellipse.width, ellipse.height) == pytest.approx((8.0, 4.0))
    assert ellipse.angle % 180 == pytest.approx(rotation % 180, abs=1e-6)


def test_va_marginals_survives_tiny_classes(synth):
    happy, sad, neutral = (EMOTIONS.index(n) for n in ("happy", "sad", "neutral"))
    frame = synth.frame.copy()
    frame.loc[frame["expression"] == sad, "expression"] = neutral
    frame = frame.drop(frame.index[frame["expression"] == happy][1:])  # one happy image
    three = frame.index[frame["expression"] == neutral][:3]  # three identical sad images
    frame.loc[three, "expression"] = sad
    frame.loc[three, ["valence", "arousal"]] = 0.25
    data = dataclasses.replace(synth, frame=frame.reset_index(drop=True), images=None)

    fig = figures.data.va_marginals(data)
    assert [ax.get_title() for ax in fig.axes] == ["valence", "arousal"]
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    sizes = _class_sizes(data, "expression")
    skipped = [n for n in EMOTIONS if n == "sad" or 0 < sizes.get(n, 0) < 3]
    assert "happy" in skipped and "happy" not in legend and "sad" not in legend
    assert legend[-1] == "too few images for a curve:\n" + ", ".join(skipped)
    assert {n for n in EMOTIONS if n not in skipped and n in sizes} <= set(legend)


def test_va_marginals_of_nothing_says_so(synth):
    fig = figures.data.va_marginals(_keep(synth, np.zeros(len(synth), dtype=bool)))
    assert "no images" in fig.axes[0].texts[0].get_text()


def test_identity_counts_bars_sum_to_the_split_sizes(synth):
    ax = figures.data.identity_counts(synth).axes[0]
    heights = _bar_heights(ax)
    assert list(heights) == ["train", "val", "test"]
    for split, bars in heights.items():
        assert bars.sum() == (synth.frame["split"] == split).sum()
    identities = synth.frame["identity"].nunique()
    assert len([t for t in ax.get_xticklabels() if t.get_text()]) == identities
    assert "every person is in exactly one split" in ax.get_title()


def test_identity_counts_flags_identities_in_two_splits(synth):
    frame = synth.frame.copy()
    person = frame["identity"].iloc[0]
    other = next(s for s in ("train", "val", "test") if s != frame["split"].iloc[0])
    frame.loc[frame.index[0], "split"] = other
    ax = figures.data.identity_counts(dataclasses.replace(synth, frame=frame)).axes[0]
    assert "1 people appear in more than one split" in ax.get_title(), person


def test_identity_counts_without_identities_says_so(synth):
    fig = figures.data.identity_counts(_with_column(synth, "identity", None))
    ax = fig.axes[0]
    assert not ax.axison
    assert "No identities" in ax.texts[0].get_text()


def test_split_counts_stacks_every_image(synth):
    ax = figures.data.split_counts(synth).axes[0]
    heights = _bar_heights(ax)
    labels = figures.data.emotion_labels(synth, "expression")
    expected = pd.crosstab(labels, synth.frame["split"]).reindex(
        index=list(EMOTIONS), columns=["train", "val", "test"], fill_value=0
    )
    for split, bars in heights.items():
        np.testing.assert_array_equal(bars, expected[split].to_numpy())
    totals = [int(t.get_text()) for t in ax.texts]
    assert totals == expected.sum(axis=1).tolist()
    assert [t.get_text() for t in ax.get_xticklabels()] == list(EMOTIONS)


def test_split_counts_gives_unlabelled_images_a_bar(synth):
    ax = figures.data.split_counts(_with_column(synth, "prompted", None), by="prompted").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == figures.style.UNLABELLED
    assert [int(t.get_text()) for t in ax.texts] == [0] * len(EMOTIONS) + [len(synth)]


def test_figures_stay_out_of_pyplot(synth):
    """Not registered with pyplot, so a notebook shows a returned figure once (not twice)."""
    made = [
        figures.data.sample_grid(synth, per_class=1),
        figures.data.prompted_vs_annotated(synth),
        figures.data.va_scatter(synth),
        figures.data.va_marginals(synth),
        figures.data.identity_counts(synth),
        figures.data.split_counts(synth),
    ]
    assert all(isinstance(fig, matplotlib.figure.Figure) for fig in made)
    assert plt.get_fignums() == []
