"""AVCE (Kim & Song, ECCV 2022): emotion-aware multi-view contrastive learning.

Inside the regressor R a 32-d non-negative bottleneck z gives two views of one image's feature:
sparsemax(z), the *attentive* view, and softmax(z), the *inattentive* one. A shared view head H
maps each view into the VA plane, and a relative-predictive-coding (RPC) objective makes the
prediction x similar (in angle and intensity) to the attentive output and dissimilar to the
inattentive one (step A). A second step, in an 8-d embedding V, pushes the two views apart while
holding both near the original feature (step B). Inference is trunk + head only; H and V are
training-only modules. Spec: ``docs/methods/avce.md`` (§ numbers below refer to it).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer

from ..models import VAHead, VAModel
from .base import Method
from .losses import sup_loss
from .sparsemax import sparsemax

# Each switch's authors'-code value (docs/methods/README.md §6, rule 5); its values are its
# parameter's choices in ferlib/params.py, the first the paper's and the default.
AUTHORS_CODE = {
    "avce_critic": "code",
    "avce_negatives": "same_sample",
    "avce_rpc_reduction": "code",
    "avce_view_head_init": "code",
    "avce_step_b_upper": "code",
}

LATENT = 32  # z, the bottleneck the views are taken of (§2)
HIDDEN = 256  # R's layer above z, and H's hidden layer
EMBED_HIDDEN, EMBED = 64, 8  # V
CODE_RPC_WEIGHT = 1e-4  # rpc_reduction="code": the weight of the summed J (§3.4)
COS_CLAMP = 1e-6  # θ's clamp, keeps arccos' gradient finite at collinear vectors (§3)
NORM_EPS = 1e-12  # ‖u‖ = sqrt(Σu² + ε), finite gradient at u = 0 (§3)
UNIT_EPS = 1e-6  # û = u / (‖u‖ + ε) in step B (§3.5)


# --- the critic (§3.2) ---------------------------------------------------------------------------
def norm(u: torch.Tensor) -> torch.Tensor:
    """‖u‖ over the last dimension with ε inside the root, so the gradient is finite at 0."""
    return u.pow(2).sum(-1).add(NORM_EPS).sqrt()


def cosine(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """cos(x, y), clamped to ±(1 − 1e-6) so that arccos has a finite gradient everywhere."""
    cos = (x * y).sum(-1) / (norm(x) * norm(y))
    return cos.clamp(-1 + COS_CLAMP, 1 - COS_CLAMP)


def angle_term(x: torch.Tensor, y: torch.Tensor, kind: str = "paper") -> torch.Tensor:
    """The critic's angle similarity: 1 − θ/π in [0, 1] (paper); the code's compressed
    clamp(1 − 0.25·arccos(cos/2)/π, 1e-6, 1), which only spans [0.833, 0.917] (D2)."""
    if kind == "paper":
        return 1 - torch.arccos(cosine(x, y)) / math.pi
    return (1 - 0.25 * torch.arccos(cosine(x, y) / 2) / math.pi).clamp(1e-6, 1)


def critic(
    x: torch.Tensor, y: torch.Tensor, kind: str = "paper", w_int: float = 0.8
) -> torch.Tensor:
    """Similarity f(x, y) of (B, 2) VA vectors, per sample (B,): angle + w_int·intensity.

    Intensity is 1 − |‖y‖ − ‖x‖|. ``kind="code"`` adds the authors' −0.05 sign-of-valence penalty,
    which carries no gradient.

    Taught in ``notebooks/12_avce.ipynb`` §4.1.
    """
    f = angle_term(x, y, kind) + w_int * (1 - (norm(y) - norm(x)).abs())
    if kind == "code":
        f = f - 0.05 * (torch.sign(y[:, 0]) != torch.sign(x[:, 0])).to(f.dtype)
    return f


# --- the RPC objective (§3.3) --------------------------------------------------------------------
def derangement(n: int) -> torch.Tensor:
    """A random permutation π with no fixed point for n ≥ 2: a random order, cyclically shifted.

    Drawn on the CPU from the global generator, which checkpoints save, so a resume is exact.

    Taught in ``notebooks/12_avce.ipynb`` §4.2.
    """
    order = torch.randperm(n)
    pi = torch.empty_like(order)
    pi[order] = order.roll(-1)
    return pi


def rpc_objective(
    f_pos: torch.Tensor,
    f_neg: torch.Tensor,
    alpha: float,
    beta: float,
    gamma: float,
    reduction: str = "mean",
) -> torch.Tensor:
    """J = E f_pos − α E f_neg − β/2 E f_pos² − γ/2 E f_neg², to be *maximised*.

    ``reduction="code"`` sums over the batch instead (B × the mean), the scale of the authors'
    broadcast bug without its B×B matrix (§8).

    Taught in ``notebooks/12_avce.ipynb`` §4.2.
    """
    per_sample = f_pos - alpha * f_neg - beta / 2 * f_pos.pow(2) - gamma / 2 * f_neg.pow(2)
    return per_sample.mean() if reduction == "mean" else per_sample.sum()


# --- the step-B regulariser (§3.5) ---------------------------------------------------------------
def view_regulariser(
    v: torch.Tensor, v_a: torch.Tensor, v_n: torch.Tensor, margin: float, hold: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(L_B, push, hold term): push the views ≥ √m apart; hold each view's direction near v's.

    ``vector_norm`` has a zero subgradient at 0, so all-zero (dead-ReLU) embeddings give no NaN.

    Taught in ``notebooks/12_avce.ipynb`` §4.4.
    """

    def unit(u: torch.Tensor) -> torch.Tensor:
        return u / (torch.linalg.vector_norm(u, dim=-1, keepdim=True) + UNIT_EPS)

    push = (margin - (v_a - v_n).pow(2).sum(-1)).clamp(min=0).mean()
    u = unit(v)
    held = sum(torch.linalg.vector_norm(unit(w) - u, dim=-1).mean() for w in (v_a, v_n))
    return push + hold * held, push, held


# --- modules -------------------------------------------------------------------------------------
class ViewHead(nn.Sequential):
    """H: a view (B, 32) -> (B, 2) in (−0.5, 0.5)²; one set of weights for both views (§2, D6)."""

    def __init__(self) -> None:
        super().__init__(nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2), nn.Tanh())

    def forward(self, view: torch.Tensor) -> torch.Tensor:
        return 0.5 * super().forward(view)


class Embedding(nn.Sequential):
    """V: (B, 32) -> (B, 8), non-negative; step B's metric space (§2)."""

    def __init__(self) -> None:
        super().__init__(
            nn.Linear(LATENT, EMBED_HIDDEN), nn.ReLU(), nn.Linear(EMBED_HIDDEN, EMBED), nn.ReLU()
        )


def code_init(module: nn.Module) -> None:
    """The authors' init of H and V: N(0, 1) weights, bias 0.01 (``view_head_init="code"``, D5)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 1.0)
            nn.init.constant_(layer.bias, 0.01)


def avce_head(in_features: int, dropout: float) -> VAHead:
    """R as a ``VAHead``: Dropout → F→32 → ReLU (= z) → Dropout → 32→256 → ReLU → 256→2 (§2).

    A VAHead with hidden 32 and latent 256 has exactly these layers, so inference and checkpoints
    use the shared class; AVCE's z is ``body[:3]``'s output, not the head's returned latent.
    """
    return VAHead(in_features, dropout=dropout, hidden=LATENT, latent=HIDDEN)


class AVCENet(nn.Module):
    """Trunk, R, H and V in one module, so each step is one forward (one DDP call).

    ``step="a"``: (x, y_a, y_n), the prediction and the two views' VA outputs.
    ``step="b"``: (v, v_a, v_n), the embeddings of z and of its two views; with ``upper_zero``
    also 0·Σ(R's weights above z), which gives those weights an exact zero gradient (D7).
    The views are computed in float32: sparsemax sorts and thresholds, which fp16 would blur.
    """

    def __init__(self, core: VAModel, view_head: nn.Module, embed: nn.Module) -> None:
        super().__init__()
        self.core, self.view_head, self.embed = core, view_head, embed

    def forward(
        self, images: torch.Tensor, step: str, upper_zero: bool = False
    ) -> tuple[torch.Tensor, ...]:
        head = self.core.head
        z = head.body[:3](self.core.trunk(images))  # R below z: Dropout, F→32, ReLU
        views = (sparsemax(z.float()), F.softmax(z.float(), dim=-1))
        if step == "a":
            x = head.out(head.body[3:](z))  # R above z
            return (x, *(self.view_head(view) for view in views))
        embeddings = tuple(self.embed(w) for w in (z, *views))
        if not upper_zero:
            return embeddings
        upper = [*head.body[3:].parameters(), *head.out.parameters()]
        return (*embeddings, 0.0 * sum(p.sum() for p in upper))


class AVCE(Method):
    """Step A (L_sup − λ·J on E, R, H) then step B (L_B on E, R below z, V), every iteration."""

    name = "avce"
    authors_code = AUTHORS_CODE

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)  # a bad switch fails here, before the trunk is built
        # R is fixed by the spec (§2); the ``head`` parameter does not apply to AVCE.
        trunk = self.model.trunk
        self.model = VAModel(
            trunk,
            avce_head(trunk.out_features, config["dropout"]),
            {**self.model.config, "hidden": LATENT, "latent": HIDDEN},  # rebuildable shape
        )
        self.view_head, self.embedding = ViewHead(), Embedding()
        if self.option("avce_view_head_init") == "code":
            code_init(self.view_head)
            code_init(self.embedding)
        self.net: nn.Module = AVCENet(self.model, self.view_head, self.embedding)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "view_head": self.view_head, "embedding": self.embedding}

    def wrap_ddp(self, device_ids: list[int] | None) -> None:
        """Wrap the training network: every step's gradients are averaged across ranks.

        ``find_unused_parameters``: step A leaves V out of the graph, step B H and R's top.
        """
        from torch.nn.parallel import DistributedDataParallel as DDP

        self.net = DDP(self.net, device_ids=device_ids, find_unused_parameters=True)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "trunk": list(self.core.trunk.parameters()),
            "head": list(self.core.head.parameters()),
            "view_head": list(self.view_head.parameters()),
            "embedding": list(self.embedding.parameters()),
        }

    def optimizer(self, name: str, params: list[nn.Parameter]) -> Optimizer:
        """Adam (betas ``avce_betas``) for E and R; SGD with momentum for H and V (§5)."""
        if name in ("view_head", "embedding"):
            lr, momentum = self.option("avce_view_lr"), self.option("avce_view_momentum")
            return torch.optim.SGD(params, lr=lr, momentum=momentum)
        betas = tuple(self.option("avce_betas"))
        return torch.optim.Adam(params, lr=self.config["lr"], betas=betas)

    # --- the two losses ------------------------------------------------------------------
    def step_a_loss(
        self, x: torch.Tensor, y_a: torch.Tensor, y_n: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """L_A = L_sup − w·J (§3.4); w = λ for the mean J, 1e-4 for the code's summed J (D3).

        Taught in ``notebooks/12_avce.ipynb`` §4.3.
        """
        cfg, option = self.config, self.option
        x, y_a, y_n = x.float(), y_a.float(), y_n.float()
        kind, w_int = option("avce_critic"), option("avce_w_int")
        if option("avce_negatives") == "shuffled":  # product of marginals (D4)
            y_n = y_n[derangement(len(y_n)).to(y_n.device)]
        f_pos, f_neg = critic(x, y_a, kind, w_int), critic(x, y_n, kind, w_int)
        reduction = option("avce_rpc_reduction")
        j = rpc_objective(
            f_pos,
            f_neg,
            option("avce_alpha"),
            option("avce_beta"),
            option("avce_gamma"),
            reduction,
        )
        weight = option("avce_lambda") if reduction == "mean" else CODE_RPC_WEIGHT
        sup = sup_loss(x, targets, cfg["sup_loss"])
        loss = sup - weight * j  # J is maximised: the sign FER-Zoo inverted (§8)
        logs = {
            "sup": sup.item(),
            "rpc": j.item(),
            "f_pos": f_pos.mean().item(),
            "f_neg": f_neg.mean().item(),
        }
        return loss, logs

    def step_b_loss(
        self, v: torch.Tensor, v_a: torch.Tensor, v_n: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        loss, push, held = view_regulariser(
            v.float(),
            v_a.float(),
            v_n.float(),
            self.option("avce_margin"),
            self.option("avce_hold"),
        )
        return loss, {"reg": loss.item(), "push": push.item(), "hold": held.item()}

    # --- one iteration (§4) --------------------------------------------------------------
    def step_a(self, images: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Step A: L_A on E, R and H."""
        with self.autocast():
            x, y_a, y_n = self.net(images, step="a")
        loss, logs = self.step_a_loss(x, y_a, y_n, targets)
        self.backward_and_step(loss, ("trunk", "head", "view_head"))
        return {"loss": loss.item(), **logs}

    def step_b(self, images: torch.Tensor) -> dict[str, float]:
        """Step B: a fresh pass with the updated weights, L_B on E, R below z and V (D7).

        R's layers above z and H get no gradient, so ``set_to_none`` leaves them unmoved
        (``avce_step_b_upper="still"``). ``"code"`` gives R's upper layers an exact zero gradient
        instead, so that their Adam takes the momentum-only step that the authors' code takes
        (torch 1.7.1's ``zero_grad`` leaves zero tensors, not ``None``); H is still not stepped.
        """
        upper_zero = self.option("avce_step_b_upper") == "code"
        with self.autocast():
            v, v_a, v_n, *zero = self.net(images, step="b", upper_zero=upper_zero)
        loss, logs = self.step_b_loss(v, v_a, v_n)
        self.backward_and_step(loss + sum(zero), ("trunk", "head", "embedding"))
        return logs

    def training_step(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        iteration: int,
        index: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """Two optimizer steps and two trunk passes; ``loss`` is step A's L_A.

        Taught in ``notebooks/12_avce.ipynb`` §4.5.
        """
        return {**self.step_a(images, targets), **self.step_b(images)}


__all__ = [
    "AVCE",
    "CODE_RPC_WEIGHT",
    "AVCENet",
    "Embedding",
    "ViewHead",
    "angle_term",
    "critic",
    "derangement",
    "rpc_objective",
    "view_regulariser",
]
