"""ferlib.figures.caf: the intensity-split and pair-distance figures draw what they claim."""

from __future__ import annotations

import matplotlib
import pytest
import torch
from matplotlib.figure import Figure

from ferlib import figures
from ferlib.methods.caf import balance, group, otsu_threshold

matplotlib.use("Agg")


def render(fig: Figure) -> Figure:
    fig.canvas.draw()
    return fig


def test_intensity_split_draws_three_panels_and_the_delta_circle():
    torch.manual_seed(0)
    y = torch.cat([torch.randn(20, 2) * 0.1, torch.randn(20, 2) * 0.1 + 0.7]).clamp(-1, 1)
    strong, weak = group(y)
    m = len(balance(strong, weak)[0])
    dv, da = otsu_threshold(y[:, 0].abs()), otsu_threshold(y[:, 1].abs())
    fig = render(figures.caf.intensity_split(y, strong, weak, m, dv, da))
    hist_ax, plane_ax, pair_ax = fig.axes[:3]
    assert "δ_r" in plane_ax.get_title()
    # one positive and one negative line per kept pair, on top of the circle and axes lines
    assert len(pair_ax.lines) >= 2 * m
    assert f"({m})" in " ".join(t.get_text() for t in plane_ax.get_legend().get_texts())


def test_intensity_split_without_thresholds_says_so():
    y = torch.full((8, 2), 0.5)
    fig = render(figures.caf.intensity_split(y, torch.arange(0), torch.arange(8), 0, None, None))
    assert "fallback" in fig.axes[1].get_title()


def test_pair_distances_counts_negatives_inside_the_margin():
    c_s = torch.zeros(4, 3)
    c_w = torch.tensor([[0.1, 0, 0], [3.0, 0, 0], [0.1, 0, 0], [3.0, 0, 0]])
    margin = torch.ones(4)
    fig = render(figures.caf.pair_distances({"a": (c_s, c_w, margin)}, log=False))
    labels = " ".join(t.get_text() for t in fig.axes[0].get_legend().get_texts())
    assert "inside margin (2)" in labels and "beyond margin (2)" in labels
    with pytest.raises(ValueError):
        figures.caf.pair_distances({})
