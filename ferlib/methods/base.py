"""What a method is: its modules, its update for one batch, and its optimizers.

The trainer (``ferlib.training.trainer``) owns everything else: data, device, seeding, evaluation,
checkpoints, logging. A method that needs several optimizer steps per batch (CAF's critic and
adversarial steps) takes them inside ``training_step`` with ``backward_and_step``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, MultiStepLR
from torch.utils.data import DataLoader

from ..data import FERData, make_loader
from ..data.augment import Augmentation
from ..distributed import average_gradients
from ..models import VAModel, build_model
from ..params import PARAMETERS, check_choice, option


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; raised before any optimizer step uses it."""


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return module.module if hasattr(module, "module") else module


class Method:
    """Base class: the shared VA model, Adam optimizers and per-iteration MultiStepLR."""

    name = "method"
    needs_identities = False  # True: cannot train on data without identities (ELIM)
    authors_code: dict[str, Any] = {}
    """Each parameter's value in the authors' released code. ``<name>_authors_code=True`` sets
    every one of them at once and wins over the single settings (paper semantics by default)."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.resolve_options(config)
        self.model: nn.Module = build_model(
            config["backbone"],
            config["head"],
            pretrained=config["pretrained"],
            width=config["width"],
            dropout=config["dropout"],
        )
        self.optimizers: dict[str, Optimizer] = {}
        self.schedulers: dict[str, LRScheduler] = {}
        self.device = torch.device("cpu")
        self.use_amp = False
        self.scaler = torch.amp.GradScaler("cuda", enabled=False)

    # --- parameters ----------------------------------------------------------------------
    @classmethod
    def resolve_option(cls, config: dict[str, Any], name: str) -> Any:
        """``name``'s value for this method: the authors' code value under
        ``<method>_authors_code``, else the config's, else the registered default; checked
        against the parameter's ``choices`` (before any module is built, so a typo fails at
        once)."""
        if name in cls.authors_code and option(config, f"{cls.name}_authors_code"):
            value = cls.authors_code[name]
        else:
            value = option(config, name)
        choices = PARAMETERS[name].choices
        if choices is not None:
            check_choice(value, tuple(choices), name)
        return value

    @classmethod
    def switches(cls) -> tuple[str, ...]:
        """The method's string switches: its own parameters (``<name>_…``) with ``choices``."""
        own = f"{cls.name}_"
        return tuple(
            k
            for k, p in PARAMETERS.items()
            if p.group == "method" and k.startswith(own) and p.choices is not None
        )

    @classmethod
    def resolve_options(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Every switchable parameter (``switches`` and ``authors_code``) as the method uses
        it."""
        names = dict.fromkeys((*cls.switches(), *cls.authors_code))
        return {name: cls.resolve_option(config, name) for name in names}

    def option(self, name: str) -> Any:
        """A parameter's value for this run (see ``resolve_option``)."""
        return self.resolve_option(self.config, name)

    # --- modules -------------------------------------------------------------------------
    @property
    def core(self) -> VAModel:
        """The VA model without any DDP wrapper: trunk + head, all that inference needs."""
        return unwrap(self.model)

    def modules(self) -> dict[str, nn.Module]:
        """Every module with trainable state, by name (checkpoints store each)."""
        return {"model": self.model}

    def train_mode(self) -> None:
        for module in self.modules().values():
            module.train()

    def eval_mode(self) -> None:
        for module in self.modules().values():
            module.eval()

    def to(self, device: torch.device, channels_last: bool = False) -> Method:
        self.device = device
        fmt = torch.channels_last if channels_last else torch.preserve_format
        for module in self.modules().values():
            module.to(device=device, memory_format=fmt)
        return self

    def wrap_ddp(self, device_ids: list[int] | None) -> None:
        """Wrap every trainable module in DistributedDataParallel (gradients averaged)."""
        from torch.nn.parallel import DistributedDataParallel as DDP

        self.model = DDP(self.model, device_ids=device_ids)

    # --- optimisation --------------------------------------------------------------------
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters per optimizer; the Baseline trains trunk and head with one Adam each."""
        return {
            "trunk": list(self.core.trunk.parameters()),
            "head": list(self.core.head.parameters()),
        }

    def optimizer(self, name: str, params: list[nn.Parameter]) -> Optimizer:
        """The optimizer of one parameter group: Adam at ``lr`` with ``betas``. A method whose
        paper uses other settings overrides this, and only this."""
        return torch.optim.Adam(params, lr=self.config["lr"], betas=tuple(self.config["betas"]))

    def build_optimizers(self) -> None:
        """One optimizer per parameter group, each with a per-iteration ``MultiStepLR``."""
        cfg = self.config
        self.optimizers = {
            name: self.optimizer(name, params) for name, params in self.param_groups().items()
        }
        self.schedulers = {
            name: MultiStepLR(opt, milestones=list(cfg["milestones"]), gamma=cfg["gamma"])
            for name, opt in self.optimizers.items()
        }

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.use_amp:
            return torch.autocast(device_type=self.device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    def backward_and_step(
        self,
        loss: torch.Tensor,
        optimizer_names: tuple[str, ...],
        clip: dict[str, float] | None = None,
        synchronise: bool = False,
    ) -> None:
        """Zero (``set_to_none``), backpropagate and step the named optimizers, in order.

        A non-finite loss raises before anything is stepped, so the weights stay good.
        ``clip`` maps optimizer names to a maximum gradient norm of their parameters (unscaled
        first under mixed precision; ELIM clips the trunk). ``synchronise`` averages the gradients
        over DDP ranks by hand, for modules run outside the DDP wrapper (CAF's steps B and C).
        """
        if not torch.isfinite(loss.detach()).all():
            raise NonFiniteLossError(f"{self.name}: loss is {loss.item()}")
        optimizers = [self.optimizers[name] for name in optimizer_names]
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if synchronise:
            average_gradients(
                [p for opt in optimizers for g in opt.param_groups for p in g["params"]]
            )
        for name, max_norm in (clip or {}).items():
            opt = self.optimizers[name]
            self.scaler.unscale_(opt)
            params = [p for g in opt.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, max_norm)
        for opt in optimizers:
            self.scaler.step(opt)
        self.scaler.update()

    def step_schedulers(self) -> None:
        """Once per iteration, after the optimizers (the authors' code had it the other way)."""
        for scheduler in self.schedulers.values():
            scheduler.step()

    # --- data hooks ----------------------------------------------------------------------
    def train_loader(self, data: FERData, distributed: tuple[int, int] | None = None) -> DataLoader:
        """The training loader (random batches, ``drop_last``); a method that needs another
        sampler (ELIM's identity-aware P×K batches) overrides this. Resume restores
        ``loader.generator``, so a custom sampler must draw from it."""
        cfg = self.config
        return make_loader(
            data,
            cfg["image_size"],
            cfg["batch_size"],
            train=True,
            num_workers=cfg["num_workers"],
            seed=cfg["seed"],
            distributed=distributed,
            augment=Augmentation.from_config(cfg),
        )

    def prepare(self, train: FERData) -> None:
        """Called once with the training split before the first step (e.g. identity tables)."""

    def training_step(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        iteration: int,
        index: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """One update on one batch; returns the losses to log (``loss`` is required).

        ``index`` holds the batch's row numbers in the training split given to ``prepare``.
        """
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """(valence, arousal) for a batch: trunk + head only, as at deployment."""
        return self.core(images)[0]
