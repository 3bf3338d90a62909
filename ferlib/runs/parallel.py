"""Many runs at once: a list of configurations trained several at a time (``train_runs``), and
the finished run of every method and seed on some data, the missing ones trained
(``seed_runs``).

Two things are called recipes in FER-Zoo, and only one of them here: a profile's ``recipes:``
(``params.RECIPES``) holds per-method *sections* (overrides on its shared top level);
``train_runs`` takes a plain list of *configurations* (``configs``), each one run.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import torch

from ..data import FERData, load_from_config
from ..data.fingerprint import data_fingerprint
from ..methods import cannot_train
from ..params import PARAMETERS, resolve_config
from ..training.device import select_device
from .store import fit_or_load, is_finished, run_dir


def seed_runs(
    config: dict[str, Any],
    methods: list[str],
    seeds: list[int],
    data: FERData | None = None,
    log: Callable[[str], None] = print,
    workers: int | None = None,
    recipes: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> dict[str, dict[int, Path]]:
    """The finished run of every method and seed on ``config``'s data, training the missing ones.

    A run counts only if it is this recipe's (its run folder: the method's defaults with
    ``config``'s data and training settings, then the method's section of ``recipes`` — a
    profile's ``recipes:``, per-method sections, as the course run passes them — on this data); a
    missing seed is trained with it (quietly; several at once, see ``train_runs``). A method that
    cannot train on ``data`` (``methods.cannot_train``) is left out and its reason logged.
    Returns ``{method: {seed: run folder}}`` in the given order.
    """
    shared = {k: v for k, v in config.items() if PARAMETERS[k].group in ("data", "training")}
    digest = data_fingerprint(data if data is not None else load_from_config(config))["digest"]
    chosen = []
    for method in methods:
        if data is not None and (reason := cannot_train(method, data)):
            log(f"{method}: left out — {reason}")
            continue
        chosen.append(method)

    def config_of(method: str, seed: int) -> dict[str, Any]:
        """The run configuration of ``method`` at ``seed``: shared settings, then its section."""
        own = (recipes or {}).get(method) or {}
        return resolve_config(None, {**shared, **own, "method": method, "seed": seed})

    def by_seed(method: str) -> dict[int, Path]:
        """The finished runs of exactly this recipe on this data, by seed: its own run folders,
        never a run of the method trained with another recipe (another length, augmentation…)."""
        found: dict[int, Path] = {}
        for seed in seeds:
            folder = run_dir(config_of(method, seed), None, digest)
            if is_finished(folder):
                found[seed] = folder
        return found

    done = {method: by_seed(method) for method in chosen}
    missing = [
        config_of(method, seed) for method in chosen for seed in seeds if seed not in done[method]
    ]
    if missing:
        train_runs(missing, workers)
        done = {method: by_seed(method) for method in chosen}
    return {method: {seed: done[method][seed] for seed in seeds} for method in chosen}


def train_runs(
    configs: list[dict[str, Any]], workers: int | None = None, data: FERData | None = None
) -> None:
    """Train (or load) every configuration in its own run folder, ``workers`` runs at a time.
    With ``data`` (the configurations' data, already loaded) a run already finished on it is
    not started again (a worker would only reload the data to find it done).

    On the CPU the default is one process per core with one thread each: on the 2-core machine two
    8-epoch quick Baseline runs side by side (1 thread each) finished in 13.0 s against 19.7 s
    one after the other (2 threads each), start-up included. On a GPU runs go one at a time: they
    would share the device. A run's numbers depend on its thread count in the last bits, like on
    any change of hardware.
    """
    if data is not None:
        digest = data_fingerprint(data)["digest"]
        configs = [c for c in configs if not is_finished(run_dir(c, None, digest))]
    if not configs:
        return
    if workers is None:
        on_cpu = select_device(configs[0]["device"]).type == "cpu"
        workers = min(len(configs), torch.get_num_threads()) if on_cpu else 1
    if workers <= 1 or len(configs) == 1:
        for config in configs:
            fit_or_load(config, progress=False)
        return
    threads = max(1, torch.get_num_threads() // workers)
    spawn = multiprocessing.get_context("spawn")  # no fork of a process with threads running
    try:
        with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
            list(pool.map(_fit_quietly, configs, [threads] * len(configs)))
    except BrokenProcessPool as err:
        raise RuntimeError(
            "a training worker process died before finishing its run; from a script, call "
            'train_runs (or seed_runs) under `if __name__ == "__main__":` (workers are '
            "spawned and import the script), or pass workers=1"
        ) from err


def finished_runs(configs: list[dict[str, Any]], data: FERData) -> list[Any]:
    """The finished run (``store.fit_or_load``'s result) of each of ``configs`` on ``data``, the
    missing ones trained first, several at a time (``train_runs``)."""
    train_runs(configs, data=data)
    return [fit_or_load(c, data=data) for c in configs]


def _fit_quietly(config: dict[str, Any], threads: int) -> None:
    """``train_runs``' worker: one run in this process, on ``threads`` threads."""
    torch.set_num_threads(threads)
    fit_or_load(config, progress=False)


__all__ = ["finished_runs", "seed_runs", "train_runs"]
