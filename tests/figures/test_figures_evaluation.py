"""ferlib.figures.evaluation: each figure has the panels it claims, marks the right points and
stays a
readable size."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D

from ferlib import figures
from ferlib.emotions import EMOTIONS
from ferlib.evaluation.errors import per_group_error
from ferlib.evaluation.metrics import METRIC_KEYS, va_metrics
from ferlib.figures.style import EMOTION_COLOURS
from ferlib.reporting.runs import summarize_runs

matplotlib.use("Agg")


def noisy(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.uniform(-1, 1, (n, 2))
    return y, 0.7 * y + 0.25 * rng.normal(size=(n, 2))


def render(fig: Figure) -> Figure:
    """Draw the figure (catches errors that only show at draw time)."""
    fig.canvas.draw()
    return fig


def history(best: int = 4, epochs: int = 8) -> list[dict[str, float]]:
    rows = []
    for e in range(1, epochs + 1):
        score = 0.6 - 0.02 * (e - best) ** 2
        rows.append(
            {
                "epoch": e,
                "iteration": 10 * e,
                "lr": 1e-3,
                "train_loss": 1 / e,
                "val_ccc_mean": score,
                "val_ccc_v": score + 0.05,
                "val_ccc_a": score - 0.05,
            }
        )
    return rows


def best_lines(fig: Figure) -> list[Line2D]:
    return [
        line
        for ax in fig.axes
        for line in ax.get_lines()
        if str(line.get_label()).startswith("best epoch")
    ]


@pytest.mark.parametrize("as_frame", [False, True])
def test_learning_curves_marks_best_epoch(as_frame: bool):
    rows = history(best=5)
    fig = render(figures.evaluation.learning_curves(pd.DataFrame(rows) if as_frame else rows))
    assert len(fig.axes) == 2
    lines = best_lines(fig)
    assert len(lines) == 2  # one dashed line in each panel
    assert all(line.get_xdata()[0] == 5 for line in lines)
    stars = [line for line in fig.axes[1].get_lines() if line.get_marker() == "*"]
    assert len(stars) == 1
    assert stars[0].get_xdata()[0] == 5
    assert stars[0].get_ydata()[0] == pytest.approx(0.6)
    assert "best epoch 5" in fig.axes[1].get_title()


def test_learning_curves_from_csv_strings_and_empty():
    rows = [{k: str(v) for k, v in row.items()} for row in history(best=2)]  # csv.DictReader
    fig = figures.evaluation.learning_curves(rows)
    assert best_lines(fig)[0].get_xdata()[0] == 2
    assert len(figures.evaluation.learning_curves([]).axes) == 1  # a message, not an exception


def test_pred_vs_true_panels_limits_and_titles():
    y, p = noisy(120)
    p[0, 0] = 1.6  # a prediction outside [-1, 1]
    metrics = va_metrics(p, y)
    fig = render(figures.evaluation.pred_vs_true(y, p))
    assert len(fig.axes) == 2
    for ax, d in zip(fig.axes, "va", strict=True):
        lo, hi = ax.get_xlim()
        assert lo <= -1 and hi >= 1 and ax.get_ylim() == (lo, hi)
        assert f"CCC {metrics[f'ccc_{d}']:.3f}" in ax.get_title()
        assert f"RMSE {metrics[f'rmse_{d}']:.3f}" in ax.get_title()
    assert fig.axes[0].get_ylim()[1] >= 1.6


def test_pred_vs_true_colours_by_emotion():
    y, p = noisy(70)
    labels = [EMOTIONS[i % 7] for i in range(69)] + [None]
    fig = render(figures.evaluation.pred_vs_true(y, p, labels))
    scatters = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    assert len(scatters) == 8  # 7 emotions + "no label"
    happy = next(c for c in scatters if c.get_label().startswith("happy"))
    assert matplotlib.colors.to_hex(happy.get_facecolor()[0]) == EMOTION_COLOURS["happy"]
    assert len(happy.get_offsets()) == 10
    with pytest.raises(ValueError, match="labels"):
        figures.evaluation.pred_vs_true(y, p, labels[:-1])


def test_error_heatmap():
    y, p = noisy(200)
    y[:, 0] = np.abs(y[:, 0])  # no label with negative valence: the left half is empty
    fig = render(figures.evaluation.error_heatmap(y, p, bins=4))
    assert len(fig.axes) == 2  # the map and its colour bar
    ax, cbar = fig.axes
    assert ax.get_xlabel() == "valence" and ax.get_ylabel() == "arousal"
    assert cbar.get_ylabel() == "mean |error| (Euclidean)"
    image = next(a for a in ax.get_children() if isinstance(a, AxesImage))
    assert image.get_array().mask[:, :2].all()  # empty cells are masked (drawn blank)
    numbers = [int(t.get_text()) for t in ax.texts]
    assert sum(numbers) == 200 and len(numbers) <= 8


def frame_and_preds(n: int = 300, identities: int = 60):
    rng = np.random.default_rng(1)
    y, p = noisy(n)
    frame = pd.DataFrame(
        {
            "valence": y[:, 0],
            "arousal": y[:, 1],
            "expression": pd.array(rng.integers(0, 7, n), dtype="Int64"),
            "identity": [f"person{i}" for i in rng.integers(0, identities, n)],
        }
    )
    return frame, p


def test_group_error_bars_few_groups():
    frame, p = frame_and_preds()
    table = per_group_error(frame, p, "expression")
    fig = render(figures.evaluation.group_error_bars(table, "per expression"))
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_title() == "per expression"
    assert len(ax.patches) == 2 * 7
    heights = [bar.get_height() for bar in ax.patches[:7]]
    np.testing.assert_allclose(heights, table["mae_v"])


def test_group_error_bars_many_groups_stays_narrow():
    frame, p = frame_and_preds(identities=60)
    table = per_group_error(frame, p, "identity")
    assert len(table) == 60
    fig = render(figures.evaluation.group_error_bars(table, "per identity"))
    width, height = fig.get_size_inches()
    assert width <= 12 and height <= 5
    labels = fig.axes[0].get_xticklabels()
    assert len(labels) == 60 and all(t.get_rotation() == 90 for t in labels)


def summary_frame() -> pd.DataFrame:
    rows = []
    for dataset in ("synthfer", "diffusionfer"):
        for method, seeds in (("supervised", 3), ("afm", 3), ("dann", 1)):
            for seed in range(seeds):
                row = {k: 0.5 for k in METRIC_KEYS}
                row.update(
                    dataset=dataset,
                    method=method,
                    backbone="small_cnn",
                    image_size=64,
                    identity_bias=1.0,
                    augmentation="none",
                    seed=seed,
                    ccc_v=0.4 + 0.1 * seed,
                    ccc_a=0.3,
                    ccc_mean=0.35,
                    train_seconds=1.0,
                )
                rows.append(row)
    return summarize_runs(pd.DataFrame(rows))


def test_method_comparison_one_panel_per_dataset():
    summary = summary_frame()
    fig = render(figures.evaluation.method_comparison(summary))
    assert len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == ["dataset: diffusionfer", "dataset: synthfer"]
    ax = fig.axes[0]
    assert len(ax.patches) == 6  # 3 methods × (valence, arousal)
    heights = sorted(round(bar.get_height(), 6) for bar in ax.patches)
    assert heights == [0.3, 0.3, 0.3, 0.4, 0.5, 0.5]  # dann: 1 seed, 0.4; others mean 0.5
    assert fig.get_size_inches()[0] <= 12
    one = render(figures.evaluation.method_comparison(summary[summary["dataset"] == "synthfer"]))
    assert len(one.axes) == 1
    assert len(figures.evaluation.method_comparison(summary.iloc[0:0]).axes) == 1  # message figure


def test_method_comparison_puts_the_baseline_first():
    summary = summary_frame()
    summary.loc[summary["method"] == "afm", "method"] = "baseline"
    ax = render(figures.evaluation.method_comparison(summary)).axes[0]
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()][0] == "baseline"


def test_paired_differences_draws_each_method_and_colours_the_verdict():
    from ferlib.evaluation.errors import paired_bootstrap

    y, p = noisy(300, seed=1)
    table = paired_bootstrap({"baseline": p, "same": p.copy(), "worse": p + 0.3}, y, n_boot=200)
    fig = render(figures.evaluation.paired_differences(table))
    left, right = fig.axes
    assert [t.get_text().split("\n")[0] for t in left.get_yticklabels()] == list(table.index)
    assert left.yaxis_inverted()  # the reference on top
    texts = {t.get_text(): t.get_color() for t in right.texts}
    assert texts[f"{table.loc['worse', 'diff']:+.3f}"] == "#d95f02"  # wholly below 0: red
    assert texts["+0.000"] == "0.5"  # the reference against itself: cannot tell
    assert "baseline" in right.get_xlabel() and "300 test images" in fig._suptitle.get_text()
    assert fig.get_size_inches()[0] <= 12
    assert len(figures.evaluation.paired_differences(table.iloc[0:0]).axes) == 1  # message


def test_learning_curves_marks_learning_rate_drops():
    rows = history(best=5)
    for row in rows:
        row["lr"] = 1e-3 * 0.5 ** ((row["epoch"] >= 3) + (row["epoch"] >= 6))
    fig = render(figures.evaluation.learning_curves(rows))
    for ax in fig.axes:
        drops = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
        assert [line.get_xdata()[0] for line in drops] == [2.5, 5.5]
    assert "learning rate ×0.5" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    no_drop = render(figures.evaluation.learning_curves(history()))
    assert not [line for line in no_drop.axes[0].get_lines() if line.get_linestyle() == ":"]
