"""ELIM (Kim & Song, NeurIPS 2022): optimal-transport identity matching.

Spec: ``docs/methods/elim.md`` (§ numbers below refer to it).

A VA regressor trained on pooled frames partly learns *who* is pictured. ELIM groups each P×K
batch by identity, matches every target identity's latents to a random reference identity's with
entropic OT (cosine cost; POT's Sinkhorn, or the authors' loop), and takes the transport cost each
target sample pays as its detached "ID shift". Shift-normalised target latents then go through
the shared VA head with an MSE on their own labels, pushing the encoder towards
identity-invariant features (§1).

Model mapping onto the shared ``VAModel`` (inference stays trunk + head, D8): f_φ = trunk +
``head.body`` (the §2 latent head, BatchNorm then ReLU, so z ≥ 0 and the cosine cost lies in
[0, 1]); f_θ = ``head.out`` (d → 20d → BatchNorm → ReLU → 2). Both are the shared ``VAHead``'s
``kind="elim"``, so checkpoints rebuild through ``build_model`` like every other method's.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import ot
import torch
from torch.optim import Optimizer
from torch.utils.data import DataLoader

from ..data import FERData
from ..data.augment import Augmentation
from ..data.pk_sampler import identity_codes, pk_loader
from ..errors import UserError
from ..models import VAHead, VAModel
from .base import Method
from .losses import sup_loss

logger = logging.getLogger(__name__)

# docs/methods/README.md §6, rule 5: authors_code=True switches every flag (wins over them); the
# switches' values are their parameters' choices in ferlib/params.py
AUTHORS_CODE = {
    "elim_sampler": "random",
    "elim_marginals": "code",
    "elim_sinkhorn": "code",
    "elim_sinkhorn_iters": 5,
    "elim_shift_mode": "first_sample",
    "elim_bn_stats": "all",
    "elim_step_b_forward": "code",
}
CONVERGED_ITERS = 200  # §4.2: fewer iterations mean a fixed count (the code's 5), no stop test
STOP_THR = 1e-6
CODE_EPS = 1e-6  # §4.2: the authors' ``--epsilon``, added to every denominator of their loop
TRUNK_CLIP = 1.0  # §5.6
NORM_FLOOR = 1e-8  # §4.2 cost
MASS_EPS = 1e-8  # §4.2 marginals
RMS_EPS = 1e-6  # §4.3
# §2: the latent head's hidden width(s) and d per trunk; other trunks take the AlexNet sizes.
HEAD_SIZES: dict[str, tuple[int | list[int], int]] = {
    "small_cnn": (128, 64),
    "alexnet": (256, 512),
    "resnet18": ([512, 256], 512),
}


def elim_model(trunk_model: VAModel, dropout: float) -> VAModel:
    """``trunk_model``'s trunk under ELIM's latent head + f_θ (§2): the shared ``VAHead`` kind
    ``elim``, its shape recorded in ``model.config`` so that checkpoints rebuild it."""
    trunk, config = trunk_model.trunk, trunk_model.config
    hidden, latent = HEAD_SIZES.get(config["backbone"], HEAD_SIZES["alexnet"])
    head = VAHead(trunk.out_features, kind="elim", dropout=dropout, hidden=hidden, latent=latent)
    return VAModel(trunk, head, {**config, "head": "elim", "hidden": hidden, "latent": latent})


# --- the OT pieces (§4.2–4.5), pure functions so that tests can check each ---------------------
def cosine_cost(zr: torch.Tensor, zk: torch.Tensor) -> torch.Tensor:
    """M_ij = 1 − cos(z_iʳ, z_jᵏ), n×m, with every norm floored at 1e-8 (§4.2).

    Taught in ``notebooks/13_elim.ipynb`` §4.
    """
    ur = zr / zr.norm(dim=1, keepdim=True).clamp_min(NORM_FLOOR)
    uk = zk / zk.norm(dim=1, keepdim=True).clamp_min(NORM_FLOOR)
    return 1 - ur @ uk.T


def ot_marginals(
    zr: torch.Tensor, zk: torch.Tensor, mode: str = "balanced"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Relevance marginals a_i = max(0, ⟨z_iʳ, z̄ᵏ⟩) + ε, b_j likewise (§4.2).

    ``balanced`` (D2) sums each to 1; ``code`` to n and m, which cannot both hold when n ≠ m.
    """
    a = (zr @ zk.mean(0)).clamp_min(0) + MASS_EPS
    b = (zk @ zr.mean(0)).clamp_min(0) + MASS_EPS
    a, b = a / a.sum(), b / b.sum()
    return (a * len(a), b * len(b)) if mode == "code" else (a, b)


def sinkhorn_plan(
    a: torch.Tensor, b: torch.Tensor, cost: torch.Tensor, reg: float, iters: int
) -> torch.Tensor:
    """POT's entropic plan (kernel exp(−M/reg)); non-convergence is logged, not fatal (§4.2).

    Taught in ``notebooks/13_elim.ipynb`` §4.
    """
    fixed = iters < CONVERGED_ITERS  # the code's 5 iterations: no early stop, no warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = ot.sinkhorn(
            a, b, cost, reg, numItermax=iters, stopThr=0.0 if fixed else STOP_THR, warn=not fixed
        )
    for w in caught:
        logger.warning("ELIM Sinkhorn: %s", w.message)
    return plan


def sinkhorn_code(
    a: torch.Tensor,
    b: torch.Tensor,
    cost: torch.Tensor,
    reg: float,
    iters: int,
    eps: float = CODE_EPS,
) -> torch.Tensor:
    """The authors' Sinkhorn loop (§4.2): ``iters`` rounds, then a closing column update.

    u = 𝟏/n; each round v = b / (Kᵀu + ε), u = 1 / (Kv / (a + ε) + ε); then v = b / (Kᵀu + ε)
    once more and P = diag(u) K diag(v), K = exp(−M/reg). POT's rounds are the same but its plan
    ends on the row update, so its rows carry a exactly; here the columns carry b (up to ε).
    With the code's marginals (sums n and m) the two plans then differ in total mass by n/m, and
    so does the shift (n/m = 2.4 for 12 reference against 5 target samples). No stop test; with
    unequal masses u grows by about n/m a round, so the loop is meant for the code's few rounds.
    """
    kernel = torch.exp(-cost / reg)
    u = torch.full_like(a, 1 / len(a))
    for _ in range(iters):
        v = b / (kernel.T @ u + eps)
        u = 1 / ((kernel @ v) / (a + eps) + eps)
    v = b / (kernel.T @ u + eps)  # the closing column update
    return u.unsqueeze(1) * kernel * v.unsqueeze(0)


@torch.no_grad()
def identity_shift(
    zr: torch.Tensor,
    zk: torch.Tensor,
    reg: float = 0.2,
    iters: int = CONVERGED_ITERS,
    marginals: str = "balanced",
    shift_mode: str = "per_sample",
    sinkhorn: str = "pot",
) -> torch.Tensor:
    """The detached ID shift s (m,) of each target sample: κ·Σ_i P_ij·M_ij (§4.2), in float64.

    κ = m for balanced marginals (cost per unit of the sample's own mass), 1 for ``code``; for
    n = m both give the same s. ``first_sample`` gives every sample s₁ (D3, the code's ``[0]``);
    ``none`` gives 0 (an RMS-only ablation). ``sinkhorn``: ``pot`` (``sinkhorn_plan``) or
    ``code`` (the authors' loop, ``sinkhorn_code``).

    Taught in ``notebooks/13_elim.ipynb`` §5.
    """
    device = torch.device("cpu") if zr.device.type == "mps" else zr.device  # MPS has no float64
    zr, zk = zr.detach().to(device, torch.float64), zk.detach().to(device, torch.float64)
    if shift_mode == "none":
        return torch.zeros(len(zk), dtype=zk.dtype, device=zk.device)
    cost = cosine_cost(zr, zk)
    a, b = ot_marginals(zr, zk, marginals)
    solve = sinkhorn_code if sinkhorn == "code" else sinkhorn_plan
    plan = solve(a, b, cost, reg, iters)
    kappa = len(zk) if marginals == "balanced" else 1
    shift = kappa * (plan * cost).sum(0)
    return shift[:1].expand(len(zk)).clone() if shift_mode == "first_sample" else shift


def normalise_rows(z: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """ẑ_j = (z_j − s_j) / (RMS_d(z_j − s_j) + 1e-6) (§4.3); the gradient reaches z only.

    Taught in ``notebooks/13_elim.ipynb`` §6.
    """
    centred = z - shift.detach().to(z.device, z.dtype).unsqueeze(1)
    return centred / (centred.pow(2).mean(1, keepdim=True).sqrt() + RMS_EPS)


def warmup_weight(t: int, start: int, end: int) -> float:
    """w(t): 0 before W1, t/W2 from W1 (a jump to W1/W2), 1 from W2 on (§4.5).

    Taught in ``notebooks/14_elim_training.ipynb`` §1.
    """
    if t < start:
        return 0.0
    return t / end if t < end else 1.0


@contextlib.contextmanager
def frozen_running_stats(module: torch.nn.Module) -> Iterator[None]:
    """BatchNorm layers of ``module`` still normalise with their batch's statistics (the loss and
    its gradients are unchanged) but leave their running statistics as they are (D9).

    ``elim_bn_stats="raw"`` runs step B's f_θ passes under it: the shift-normalised identity
    groups then train f_θ exactly as before, while the running statistics that inference uses
    come only from raw latents, the only inputs inference ever sees. The authors' code (and
    ``"all"``) lets every per-group pass move them as well.
    """
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.0  # running = (1 - 0)·running + 0·batch
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(norms, saved, strict=True):
            m.momentum = momentum
            m.num_batches_tracked.copy_(tracked)


def _mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over samples and both dimensions (§4.4)."""
    return (pred.float() - target).pow(2).mean()


class ELIM(Method):
    """Step A: L_sup on the batch. Step B (w(t) > 0): OT identity matching loss (§5)."""

    name = "elim"
    needs_identities = True  # the course run skips ELIM, with this reason, on data without them
    authors_code = AUTHORS_CODE

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        # the heads are fixed by the spec (§2); the ``head`` parameter does not apply to ELIM
        self.model = elim_model(self.model, config["dropout"])
        if int(self.option("elim_ids_per_step")) < 2:
            raise UserError("elim_ids_per_step must be >= 2: a reference and at least one target")
        self.identities: torch.Tensor | None = None  # identity code per training row (prepare)

    # --- optimisation ------------------------------------------------------------------------
    def param_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """Trunk, latent head (f_φ's end) and VA head f_θ, as in the code's three optimizers."""
        head = self.core.head
        return {
            "trunk": list(self.core.trunk.parameters()),
            "latent": list(head.body.parameters()),
            "head": list(head.out.parameters()),
        }

    def optimizer(self, name: str, params: list[torch.nn.Parameter]) -> Optimizer:
        """Adam per group; f_θ at ``elim_head_lr_scale``·lr (§6: 0.2×)."""
        cfg, scale = self.config, float(self.option("elim_head_lr_scale"))
        lr = cfg["lr"] * (scale if name == "head" else 1)
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg["betas"]))

    # --- data --------------------------------------------------------------------------------
    def pk(self) -> tuple[int, int]:
        """(P, K) from ``elim_p`` and ``batch_size`` (§6: 64 = 8 × 8)."""
        p, batch = int(self.option("elim_p")), int(self.config["batch_size"])
        if p < 2 or batch % p or batch // p < 2:
            raise UserError(
                f"ELIM needs batch_size = P × K with P >= 2 identities and K >= 2 images each; "
                f"got batch_size {batch}, elim_p {p}"
            )
        return p, batch // p

    def train_loader(self, data: FERData, distributed: tuple[int, int] | None = None) -> DataLoader:
        """P×K identity batches (D1); ``sampler="random"`` keeps the plain shuffled loader."""
        if self.option("elim_sampler") == "random":
            identity_codes(data.frame)  # fail early on data without identities
            return super().train_loader(data, distributed)
        p, k = self.pk()
        cfg = self.config
        return pk_loader(
            data,
            cfg["image_size"],
            p,
            k,
            cfg["seed"],
            distributed,
            cfg["num_workers"],
            augment=Augmentation.from_config(cfg),
        )

    def prepare(self, train: FERData) -> None:
        self.identities = torch.from_numpy(identity_codes(train.frame))

    def groups(self, index: torch.Tensor) -> list[torch.Tensor]:
        """Batch positions of each identity with ≥ 2 samples, in code order (singletons and rows
        without identity are left out of step B, §3 ``sampler="random"``)."""
        if self.identities is None:
            raise RuntimeError("ELIM.prepare(train) must run before training_step")
        codes = self.identities[index.cpu()]
        rows = [(codes == c).nonzero().squeeze(1) for c in torch.unique(codes) if c >= 0]
        return [r.to(self.device) for r in rows if len(r) >= 2]

    def draw(self, n_groups: int) -> list[int]:
        """G = min(ids_per_step, groups) distinct groups from torch's global RNG (saved in
        checkpoints): the first is the reference, the rest targets (§4.1, D6)."""
        g = min(int(self.option("elim_ids_per_step")), n_groups)
        return torch.randperm(n_groups)[:g].tolist()

    # --- one iteration (§5) ------------------------------------------------------------------
    def elim_loss(
        self, z: torch.Tensor, targets: torch.Tensor, groups: list[torch.Tensor]
    ) -> torch.Tensor:
        """Σ of per-group MSEs: the reference raw, each target shift-normalised (§4.2–4.4),
        before the w(t)·c_elim factor. f_θ runs on each group separately (code).

        Taught in ``notebooks/14_elim_training.ipynb`` §1.
        """
        f_theta = self.core.head.out
        raw_only = self.option("elim_bn_stats") == "raw"
        with frozen_running_stats(f_theta) if raw_only else contextlib.nullcontext():
            return self._group_losses(f_theta, z, targets, groups)

    def _group_losses(
        self,
        f_theta: torch.nn.Module,
        z: torch.Tensor,
        targets: torch.Tensor,
        groups: list[torch.Tensor],
    ) -> torch.Tensor:
        ref, *tgts = groups
        with self.autocast():
            loss = _mse(f_theta(z[ref]), targets[ref])
        for rows in tgts:
            shift = identity_shift(
                z[ref],
                z[rows],
                reg=float(self.option("elim_reg")),
                iters=int(self.option("elim_sinkhorn_iters")),
                marginals=self.option("elim_marginals"),
                shift_mode=self.option("elim_shift_mode"),
                sinkhorn=self.option("elim_sinkhorn"),
            )
            with self.autocast():
                loss = loss + _mse(f_theta(normalise_rows(z[rows], shift)), targets[rows])
        return loss

    def training_step(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        iteration: int,
        index: torch.Tensor | None = None,
    ) -> dict[str, float]:
        with self.autocast():  # step A
            pred, _ = self.model(images)
        loss = sup_loss(pred.float(), targets, self.config["sup_loss"])
        self.backward_and_step(loss, tuple(self.optimizers))
        logs = {"loss": loss.item()}

        w = warmup_weight(
            iteration, int(self.option("elim_warmup_start")), int(self.option("elim_warmup_end"))
        )
        if w * float(self.option("elim_weight")) == 0:  # §5.3: no second forward pass
            return logs
        if index is None:
            raise ValueError("ELIM needs the batch's row index to group it by identity")
        groups = self.groups(index)
        if len(groups) < 2:  # D6: nothing to match, no second forward pass
            return logs
        # under DDP every rank must reach this step together; P×K batches always do (P >= 2)
        chosen = [groups[i] for i in self.draw(len(groups))]
        z, outside_ddp = self.step_b_latents(images)
        elim = w * float(self.option("elim_weight")) * self.elim_loss(z.float(), targets, chosen)
        self.backward_and_step(  # §5.6: the trunk's gradient clipped
            elim, tuple(self.optimizers), clip={"trunk": TRUNK_CLIP}, synchronise=outside_ddp
        )
        return {**logs, "elim": elim.item(), "elim_w": w}

    def step_b_latents(self, images: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """Step B's fresh latents z = f_φ(x) (§5.4, D10) and whether they bypassed DDP.

        ``elim_step_b_forward="model"`` runs the whole model, so f_θ also sees the raw batch and
        moves its BatchNorm running statistics (its output is unused: no gradient, no weight
        changes); ``"code"`` runs trunk + latent head only, as the authors' step B does. Outside
        the DDP wrapper the gradients are then averaged by hand (``synchronise``).
        """
        with self.autocast():
            if self.option("elim_step_b_forward") == "code":
                core = self.core
                return core.head.body(core.trunk(images)), True
            return self.model(images)[1], False
