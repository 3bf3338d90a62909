"""The one training loop every method shares.

It owns the device (CUDA, else MPS, else CPU), AMP and channels-last on CUDA, seeding, the data
loaders, per-epoch validation, best-checkpoint selection on validation mean CCC, optional early
stopping, the metrics history, atomic checkpoints with exact resume, DDP under ``torchrun``, tqdm
progress and optional wandb logging. A method only says how to update on one batch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm  # text bars: they render in terminals, notebooks and on code hosts

from ..atomic import atomic_write_text
from ..data import FERData, load_from_config, make_loader
from ..data.fingerprint import data_fingerprint, describe_difference
from ..evaluation.metrics import metrics_json, read_metrics_json, zero_label_share
from ..evaluation.outputs import evaluate, to_model_input
from ..methods import Method, NonFiniteLossError, build_method, cannot_train, unwrap
from ..params import DATA_KEYS, PARAMETERS, identity_config, resolve_config
from ..paths import check_writable_dir, data_home, display_path, outputs_home, resolve
from . import checkpoint as ckpt
from .device import describe_device, select_device, use_channels_last
from .distributed import (
    DistInfo,
    barrier,
    gather_strings,
    init_distributed,
    shutdown,
    weight_digest,
)
from .runlock import RunLock
from .seeding import rng_state, seed_everything, set_rng_state

EpochCallback = Callable[[int, dict[str, Any]], None]


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and the last good file."""


@dataclass
class TrainResult:
    out_dir: Path
    model: torch.nn.Module
    config: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    trained: bool = True  # False when fit_or_load found a finished run


def _config_key(config: dict[str, Any]) -> str:
    """What names a configuration (its run folder's hash, resume and reuse checks); augmentation
    keys left at off do not count, so runs from before they existed keep their names."""
    return json.dumps(identity_config(config), sort_keys=True)


def _history_csv(history: list[dict[str, Any]]) -> str:
    """One row per epoch; a term no batch of an epoch logged is written as nan."""
    buffer = io.StringIO()
    if history:
        fields = list(dict.fromkeys(key for row in history for key in row))
        writer = csv.DictWriter(buffer, fieldnames=fields, restval="nan")
        writer.writeheader()
        writer.writerows(history)
    return buffer.getvalue()


def _history_value(text: str) -> int | float:
    """A ``history.csv`` cell as the trainer logged it: epochs and iterations stay integers."""
    try:
        return int(text)
    except ValueError:
        return float(text)


class Trainer:
    """Train ``config`` into ``out_dir`` (see the module docstring)."""

    def __init__(
        self,
        config: dict[str, Any],
        out_dir: str | os.PathLike[str],
        data: FERData | None = None,
        progress: bool = True,
        callbacks: list[EpochCallback] | None = None,
    ):
        self.config = dict(config)
        self.out_dir = check_writable_dir(out_dir)  # before any data loads or training starts
        if data is None:
            check_writable_dir(data_home(), "data folder (generated data and tensor store)")
        self.device = select_device(self.config["device"])
        self.dist: DistInfo = init_distributed(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.fast_cuda = self.device.type == "cuda" and self.config["amp"]
        self.channels_last = use_channels_last(self.device, self.config["amp"])
        self.progress = progress and self.dist.is_main
        self.callbacks = callbacks or []
        seed_everything(self.config["seed"])
        self.method: Method = build_method(self.config)  # bad names fail before data loads
        self.data = data if data is not None else load_from_config(self.config)
        self.data.report.check_drops()  # most rows dropped: stop, naming the likely cause
        self.fingerprint = data_fingerprint(self.data)
        self.method.to(self.device, channels_last=self.channels_last)
        self.method.use_amp = self.fast_cuda
        self.method.scaler = torch.amp.GradScaler("cuda", enabled=self.fast_cuda)
        if self.dist.enabled:
            ids = [self.dist.local_rank] if self.device.type == "cuda" else None
            self.method.wrap_ddp(ids)
        self.method.build_optimizers()
        self.loaders = self._loaders()
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"ccc_mean": float("-inf"), "epoch": -1}
        self.start_epoch, self.iteration = 0, 0

    def _loaders(self) -> dict[str, torch.utils.data.DataLoader]:
        cfg, size = self.config, self.config["image_size"]
        dist = (self.dist.rank, self.dist.world_size) if self.dist.enabled else None
        train = self.data.subset("train")
        loaders = {"train": self.method.train_loader(train, dist)}
        self.method.prepare(train)
        for split in ("val", "test"):
            loaders[split] = make_loader(
                self.data.subset(split), size, cfg["eval_batch_size"], train=False
            )
        if len(loaders["train"]) == 0:
            raise ValueError(
                f"training split has {len(loaders['train'].dataset)} images, fewer "
                f"than one batch of {cfg['batch_size']}"
            )
        return loaders

    # --- checkpoints ---------------------------------------------------------------------
    def _state(self, epoch: int) -> dict[str, Any]:
        m = self.method
        return {
            "method": m.name,
            "config": self.config,
            "epoch": epoch,
            "iteration": self.iteration,
            "modules": {k: unwrap(v).state_dict() for k, v in m.modules().items()},
            "model_config": m.core.config,  # so that load_model rebuilds every method's VA model
            "optimizers": {k: o.state_dict() for k, o in m.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in m.schedulers.items()},
            "scaler": m.scaler.state_dict(),
            "rng": rng_state(),
            "loader_rng": self.loaders["train"].generator.get_state(),
            "history": self.history,
            "best": self.best,
            "data": self.fingerprint,
        }

    def _resume(self) -> None:
        path = self.out_dir / ckpt.LAST
        if not path.is_file():
            return
        state = ckpt.load(path)
        if _config_key(state["config"]) != _config_key(self.config):
            raise ValueError(
                f"{path} was written by a different configuration; use another "
                "output folder or delete it to start over"
            )
        if (state.get("data") or {}).get("digest") != self.fingerprint["digest"]:
            raise ValueError(
                f"{path} was trained on other data: "
                f"{describe_difference(state.get('data'), self.fingerprint)}; use another "
                "output folder or delete it to train again"
            )
        m = self.method
        for k, module in m.modules().items():
            unwrap(module).load_state_dict(state["modules"][k])
        for k, opt in m.optimizers.items():
            opt.load_state_dict(state["optimizers"][k])
        for k, sched in m.schedulers.items():
            sched.load_state_dict(state["schedulers"][k])
        if state["scaler"]:
            m.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.loaders["train"].generator.set_state(state["loader_rng"])
        self.history, self.best = list(state["history"]), dict(state["best"])
        self.start_epoch, self.iteration = state["epoch"] + 1, state["iteration"]
        if self.dist.is_main:
            epochs = self.config["epochs"]
            where = display_path(self.out_dir)
            print(
                f"{where}: resuming from epoch {self.start_epoch + 1} of {epochs}"
                if self.start_epoch < epochs
                else f"{where}: all {epochs} epochs trained already; scoring the best checkpoint",
                flush=True,
            )

    # --- the loop ------------------------------------------------------------------------
    def _train_epoch(self, epoch: int, bar) -> tuple[dict[str, float], int, float]:
        """One pass over the training loader: the epoch mean of every logged term (each over
        the batches that logged it: CAF's critic steps and ELIM's OT steps skip some), the
        images seen and the seconds taken."""
        loader = self._start_epoch(epoch)
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        seen, start = 0, time.perf_counter()
        for images, targets, index in loader:
            logs = self._step(epoch, images, targets, index)
            for key, value in logs.items():
                sums[key] = sums.get(key, 0.0) + float(value)
                counts[key] = counts.get(key, 0) + 1
            seen += len(images) * self.dist.world_size
            bar.update(1)
        means = {key: sums[key] / counts[key] for key in sums}
        return means, seen, time.perf_counter() - start

    def _start_epoch(self, epoch: int) -> torch.utils.data.DataLoader:
        """The training loader, its sampler set to ``epoch``, and every module in ``train()``."""
        loader = self.loaders["train"]
        for sampler in (loader.sampler, loader.batch_sampler):
            if hasattr(sampler, "set_epoch"):  # DistributedSampler, or a method's own sampler
                sampler.set_epoch(epoch)
        self.method.train_mode()
        return loader

    def _step(
        self, epoch: int, images: torch.Tensor, targets: torch.Tensor, index: torch.Tensor
    ) -> dict[str, float]:
        """One iteration: the method's update on one batch, then the schedulers."""
        x = to_model_input(images, self.device, self.channels_last)
        y = targets.to(self.device, non_blocking=True)
        try:
            logs = self.method.training_step(x, y, self.iteration, index)
        except NonFiniteLossError as err:
            raise TrainingDivergedError(
                f"{err} at epoch {epoch + 1}, iteration {self.iteration}; the last good "
                f"checkpoint is {self.out_dir / ckpt.LAST} (epoch {epoch}); try a lower lr"
            ) from err
        self.method.step_schedulers()
        self.iteration += 1
        return logs

    def run_iterations(self, count: int) -> list[dict[str, float]]:
        """The first ``count`` iterations of the first epoch, exactly as ``fit`` runs them (the
        same batches, updates and scheduler steps), without validation, checkpoints or resume;
        returns each iteration's logged losses. For checking a hand-written loop against the
        trainer: afterwards ``self.method`` holds the weights ``fit`` would hold at that point.

        Taught in ``notebooks/10_baseline.ipynb`` §3.
        """
        if self.iteration:
            raise RuntimeError("run_iterations starts a fresh trainer; this one has run already")
        per_epoch = len(self.loaders["train"])
        if not 0 < count <= per_epoch:
            raise ValueError(f"count must lie in 1..{per_epoch} (one epoch), got {count}")
        logs = []
        for images, targets, index in self._start_epoch(0):
            logs.append(self._step(0, images, targets, index))
            if len(logs) == count:
                break
        return logs

    def fit(self) -> TrainResult:
        """Train (or resume) into ``out_dir``, holding its run lock throughout."""
        lock = RunLock(self.out_dir) if self.dist.is_main else None
        if lock is not None:
            lock.acquire()  # a second writer stops here, naming the process that holds it
        try:
            return self._fit()
        finally:
            if lock is not None:
                lock.release()

    def _fit(self) -> TrainResult:
        self._resume()
        cfg, wandb_run = self.config, self._wandb()
        patience = cfg["early_stopping"]
        per_epoch = len(self.loaders["train"])
        bar = tqdm(
            total=cfg["epochs"] * per_epoch,
            initial=self.start_epoch * per_epoch,
            desc=f"{self.method.name} {cfg['backbone']}",
            unit="it",
            # a terminal redraws one line; a notebook or log keeps every update, so update it
            # rarely there (the start and the final line remain, readable on a code host too)
            mininterval=1.0 if sys.stderr.isatty() else 30.0,
            disable=not self.progress,
        )
        for epoch in range(self.start_epoch, cfg["epochs"]):
            terms, seen, seconds = self._train_epoch(epoch, bar)
            loss = terms.pop("loss", math.nan)
            val = evaluate(self.method.core, self.loaders["val"], self.device, self.channels_last)
            self.method.train_mode()
            # the first epoch always counts, so a best checkpoint exists even if CCC is NaN
            improved = self.best["epoch"] < 0 or val["ccc_mean"] > self.best["ccc_mean"]
            if improved:
                self.best = {"ccc_mean": val["ccc_mean"], "epoch": epoch}
            row = {
                "epoch": epoch + 1,
                "iteration": self.iteration,
                "lr": next(iter(self.method.optimizers.values())).param_groups[0]["lr"],
                "train_loss": loss,
                "train_seconds": seconds,
                "images_per_s": seen / seconds,
                **{f"val_{k}": v for k, v in val.items() if k != "n"},
                **{f"term_{k}": v for k, v in terms.items()},  # the method's own logged terms
            }
            self.history.append(row)
            bar.set_postfix(
                epoch=epoch + 1, loss=f"{loss:.3f}", val_ccc=f"{val['ccc_mean']:.3f}", refresh=False
            )
            if self.dist.is_main:
                if improved:
                    ckpt.save(
                        {
                            "method": self.method.name,
                            "config": cfg,
                            "epoch": epoch,
                            "modules": {"model": self.method.core.state_dict()},
                            "model_config": self.method.core.config,
                            "val_metrics": val,
                            "data": self.fingerprint,
                        },
                        self.out_dir / ckpt.BEST,
                    )
                atomic_write_text(_history_csv(self.history), self.out_dir / "history.csv")
                # last: a failed write (a full disk) leaves the previous epoch's resume point,
                # from which this epoch and its files are redone exactly
                ckpt.save(self._state(epoch), self.out_dir / ckpt.LAST)
                if wandb_run is not None:
                    wandb_run.log(row, step=self.iteration)
            barrier(self.dist)
            for callback in self.callbacks:
                callback(epoch, row)
            if patience and epoch - self.best["epoch"] >= patience:
                break
        bar.close()
        return self._finish(wandb_run)

    def _finish(self, wandb_run) -> TrainResult:
        barrier(self.dist)
        digests = gather_strings(self.dist, weight_digest(self.method.core))
        best = ckpt.load(self.out_dir / ckpt.BEST)  # every rank reads the file rank 0 wrote
        self.method.core.load_state_dict(best["modules"]["model"])
        test = evaluate(self.method.core, self.loaders["test"], self.device, self.channels_last)
        self.method.train_mode()
        train_seconds = sum(r["train_seconds"] for r in self.history)
        images = sum(r["images_per_s"] * r["train_seconds"] for r in self.history)
        labels = self.loaders["test"].dataset.targets
        metrics = {
            **test,
            "split": "test",
            "best_epoch": best["epoch"] + 1,
            "epochs_run": len(self.history),
            "train_seconds": round(train_seconds, 2),
            "images_per_s": round(images / train_seconds, 1) if train_seconds else None,
            "zero_label_share": zero_label_share(labels),
            "device": describe_device(self.device),
            "world_size": self.dist.world_size,
            "final_weight_digests": digests,
            "config": self.config,
            "data": self.fingerprint,
        }
        if self.dist.is_main:
            atomic_write_text(metrics_json(metrics), self.out_dir / "metrics.json")
            if wandb_run is not None:
                wandb_run.summary.update({k: v for k, v in test.items()})
                wandb_run.finish()
        barrier(self.dist)
        shutdown(self.dist)  # leave the process group cleanly: gloo aborts at exit otherwise
        return TrainResult(self.out_dir, self.method.core, self.config, metrics, self.history)

    def _wandb(self):
        if not (self.config["wandb"] and self.dist.is_main):
            return None
        import wandb

        return wandb.init(
            project="ferzoo",
            config=self.config,
            dir=str(self.out_dir),
            mode=os.environ.get("WANDB_MODE", "offline"),
        )


def lr_drop_epochs(milestones: Sequence[int], iterations_per_epoch: int) -> list[int]:
    """The epochs (counted from 1) in which each learning-rate drop takes effect.

    ``MultiStepLR`` steps once per iteration (docs/methods/README.md §3.5), so its milestones
    count iterations: the rate is multiplied by ``gamma`` from iteration ``m`` on (counted from
    0), which lies in epoch ``m // iterations_per_epoch + 1``. The history's ``lr`` column (the
    rate after each epoch's last scheduler step) shows it from epoch
    ``ceil(m / iterations_per_epoch)`` on: the same epoch, or the one before when ``m`` is a
    multiple of ``iterations_per_epoch``.

    Taught in ``notebooks/10_baseline.ipynb`` §4.
    """
    if iterations_per_epoch < 1:
        raise ValueError(f"iterations_per_epoch must be >= 1, got {iterations_per_epoch}")
    return [int(m) // iterations_per_epoch + 1 for m in sorted(milestones)]


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
    digest = hashlib.sha1(_config_key(rest).encode()).hexdigest()[:10]
    base = Path(root) if root is not None else outputs_home() / "runs"
    return base / config["dataset"] / config["method"] / digest / f"seed{config['seed']}"


def train(config: dict[str, Any], out_dir: str | os.PathLike[str], **kwargs) -> TrainResult:
    """Train (resuming from ``out_dir/last.pt`` when it holds the same configuration and data)."""
    return Trainer(config, out_dir, **kwargs).fit()


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
    if metrics_path.is_file() and (out_dir / ckpt.BEST).is_file():
        metrics = read_metrics_json(metrics_path.read_text())
        if _config_key(metrics.get("config", {})) == _config_key(config):
            ran_on = metrics.get("data") or {}
            if ran_on.get("digest") != fingerprint["digest"]:
                raise ValueError(
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
    base = Path(root) if root is not None else outputs_home() / "runs"
    found = []
    for metrics in sorted((base / config["dataset"] / method).glob("*/seed*/metrics.json")):
        blob = json.loads(metrics.read_text())
        run_config = blob.get("config", {})
        if data_digest is not None and (blob.get("data") or {}).get("digest") != data_digest:
            continue
        if all(_same_data(k, run_config.get(k), config.get(k)) for k in DATA_KEYS):
            found.append(metrics.parent)
    return found


def seed_runs(
    config: dict[str, Any],
    methods: list[str],
    seeds: list[int],
    data: FERData | None = None,
    log: Callable[[str], None] = print,
    workers: int | None = None,
    recipes: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[int, Path]]:
    """The finished run of every method and seed on ``config``'s data, training the missing ones.

    A run counts only if it is this recipe's (its run folder: the method's defaults with
    ``config``'s data and training settings, then the method's section of ``recipes`` — a
    profile's ``recipes:``, as the course run passes them — on this data); a missing seed is
    trained with it
    (quietly; several at once, see ``train_runs``). A method that cannot train on ``data``
    (``methods.cannot_train``) is left out and its reason logged. Returns
    ``{method: {seed: run folder}}`` in the given order.
    """
    shared = {k: v for k, v in config.items() if PARAMETERS[k].group in ("data", "training")}
    digest = data_fingerprint(data if data is not None else load_from_config(config))["digest"]
    chosen = []
    for method in methods:
        if data is not None and (reason := cannot_train(method, data)):
            log(f"{method}: left out — {reason}")
            continue
        chosen.append(method)

    def recipe(method: str, seed: int) -> dict[str, Any]:
        own = (recipes or {}).get(method) or {}
        return resolve_config(None, {**shared, **own, "method": method, "seed": seed})

    def by_seed(method: str) -> dict[int, Path]:
        """The finished runs of exactly this recipe on this data, by seed: its own run folders,
        never a run of the method trained with another recipe (another length, augmentation…)."""
        found: dict[int, Path] = {}
        for seed in seeds:
            folder = run_dir(recipe(method, seed), None, digest)
            if (folder / "metrics.json").is_file() and (folder / ckpt.BEST).is_file():
                found[seed] = folder
        return found

    done = {method: by_seed(method) for method in chosen}
    missing = [
        recipe(method, seed) for method in chosen for seed in seeds if seed not in done[method]
    ]
    if missing:
        train_runs(missing, workers)
        done = {method: by_seed(method) for method in chosen}
    return {method: {seed: done[method][seed] for seed in seeds} for method in chosen}


def train_runs(recipes: list[dict[str, Any]], workers: int | None = None) -> None:
    """Train (or load) every recipe in its own run folder, ``workers`` runs at a time.

    On the CPU the default is one process per core with one thread each: on the 2-core machine two
    8-epoch quick Baseline runs side by side (1 thread each) finished in 13.0 s against 19.7 s
    one after the other (2 threads each), start-up included. On a GPU runs go one at a time: they
    would share the device. A run's numbers depend on its thread count in the last bits, like on
    any change of hardware.
    """
    if not recipes:
        return
    if workers is None:
        on_cpu = select_device(recipes[0]["device"]).type == "cpu"
        workers = min(len(recipes), torch.get_num_threads()) if on_cpu else 1
    if workers <= 1 or len(recipes) == 1:
        for recipe in recipes:
            fit_or_load(recipe, progress=False)
        return
    threads = max(1, torch.get_num_threads() // workers)
    spawn = multiprocessing.get_context("spawn")  # no fork of a process with threads running
    try:
        with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
            list(pool.map(_fit_quietly, recipes, [threads] * len(recipes)))
    except BrokenProcessPool as err:
        raise RuntimeError(
            "a training worker process died before finishing its run; from a script, call "
            'train_runs (or seed_runs) under `if __name__ == "__main__":` (workers are '
            "spawned and import the script), or pass workers=1"
        ) from err


def _fit_quietly(recipe: dict[str, Any], threads: int) -> None:
    """``train_runs``' worker: one run in this process, on ``threads`` threads."""
    torch.set_num_threads(threads)
    fit_or_load(recipe, progress=False)
