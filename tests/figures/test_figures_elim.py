"""ferlib.figures.elim: deterministic PCA, and figures with the panels and marks they claim."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ferlib import figures
from ferlib.figures.style import EMOTION_COLOURS

matplotlib.use("Agg")


def render(fig: Figure) -> Figure:
    fig.canvas.draw()
    return fig


def test_pca_2d_matches_an_svd_up_to_sign_and_is_deterministic():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 6)) * np.array([5.0, 2.0, 1.0, 0.5, 0.1, 0.1])
    scores = figures.elim.pca_2d(z)
    assert scores.shape == (40, 2)
    assert np.allclose(scores.mean(0), 0, atol=1e-9)
    assert scores[:, 0].var() > scores[:, 1].var()  # first component explains the most
    x = z - z.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    for k in range(2):
        ref = x @ vt[k]
        assert np.allclose(np.abs(scores[:, k]), np.abs(ref))
    # signs are fixed by the loadings, not by the SVD's whim: -z gives exactly -scores
    assert np.allclose(figures.elim.pca_2d(torch.as_tensor(-z)), -scores)
    assert np.allclose(figures.elim.pca_2d(z), scores)


def test_pca_2d_handles_rank_one_and_rejects_bad_shapes():
    z = np.outer(np.arange(5.0), np.ones(3))
    assert figures.elim.pca_2d(z).shape == (5, 2)
    assert figures.elim.pca_2d(np.ones((3, 1))).shape == (3, 2)
    with pytest.raises(ValueError, match="N >= 2"):
        figures.elim.pca_2d(np.ones(4))


def test_identity_colours_are_distinct_and_in_order_of_appearance():
    colours = figures.elim.identity_colours(["b", "a", "b", "c"])
    assert list(colours) == ["b", "a", "c"]
    assert len(set(colours.values())) == 3
    many = figures.elim.identity_colours([f"id{i}" for i in range(15)])
    assert len(set(many.values())) == 15


def test_batch_grid_has_one_row_per_identity_and_captions():
    images = torch.randint(0, 255, (6, 3, 8, 8), dtype=torch.uint8)
    who = ["p1", "p1", "p1", "p2", "p2", "p2"]
    emotions = ["happy", "sad", "neutral", "angry", None, "fear"]
    fig = render(figures.elim.batch_grid(images, who, emotions))
    assert len(fig.axes) == 2 * 3
    assert [ax.get_title() for ax in fig.axes[:3]] == ["happy", "sad", "neutral"]
    assert fig.axes[4].get_title() == "?"
    assert fig.axes[0].get_ylabel().startswith("p1")
    captions = [f"#{i}" for i in range(6)]
    fig = render(figures.elim.batch_grid(images, who, emotions, captions=captions, title="T"))
    assert fig.axes[5].get_title() == "#5" and fig._suptitle.get_text() == "T"


def test_latent_maps_rows_and_emotion_colours():
    xy = np.random.default_rng(1).normal(size=(4, 2))
    who, emotions = ["a", "a", "b", "b"], ["happy", "sad", "happy", "unknown"]
    fig = render(figures.elim.latent_maps({"one": xy, "two": xy * 2}, who, emotions))
    assert len(fig.axes) == 4
    emo_points = fig.axes[1].collections[0]
    colours = emo_points.get_facecolors()
    assert np.allclose(colours[0][:3], matplotlib.colors.to_rgb(EMOTION_COLOURS["happy"]))
    with pytest.raises(ValueError, match="expected"):
        figures.elim.latent_maps({"bad": xy[:3]}, who, emotions)
    with pytest.raises(ValueError):
        figures.elim.latent_maps({}, who, emotions)


def test_transport_maps_shows_marginals_and_row_argmax():
    cost = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.5]])
    plan = np.array([[0.4, 0.05, 0.05], [0.0, 0.3, 0.2]])
    fig = render(figures.elim.transport_maps(cost, plan, ["happy", "sad"], ["x", "y", "z"]))
    boxes = [p for ax in fig.axes for p in ax.patches if isinstance(p, Rectangle) and not p.fill]
    assert sorted((b.get_x() + 0.5, b.get_y() + 0.5) for b in boxes) == [(0, 0), (1, 1)]
    top, side = fig.axes[2], fig.axes[3]
    assert np.allclose([p.get_height() for p in top.patches], plan.sum(0))  # b above the plan
    assert np.allclose([p.get_width() for p in side.patches], plan.sum(1))  # a beside it
    with pytest.raises(ValueError, match="must agree"):
        figures.elim.transport_maps(cost, plan[:, :2], ["a", "b"], ["x", "y", "z"])


def test_group_offset_scatter_reports_the_correlation():
    table = pd.DataFrame({"x": [0.0, 1.0, 2.0], "y": [0.0, 2.0, 4.0]}, index=["p1", "p2", "p3"])
    flat = table.assign(y=[1.0, -1.0, 1.0])
    fig = render(figures.elim.group_offset_scatter({"A": table, "B": flat}, "x", "y", "X", "Y"))
    assert fig.axes[0].get_title() == "A: r = 1.00"
    assert fig.axes[1].get_title() == "B: r = 0.00"
    assert [t.get_text() for t in fig.axes[0].texts] == ["p1", "p2", "p3"]
    with pytest.raises(ValueError):
        figures.elim.group_offset_scatter({}, "x", "y", "X", "Y")
