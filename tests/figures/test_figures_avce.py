"""ferlib.figures.avce and figures.evaluation.term_curves: figures show what they claim."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from ferlib import figures

matplotlib.use("Agg")


def render(fig: Figure) -> Figure:
    fig.canvas.draw()
    return fig


def test_simplex_views_bars_are_u_softmax_and_sparsemax():
    z = torch.tensor([1.0, 0.5, -0.5])
    fig = render(figures.avce.simplex_views(z))
    raw, soft, sparse = (np.array([b.get_height() for b in ax.patches]) for ax in fig.axes[:3])
    np.testing.assert_allclose(raw, z.numpy())
    np.testing.assert_allclose(soft, torch.softmax(z, 0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(sparse, [0.75, 0.25, 0.0], atol=1e-7)
    assert "τ = 0.250" in fig.axes[0].get_title() and "2 units > 0" in fig.axes[2].get_title()


def test_support_sizes_counts_units_per_view():
    z = torch.tensor([[3.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    fig = render(figures.avce.support_sizes(z))
    legend = " ".join(t.get_text() for t in fig.axes[0].get_legend().get_texts())
    assert "softmax (mean 4.0)" in legend and "sparsemax (mean 2.5)" in legend


def test_views_on_plane_draws_every_shown_sample_once_per_panel():
    rows = [torch.rand(20, 2) - 0.5 for _ in range(4)]
    fig = render(figures.avce.views_on_plane({"a": rows, "b": rows}, n_show=5))
    for ax in fig.axes[:2]:
        assert [len(c.get_offsets()) for c in ax.collections] == [5, 5, 5, 5]
        assert ax.get_title() in {"a", "b"}


def test_critic_map_peaks_at_x():
    fig = render(figures.avce.critic_map([[0.3, 0.2]], steps=41))
    assert "ŷ = (+0.30, +0.20)" in fig.axes[0].get_title()
    levels = fig.axes[0].collections[0].levels
    assert 1.7 < levels.max() <= 1.9  # f(x, x) = 1 + 0.8 = 1.8 is the top


def test_term_curves_one_panel_per_logged_term():
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [1, 0.5, 0.4],
            "term_sup": [1, 0.6, 0.5],
            "term_rpc": [1.1, 1.2, 1.3],
        }
    )
    fig = render(figures.evaluation.term_curves(history, {"rpc": "J"}))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["sup", "J"]
    np.testing.assert_allclose(visible[1].lines[0].get_ydata(), [1.1, 1.2, 1.3])
    empty = render(figures.evaluation.term_curves(history[["epoch"]]))
    assert "no training terms" in empty.axes[0].texts[0].get_text()


def test_views_on_plane_keeps_coinciding_views_apart():
    """Untrained, y_a and y_n coincide: y_n is a larger hollow square around y_a's filled dot."""
    rows = [torch.rand(20, 2) - 0.5 for _ in range(3)]
    fig = render(figures.avce.views_on_plane({"a": [*rows, rows[2]]}, n_show=5))
    labels, x, y_n, y_a = fig.axes[0].collections  # drawing order: y_n under y_a
    np.testing.assert_allclose(y_n.get_offsets(), y_a.get_offsets())
    assert y_n.get_facecolors().size == 0 or (y_n.get_facecolors()[:, 3] == 0).all()  # hollow
    assert y_n.get_sizes()[0] > 2 * y_a.get_sizes()[0]
