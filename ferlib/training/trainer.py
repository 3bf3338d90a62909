"""The one training loop every method shares.

It owns the device (CUDA, else MPS, else CPU), AMP and channels-last on CUDA, seeding, the data
loaders, per-epoch validation, best-checkpoint selection on validation mean CCC, optional early
stopping, the metrics history, atomic checkpoints with exact resume, DDP under ``torchrun``, tqdm
progress and optional wandb logging. A method only says how to update on one batch.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm  # text bars: they render in terminals, notebooks and on code hosts

from .. import paths
from ..atomic import atomic_write_text
from ..data import FERData, load_from_config, make_loader
from ..data.fingerprint import data_fingerprint, describe_difference
from ..distributed import (
    DistInfo,
    barrier,
    gather_strings,
    init_distributed,
    shutdown,
    weight_digest,
)
from ..errors import UserError
from ..evaluation.metrics import metrics_json, zero_label_share
from ..evaluation.outputs import evaluate, to_model_input
from ..methods import Method, NonFiniteLossError, build_method, check_method, unwrap
from ..models.backbones import BACKBONES
from ..params import check_choice, identity_config
from ..paths import check_writable_dir, display_path
from . import checkpoint as ckpt
from .device import describe_device, select_device, use_channels_last
from .runlock import RunLock
from .seeding import rng_state, seed_everything, set_rng_state

EpochCallback = Callable[[int, dict[str, Any]], None]


class TrainingDivergedError(UserError, RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and the last good file."""


@dataclass
class TrainResult:
    out_dir: Path
    model: torch.nn.Module
    config: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    trained: bool = True  # False when fit_or_load found a finished run


def config_key(config: dict[str, Any]) -> str:
    """What names a configuration (its run folder's hash, resume and reuse checks); augmentation
    keys left at off do not count, so runs from before they existed keep their names."""
    return json.dumps(identity_config(config), sort_keys=True)


DATA_FOLDER = "data folder (generated data and tensor store)"


def check_run(
    config: dict[str, Any], out_dir: str | os.PathLike[str], loads_data: bool = True
) -> Path:
    """The checks before any data loads or training starts, so that a run never fails late: a
    known method and backbone, a writable ``out_dir`` and, when the data is still to be loaded
    (generated, decoded into the tensor store), a writable data folder. Returns ``out_dir``."""
    check_method(config["method"])
    check_choice(config["backbone"], BACKBONES, "backbone")
    out = check_writable_dir(out_dir, "output folder")
    if loads_data:
        check_writable_dir(paths.data_home(), DATA_FOLDER)
    return out


@dataclass(frozen=True)
class CheckedData:
    """Data that passed ``check_data``: its drop check's warning line (None: nothing to say)
    and its fingerprint (``data.fingerprint.data_fingerprint``)."""

    data: FERData
    fingerprint: dict[str, Any]
    warning: str | None = None


def check_data(data: FERData) -> CheckedData:
    """Stop when most rows were dropped, naming the likely cause (``DataReport.check_drops``);
    else the data with its warning line and fingerprint."""
    warning = data.report.check_drops()
    return CheckedData(data, data_fingerprint(data), warning)


def _history_csv(history: list[dict[str, Any]]) -> str:
    """One row per epoch; a term no batch of an epoch logged is written as nan."""
    buffer = io.StringIO()
    if history:
        fields = list(dict.fromkeys(key for row in history for key in row))
        writer = csv.DictWriter(buffer, fieldnames=fields, restval="nan")
        writer.writeheader()
        writer.writerows(history)
    return buffer.getvalue()


class Trainer:
    """Train ``config`` into ``out_dir`` (see the module docstring)."""

    def __init__(
        self,
        config: dict[str, Any],
        out_dir: str | os.PathLike[str],
        data: FERData | CheckedData | None = None,
        progress: bool = True,
        callbacks: list[EpochCallback] | None = None,
    ):
        self.config = dict(config)
        self.out_dir = check_run(self.config, out_dir, loads_data=data is None)
        self.device = select_device(self.config["device"])
        self.dist: DistInfo = init_distributed(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.fast_cuda = self.device.type == "cuda" and self.config["amp"]
        self.channels_last = use_channels_last(self.device, self.config["amp"])
        self.progress = progress and self.dist.is_main
        self.callbacks = callbacks or []
        seed_everything(self.config["seed"])
        self.method: Method = build_method(self.config)
        if not isinstance(data, CheckedData):  # given as checked: by the run store, once
            data = check_data(data if data is not None else load_from_config(self.config))
        self.data, self.fingerprint = data.data, data.fingerprint
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
            raise UserError(
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
        if config_key(state["config"]) != config_key(self.config):
            raise UserError(
                f"{path} was written by a different configuration; use another "
                "output folder or delete it to start over"
            )
        if (state.get("data") or {}).get("digest") != self.fingerprint["digest"]:
            raise UserError(
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


def train(config: dict[str, Any], out_dir: str | os.PathLike[str], **kwargs) -> TrainResult:
    """Train (resuming from ``out_dir/last.pt`` when it holds the same configuration and data)."""
    return Trainer(config, out_dir, **kwargs).fit()
