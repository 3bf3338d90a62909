"""The run store: where each run lives, and one run found or trained there.

A run lives in ``outputs/runs/<dataset>/<method>/<hash>/seed<k>`` (``run_dir``): the hash covers
the configuration and the data fingerprint, so seeds of one configuration on one data share a
folder and changed data never lands in an old run's folder. ``fit_or_load`` reuses a finished
run of exactly that configuration and data, else trains it; ``train_run`` is ``ferlib train``:
every check before any data loads, then the Trainer; ``matching_runs`` finds the finished runs of
a method on some data.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..data import FERData, load_from_config
from ..data.fingerprint import data_fingerprint, describe_difference
from ..errors import UserError
from ..evaluation.metrics import read_metrics_json
from ..params import DATA_KEYS, PARAMETERS
from ..paths import outputs_home, resolve
from ..training import checkpoint as ckpt
from ..training.trainer import Trainer, TrainResult, check_data, check_run, config_key, train


def runs_root() -> Path:
    """Where the runs live by default: ``outputs/runs`` (``FERZOO_OUTPUTS`` moves ``outputs``)."""
    return outputs_home() / "runs"


def run_dir(
    config: dict[str, Any],
    root: str | os.PathLike[str] | None = None,
    data_digest: str | None = None,
) -> Path:
    """Where a run lives: ``outputs/runs/<dataset>/<method>/<hash>/seed<k>``.

    ``<hash>`` covers the configuration (all but the seed) and, given ``data_digest`` (the
    ``digest`` of ``data_fingerprint``), the data: seeds of one configuration on one data share a
    folder, so results group by it, and changed data never lands in an old run's folder.
    """
    rest = {k: v for k, v in config.items() if k != "seed"}
    if data_digest is not None:
        rest["data_fingerprint"] = data_digest
    digest = hashlib.sha1(config_key(rest).encode()).hexdigest()[:10]
    base = Path(root) if root is not None else runs_root()
    return base / config["dataset"] / config["method"] / digest / f"seed{config['seed']}"


def run_folder(config: dict[str, Any]) -> Path:
    """The run folder of ``config`` on its data (its data fingerprint included)."""
    data_keys = tuple(
        (k, repr(v)) for k, v in sorted(config.items()) if PARAMETERS[k].group == "data"
    )
    return run_dir(config, data_digest=_data_digest(data_keys, config))


_DIGESTS: dict[tuple, str] = {}


def _data_digest(key: tuple, config: dict[str, Any]) -> str:
    """The data fingerprint's digest, once per data configuration (loading is the slow part)."""
    if key not in _DIGESTS:
        _DIGESTS[key] = data_fingerprint(load_from_config(config))["digest"]
    return _DIGESTS[key]


def is_finished(folder: Path) -> bool:
    """Whether ``folder`` holds a finished run: its ``metrics.json`` and best checkpoint."""
    return (folder / "metrics.json").is_file() and (folder / ckpt.BEST).is_file()


def _history_value(text: str) -> int | float:
    """A ``history.csv`` cell as the trainer logged it: epochs and iterations stay integers."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def fit_or_load(
    config: dict[str, Any],
    out_dir: str | os.PathLike[str] | None = None,
    data: FERData | None = None,
    **kwargs,
) -> TrainResult:
    """Load the finished run of this exact configuration and data from ``out_dir`` (default: its
    own run folder, ``run_dir(config, data_digest=…)``), else train it there.

    Notebooks call this so that re-running a chapter does not retrain what is already trained.
    A finished run on other data (edited labels, other files) is never re-used: the default
    folder differs, and a given ``out_dir`` holding one is refused with what differs.

    Taught in ``notebooks/10_baseline.ipynb`` §4.
    """
    data = data if data is not None else load_from_config(config)
    fingerprint = data_fingerprint(data)
    out_dir = Path(out_dir) if out_dir is not None else run_dir(config, None, fingerprint["digest"])
    metrics_path = out_dir / "metrics.json"
    if is_finished(out_dir):
        metrics = read_metrics_json(metrics_path.read_text())
        if config_key(metrics.get("config", {})) == config_key(config):
            ran_on = metrics.get("data") or {}
            if ran_on.get("digest") != fingerprint["digest"]:
                raise UserError(
                    f"{out_dir} holds a run of this configuration on other data: "
                    f"{describe_difference(ran_on, fingerprint)}; use another output folder "
                    "(or none: the default folder follows the data), or delete it to train again"
                )
            model, _ = ckpt.load_model(out_dir / ckpt.BEST)
            with open(out_dir / "history.csv", newline="") as rows:
                history = [
                    {k: _history_value(v) for k, v in row.items()} for row in csv.DictReader(rows)
                ]
            return TrainResult(out_dir, model, config, metrics, history, trained=False)
    return train(config, out_dir, data=data, **kwargs)


def train_run(
    config: dict[str, Any],
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
) -> TrainResult:
    """Train ``config`` into ``out_dir`` (default: its run folder on its data), resuming there.

    What ``ferlib train`` runs: the checks that need no data first (method, backbone, the output
    and data folders: a run never fails late on a folder it cannot write), then the data, its
    summary (``log``), its drop check (a warning line to ``warn``; most rows dropped stops here)
    and its fingerprint, which names the default folder; then the Trainer.
    """
    check_run(config, out_dir or outputs_home(), loads_data=True)
    data = load_from_config(config)
    log(f"data: {data.report.summary()}")
    checked = check_data(data)  # stops when most rows were dropped
    if checked.warning:
        warn(checked.warning)
    out = out_dir or run_dir(config, data_digest=checked.fingerprint["digest"])
    return Trainer(config, out, data=checked, progress=progress).fit()


def _same_data(key: str, a: Any, b: Any) -> bool:
    """Equal data settings; a data folder given relative to the repository equals its absolute
    path."""
    return resolve(a) == resolve(b) if key == "data_dir" and a and b else a == b


def matching_runs(
    config: dict[str, Any],
    method: str,
    root: str | os.PathLike[str] | None = None,
    data_digest: str | None = None,
) -> list[Path]:
    """Finished runs of ``method`` on the same data as ``config`` (every seed and setting), and
    with ``data_digest`` on exactly that data (``data_fingerprint``'s digest).

    The evaluation notebook compares what has been trained; it does not need to know each run's
    training parameters, only that it saw the same images, labels and splits.
    """
    base = Path(root) if root is not None else runs_root()
    found = []
    for metrics in sorted((base / config["dataset"] / method).glob("*/seed*/metrics.json")):
        blob = json.loads(metrics.read_text())
        run_config = blob.get("config", {})
        if data_digest is not None and (blob.get("data") or {}).get("digest") != data_digest:
            continue
        if all(_same_data(k, run_config.get(k), config.get(k)) for k in DATA_KEYS):
            found.append(metrics.parent)
    return found


__all__ = [
    "fit_or_load",
    "is_finished",
    "matching_runs",
    "run_dir",
    "run_folder",
    "runs_root",
    "train_run",
]
