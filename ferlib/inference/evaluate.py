"""A trained checkpoint scored on a dataset split (``ferlib evaluate``): clean, or under named
image shifts.

- ``load_for_scoring``: the checkpoint's model (its config checked: bad keys are one line), the
  split of the data it was trained on (or of another dataset), on the device and in the memory
  layout training used, so the numbers are the trainer's;
- ``split_metrics`` and ``metrics_text``: RMSE, PCC, CCC and SAGR of each dimension;
- ``shift_table`` and ``shift_text``: the robustness table (``evaluation.robustness``);
- ``non_finite_scores_said``: scores that come out NaN or inf said once per reason.

It lives with inference, not in ``evaluation``: it loads checkpoints (``training``), which the
trainer's own evaluation must not depend on.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from ..data import FERData, load_from_config, make_loader
from ..evaluation.metrics import NonFiniteMetricWarning, metrics_json, zero_label_share
from ..evaluation.outputs import evaluate
from ..evaluation.robustness import robustness_markdown, robustness_table
from ..training.checkpoint import EVALUATION_KEYS, load_model
from ..training.device import select_device, use_channels_last


@dataclass
class Scoring:
    """A loaded model and the split it is scored on, with the device and layout to use."""

    model: torch.nn.Module
    config: dict[str, Any]
    data: FERData
    split: str
    device: torch.device
    channels_last: bool


def load_for_scoring(
    checkpoint: str,
    split: str = "test",
    dataset: str | None = None,
    data_dir: str | None = None,
    device: str = "auto",
) -> Scoring:
    """The model of ``checkpoint`` and ``split`` of its training data (``dataset`` and
    ``data_dir`` replace the checkpoint's), on ``device`` in the trainer's memory layout."""
    model, config = load_model(checkpoint, needs=EVALUATION_KEYS)  # bad keys: one line
    config = dict(config)
    if dataset:
        config["dataset"] = dataset
    if data_dir is not None:
        config["data_dir"] = data_dir
    data = load_from_config(config).subset(split)
    chosen = select_device(device)
    layout = use_channels_last(chosen, config["amp"])  # as in training: the same numbers
    memory = torch.channels_last if layout else torch.preserve_format
    return Scoring(model.to(chosen, memory_format=memory), config, data, split, chosen, layout)


def split_metrics(run: Scoring) -> dict[str, Any]:
    """``evaluate``'s metrics of the split, with its name, the dataset and the share of labels
    that are exactly 0 (``zero_label_share``)."""
    config = run.config
    loader = make_loader(run.data, config["image_size"], config["eval_batch_size"], train=False)
    metrics = evaluate(run.model, loader, run.device, channels_last=run.channels_last)
    metrics.update(
        split=run.split,
        dataset=config["dataset"],
        zero_label_share=zero_label_share(loader.dataset.targets),
    )
    return metrics


def metrics_text(metrics: dict[str, Any], as_json: bool = False) -> str:
    """``split_metrics`` as JSON (NaN as null: valid JSON) or as lines for people."""
    if as_json:
        return metrics_json(metrics)
    z = metrics["zero_label_share"]
    lines = [f"{metrics['dataset']} [{metrics['split']}], {metrics['n']} images"]
    for dim, name in (("v", "valence"), ("a", "arousal")):
        lines.append(
            f"  {name:<8} RMSE {metrics['rmse_' + dim]:.4f}  PCC {metrics['pcc_' + dim]:.4f}"
            f"  CCC {metrics['ccc_' + dim]:.4f}  SAGR {metrics['sagr_' + dim]:.4f}"
            f"  (labels exactly 0: {z['z_' + dim]:.3f})"
        )
    return "\n".join(lines)


def shift_table(run: Scoring, shifts: list[str], seed: int = 0) -> pd.DataFrame:
    """The robustness table: scores clean and under each of ``shifts`` (seeded draws)."""
    return robustness_table(
        run.model,
        run.data,
        run.config["image_size"],
        shifts,
        seed=seed,
        batch_size=run.config["eval_batch_size"],
        device=run.device,
        channels_last=run.channels_last,
    )


def shift_text(run: Scoring, table: pd.DataFrame, seed: int, fmt: str = "text") -> str:
    """``shift_table`` as JSON records, a Markdown table, or text under a line naming the
    split (``fmt``: ``json``, ``markdown`` or ``text``)."""
    if fmt == "json":
        return table.to_json(orient="records", indent=1)
    if fmt == "markdown":
        return robustness_markdown(table)
    head = f"{run.config['dataset']} [{run.split}], {len(run.data)} images, seed {seed}"
    return head + "\n" + table.to_string(index=False, float_format=lambda v: f"{v:.4f}")


@contextmanager
def non_finite_scores_said(say: Callable[[str], None]) -> Iterator[None]:
    """Inside the block, scores that come out NaN or inf (``NonFiniteMetricWarning``) are
    collected; after it, ``say`` gets one line per reason naming them. Other warnings pass on."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NonFiniteMetricWarning)
        yield
    keys: dict[str, dict[str, None]] = {}  # reason -> its scores, in order, once each
    for w in caught:
        if isinstance(w.message, NonFiniteMetricWarning):
            keys.setdefault(w.message.reason, {})[w.message.key] = None
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    for reason, names in keys.items():
        say(f"warning: {', '.join(names)} not finite: {reason}")


__all__ = [
    "Scoring",
    "load_for_scoring",
    "metrics_text",
    "non_finite_scores_said",
    "shift_table",
    "shift_text",
    "split_metrics",
]
