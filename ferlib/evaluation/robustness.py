"""A checkpoint's scores on one split, clean and under each named image shift.

The shift is applied to the split's tensor store (the stored images, before the evaluation's
centre crop), as a photograph would differ before any preprocessing; the model then sees the
shifted split exactly as it sees the clean one. The table keeps the scores every row shares
(mean CCC, CCC-V, CCC-A) and the drop from clean, the number the project's goals are set on.
"""

from __future__ import annotations

import pandas as pd
import torch

from ..data import FERData
from .metrics import VAMetrics
from .shifts import shifted_predictions

COLUMNS = ("shift", "ccc_mean", "ccc_v", "ccc_a", "drop")


def robustness_table(
    model: torch.nn.Module,
    data: FERData,
    image_size: int,
    shifts: list[str],
    seed: int = 0,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    channels_last: bool = False,
) -> pd.DataFrame:
    """One row for ``clean`` and one per shift: mean CCC, CCC-V, CCC-A and ``drop`` (clean mean
    CCC minus the row's; positive is worse). ``data`` is one split with its tensor store."""
    preds, targets = shifted_predictions(
        model, data, image_size, shifts, seed, batch_size, device, channels_last
    )
    rows = []
    for name, shifted in preds.items():
        metric = VAMetrics()
        metric.update(shifted, targets)
        metrics = metric.compute()
        rows.append({"shift": name, **{k: metrics[k] for k in ("ccc_mean", "ccc_v", "ccc_a")}})
    table = pd.DataFrame(rows, columns=list(COLUMNS[:-1]))
    table["drop"] = table["ccc_mean"].iloc[0] - table["ccc_mean"]
    return table


def robustness_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """The table as GitHub Markdown (what the README's robustness section shows)."""
    header = "| shift | mean CCC | CCC-V | CCC-A | drop from clean |"
    lines = [header, "|---|---:|---:|---:|---:|"]
    for row in table.itertuples(index=False):
        drop = "—" if row.shift == "clean" else f"{row.drop:+.{digits}f}"
        lines.append(
            f"| {row.shift} | {row.ccc_mean:.{digits}f} | {row.ccc_v:.{digits}f} | "
            f"{row.ccc_a:.{digits}f} | {drop} |"
        )
    return "\n".join(lines)
