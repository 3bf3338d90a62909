"""Finished runs read back: their ``metrics.json`` as rows (``collect_runs``), their
``history.csv`` curves, and the summaries ``ferlib results`` prints. The rows become tables in
``ferlib.reporting.runs``.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..data import load_from_config
from ..data.fingerprint import data_fingerprint
from ..reporting.runs import (
    recipe_runs,
    run_row,
    runs_table,
    select_runs,
    stopping_table,
    summarize_runs,
)
from .store import matching_runs, runs_root


def _from_path(run: str) -> dict[str, Any]:
    """``dataset``, ``method`` and ``seed`` as a run folder's path names them
    (``<dataset>/<method>/<config-hash>/seed<k>``)."""
    parts = run.split("/") if run != "." else []
    found: dict[str, Any] = {}
    if len(parts) >= 4:
        found = {"dataset": parts[-4], "method": parts[-3]}
    if parts and (match := re.fullmatch(r"seed(\d+)", parts[-1])):
        found["seed"] = int(match.group(1))
    return found


def collect_runs(root: str | Path) -> pd.DataFrame:
    """One row per ``metrics.json`` found anywhere under ``root`` (columns
    ``reporting.runs.RUN_COLUMNS``).

    Configuration fields come from the file's ``config``; where it lacks ``dataset``, ``method`` or
    ``seed``, they are read from the path ``<dataset>/<method>/<config-hash>/seed<k>``. ``run`` is
    the run folder relative to ``root``. Rows are sorted by ``run``. A missing ``root``, or one
    without runs, gives an empty frame with the same columns; unreadable files are skipped with a
    warning.
    """
    root = Path(root)
    if not root.is_dir():
        return runs_table([])
    rows = []
    for path in sorted(root.rglob("metrics.json")):
        try:
            metrics = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            warnings.warn(f"skipping unreadable {path}: {err}", RuntimeWarning, stacklevel=2)
            continue
        if not isinstance(metrics, dict):
            warnings.warn(f"skipping {path}: not a JSON object", RuntimeWarning, stacklevel=2)
            continue
        run = path.parent.relative_to(root).as_posix()
        config = {**_from_path(run), **(metrics.get("config") or {})}
        rows.append(run_row(run, {**metrics, "config": config}))
    return runs_table(rows)


def histories(root: str | Path) -> Iterator[tuple[str, pd.DataFrame]]:
    """``(run, history)`` of every ``history.csv`` under ``root`` that holds a validation curve,
    ``run`` its folder relative to ``root``; histories that cannot be read, or hold no
    validation curve, are skipped with a warning."""
    for path in sorted(Path(root).rglob("history.csv")):
        try:
            history = pd.read_csv(path)
        except (OSError, ValueError) as err:  # pandas' parse errors are ValueErrors
            warnings.warn(f"skipping unreadable {path}: {err}", RuntimeWarning, stacklevel=2)
            continue
        if history.empty or not {"epoch", "val_ccc_mean"} <= set(history.columns):
            warnings.warn(f"skipping {path}: no validation curve", RuntimeWarning, stacklevel=2)
            continue
        yield path.parent.relative_to(root).as_posix(), history


def results_summary(
    root: str | Path | None = None,
    where: Sequence[str] | None = None,
    profile: str | None = None,
) -> pd.DataFrame:
    """``ferlib results``: the runs under ``root`` (default ``outputs/runs``), only those whose
    columns read as ``where`` says and, given ``profile``, trained with its recipe for their
    method, as mean ± std over seeds (``reporting.runs.summarize_runs``); empty when none is
    left."""
    runs = collect_runs(root or runs_root())
    if where:
        runs = select_runs(runs, where)
    if profile:
        runs = recipe_runs(runs, profile)
    return summarize_runs(runs)


def stopping_summary(
    root: str | Path | None = None, epochs: Sequence[int] = (25, 30, 35)
) -> pd.DataFrame:
    """``ferlib results --stopping``: what stopping after each of ``epochs`` would have cost each
    run under ``root`` (default ``outputs/runs``; ``reporting.runs.stopping_table``)."""
    return stopping_table(histories(root or runs_root()), epochs)


def runs_on_data(config: dict[str, Any], methods: Sequence[str]) -> pd.DataFrame:
    """The rows (``collect_runs``) of every finished run of ``methods`` on ``config``'s data:
    on exactly that data (its fingerprint) when it loads, else on the same data settings. Empty
    when there is none."""
    runs = [run for m in methods for run in matching_runs(config, m)]
    if runs:  # keep the runs on exactly this data (not those on an edited copy of it)
        try:
            digest = data_fingerprint(load_from_config(config))["digest"]
            runs = [run for m in methods for run in matching_runs(config, m, data_digest=digest)]
        except Exception:  # the data itself failed (each notebook said why): list by settings
            pass
    frames = [collect_runs(run) for run in runs]
    return pd.concat(frames, ignore_index=True) if frames else runs_table([])


__all__ = [
    "collect_runs",
    "histories",
    "results_summary",
    "runs_on_data",
    "stopping_summary",
]
