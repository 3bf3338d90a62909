"""CAF (Kim & Song, AAAI 2021): contrastive adversarial learning across emotion intensities.

Each batch is split by VA radius into strong and weak samples. A critic f_c on the trunk feature
h learns, with an adaptive-margin contrastive loss, to pull strong-strong pairs together and push
strong-weak pairs apart; an adversarial step then moves the trunk so that weak samples score like
strong ones. Per iteration: step A (L_sup on f_e + f_r), step B (L_c on f_c, then λ), step C
(L_adv on f_e, f_c frozen); three Adams, two trunk passes. At inference CAF is trunk + f_r only.
Spec: ``docs/methods/caf.md`` (§ numbers below refer to it).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from ..data import FERData
from ..distributed import all_ranks, rank_mean
from ..errors import UserError
from ..models import VAHead
from .base import Method
from .losses import sup_loss

# CAF's own parameters (caf_…), the switches' choices among them, are in ferlib/params.py.
CODE_OFFSET = 0.25  # §8: the code compares r² with its threshold + 0.25
FALLBACK_STRONG, FALLBACK_WEAK = 0.65, 0.3  # §3.1 fallback cuts on r² (code values)
MARGIN_MI_MAX = 2.5  # §3.3: the MI term is clamped to [0, 2.5]
PEARSON_FLOOR = 1e-30  # §3.3: floor of ‖p̃‖²‖q̃‖², so a constant row gives η = 0, not NaN
CRITIC_DIM = 16  # §2: f_c has a linear 16-d output
REGRESSOR_HIDDEN, REGRESSOR_LATENT = 64, 8  # §2: f_r is F→64→8→2


# --- §3.1 grouping ---------------------------------------------------------------------------
def otsu_threshold(values: torch.Tensor, bins: int = 64) -> float | None:
    """Otsu's threshold of ``values`` clipped to [0, 1]; None when they fill a single bin.

    64-bin histogram, bin centres as values, the 63 inner edges as candidates, maximise
    ω₀ω₁(μ₀ − μ₁)²; a tie takes the middle of the maximising range (§3.1).

    Taught in ``notebooks/11_caf.ipynb`` §2.
    """
    x = values.detach().double().flatten().clamp(0, 1)
    idx = (x * bins).floor().long().clamp(max=bins - 1)
    counts = torch.bincount(idx, minlength=bins).double()
    centres = (torch.arange(bins, dtype=torch.float64) + 0.5) / bins
    n0 = counts.cumsum(0)[:-1]  # class 0 = bins below edge k, k = 1..63
    s0 = (counts * centres).cumsum(0)[:-1]
    n1, s1 = counts.sum() - n0, (counts * centres).sum() - s0
    valid = (n0 > 0) & (n1 > 0)
    mean0, mean1 = s0 / n0.clamp(min=1), s1 / n1.clamp(min=1)
    between = torch.where(valid, n0 * n1 * (mean0 - mean1) ** 2, torch.zeros_like(n0))
    if not valid.any() or between.max() <= 0:
        return None
    best = torch.nonzero(between >= between.max() * (1 - 1e-12)).flatten()
    edge = (best.min() + best.max()).item() / 2 + 1
    return edge / bins


def code_threshold(values: torch.Tensor) -> torch.Tensor:
    """The authors' ``cumulative_thresholding`` as it runs (its loop exits on the first pass).

    sum(x[: i_m + 1]) / sum(x) on the signed values in batch order, i_m = (argmin + argmax) // 2;
    it can divide by about 0, which here yields inf/NaN and so the fallback groups (§8).
    """
    x = values.detach().double().flatten()
    i_m = (int(torch.argmin(x)) + int(torch.argmax(x))) // 2
    return x[: i_m + 1].sum() / x.sum()


def radius_threshold(va: torch.Tensor) -> float:
    """δ_r = sqrt(Otsu(|v|)² + Otsu(|a|)²); NaN (so: the fallback) if either is undefined."""
    dv, da = otsu_threshold(va[:, 0].abs()), otsu_threshold(va[:, 1].abs())
    return math.nan if dv is None or da is None else math.hypot(dv, da)


def group(
    targets: torch.Tensor, grouping: str = "otsu", delta_r: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Strong and weak index lists (batch order, unbalanced) from the VA labels alone (§3.1).

    ``otsu``: S = {r > δ_r} with δ_r from this batch; ``otsu_global``: the given ``delta_r``
    (from the training labels); ``code``: r² against the cumulative-ratio threshold + 0.25. If a
    group is empty (or the threshold is undefined) the code's fixed cuts on r² apply instead.

    Taught in ``notebooks/11_caf.ipynb`` §2.
    """
    y = targets.detach().double().cpu()
    r2 = y.pow(2).sum(1)
    if grouping == "code":
        th = torch.sqrt(code_threshold(y[:, 0]) ** 2 + code_threshold(y[:, 1]) ** 2)
        strong, weak = r2 > th + CODE_OFFSET, r2 < th + CODE_OFFSET
    else:
        if grouping == "otsu":
            delta_r = radius_threshold(y)
        elif delta_r is None:
            raise ValueError("caf_grouping='otsu_global' needs delta_r (set by CAF.prepare)")
        strong, weak = r2.sqrt() > delta_r, r2.sqrt() <= delta_r
    if not strong.any() or not weak.any():
        strong, weak = r2 > FALLBACK_STRONG, r2 < FALLBACK_WEAK
    return torch.nonzero(strong).flatten(), torch.nonzero(weak).flatten()


def balance(strong: torch.Tensor, weak: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The first m′ = 2⌊min(|S|, |W|)/2⌋ of each group, in batch order (§3.1).

    Taught in ``notebooks/11_caf.ipynb`` §2.
    """
    m = 2 * (min(len(strong), len(weak)) // 2)
    return strong[:m], weak[:m]


def mirror(m: int) -> torch.Tensor:  # §3.2
    """Partner m′ − 1 − i of pair i: positives (S_i, S_partner), negatives (S_i, W_partner)."""
    return torch.arange(m - 1, -1, -1)


# --- §3.3 adaptive margin --------------------------------------------------------------------
def aknn_sizes(points: torch.Tensor, labels: torch.Tensor, c: float) -> torch.Tensor:
    """AKNN neighbourhood size K of every point (Balsubramani et al. 2019).

    K = the smallest k whose k nearest other points have a majority share > ½ + c/√k; the number
    of points if no k qualifies.

    Taught in ``notebooks/11_caf.ipynb`` §4.1.
    """
    n, x = len(points), points.float()
    dist_ = torch.cdist(x, x)
    dist_.fill_diagonal_(float("inf"))
    order = dist_.argsort(dim=1, stable=True)[:, : n - 1]
    k = torch.arange(1, n, dtype=torch.float32, device=x.device)
    ones = labels.to(x.device)[order].float().cumsum(1)
    share = torch.maximum(ones, k - ones) / k
    ok = share > 0.5 + c / k.sqrt()
    first = ok.int().argmax(1) + 1
    return torch.where(ok.any(1), first, torch.full_like(first, n))


def pearson(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Row-wise Pearson correlation across the critic's dimensions (0 for a constant row)."""
    pc, qc = p - p.mean(1, keepdim=True), q - q.mean(1, keepdim=True)
    # the floor sits under the root, so a constant row has a finite gradient (0 through the MI)
    den = (pc.pow(2).sum(1) * qc.pow(2).sum(1)).clamp(min=PEARSON_FLOOR).sqrt()
    return (pc * qc).sum(1) / den


def mi_paper(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Gaussian MI from the correlation η of each pair: clamp(−½ log(1 − η²), 0, 2.5)."""
    eta2 = pearson(p, q).pow(2).clamp(max=1 - 1e-6)
    return (-0.5 * torch.log1p(-eta2)).clamp(0, MARGIN_MI_MAX)


def mi_code(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The code's ``mutual_info``: mean over dims of log[g(q−p) / (½g(q+1) + ½g(q−1))], clamped.

    g(t) = exp(−t²/0.4), evaluated in log space (same value, no 0/0 when the exps underflow).
    """
    log_num = -(q - p).pow(2) / 0.4
    log_den = torch.logaddexp(-(q + 1).pow(2) / 0.4, -(q - 1).pow(2) / 0.4) - math.log(2)
    return (log_num - log_den).mean(1).clamp(0, MARGIN_MI_MAX)


def margins(
    c_strong: torch.Tensor,
    c_weak: torch.Tensor,
    batch_size: int,
    c: float,
    kind: str = "paper",
    grad: str = "detached",
) -> torch.Tensor:
    """α̂_i for every negative pair (S_i, W_mirror(i)) (§3.3).

    paper: MI(η) + log(B/c)/(2K_i); code: G_i + c/√(K_i − 1), with K_i − 1 ≥ 1 (the code's list
    lookup wrapped around for K = 1, possible only when c < 0.5). ``grad="detached"`` (the
    paper's constant margin) gives no gradient; ``"carried"`` (the code) lets the MI term pass
    the critic outputs' gradient into L_c. The AKNN term never carries one (K is a count).

    Taught in ``notebooks/11_caf.ipynb`` §4.1.
    """
    m = len(c_strong)
    with torch.no_grad():
        pooled = torch.cat([c_strong, c_weak]).float()
        labels = torch.cat([torch.ones(m), torch.zeros(len(c_weak))]).to(pooled.device)
        k = aknn_sizes(pooled, labels, c)[:m].to(pooled.dtype)
    p, q = c_strong.float(), c_weak[mirror(m).to(c_weak.device)].float()
    if grad == "detached":
        p, q = p.detach(), q.detach()
    if kind == "paper":
        return mi_paper(p, q) + math.log(batch_size / c) / (2 * k)
    return mi_code(p, q) + c / (k - 1).clamp(min=1).sqrt()


# --- §3.4-3.5 losses -------------------------------------------------------------------------
def critic_loss(
    c_strong: torch.Tensor,
    c_weak: torch.Tensor,
    margin: torch.Tensor,
    lam: float,
    rho: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """L_c = E_P + E_Q + λ(1 − Ω) − (ρ/2)(1 − Ω)² and Ω (Fisher-GAN-style constraint, §3.4).

    Taught in ``notebooks/11_caf.ipynb`` §4.2.
    """
    partner = mirror(len(c_strong)).to(c_strong.device)
    d_pos = (c_strong - c_strong[partner]).pow(2).sum(1)
    d_neg = torch.relu(margin - (c_strong - c_weak[partner]).pow(2).sum(1))
    omega = 0.5 * d_pos.pow(2).mean() + 0.5 * d_neg.pow(2).mean()
    slack = 1 - omega
    return d_pos.mean() + d_neg.mean() + lam * slack - rho / 2 * slack.pow(2), omega


def adversarial_loss(c_weak: torch.Tensor, weight: float) -> torch.Tensor:
    """L_adv = −w_adv · mean critic output over weak samples and dimensions (§3.5).

    Taught in ``notebooks/11_caf.ipynb`` §4.3.
    """
    return -weight * c_weak.mean()


# --- modules ---------------------------------------------------------------------------------
class Critic(nn.Module):
    """f_c: F→64 (linear) → 64→32 → Dropout 0.2 → ReLU → 32→16, linear output (§2, D3).

    The game's state lives here as buffers, so checkpoints and exact resume carry it: the
    multiplier λ and the per-run counts of skipped batches (m′ < 2) and skipped critic steps (D8).

    Taught in ``notebooks/11_caf.ipynb`` §3.
    """

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, 64),
            nn.Linear(64, 32),
            nn.Dropout(0.2),
            nn.ReLU(),
            nn.Linear(32, CRITIC_DIM),
        )
        self.register_buffer("lam", torch.zeros(()))
        self.register_buffer("skipped", torch.zeros((), dtype=torch.long))
        self.register_buffer("nonfinite", torch.zeros((), dtype=torch.long))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class CAF(Method):
    """CAF on the shared trainer: ``core`` is trunk + f_r; ``critic`` is training-only."""

    name = "caf"
    # the authors' released code (§3.1, §3.3, §8)
    authors_code = {"caf_grouping": "code", "caf_margin": "code", "caf_margin_grad": "carried"}

    def __init__(self, config: dict[str, Any]) -> None:
        if config["head"] != "bottleneck":  # fail before building a large head
            raise UserError(f"CAF's regressor f_r is fixed (F→64→8→2); head={config['head']!r}")
        super().__init__(config)
        self.grouping = self.option("caf_grouping")
        self.margin = self.option("caf_margin")
        self.margin_grad = self.option("caf_margin_grad")
        self.c = float(self.option("caf_aknn_c"))
        self.rho = float(self.option("caf_rho"))
        self.adv_weight = float(self.option("caf_adv_weight"))
        self.delta_r: float | None = None  # otsu_global threshold, set in prepare()
        core, features = self.core, self.core.trunk.out_features
        core.head = VAHead(
            features,
            dropout=config["dropout"],
            hidden=REGRESSOR_HIDDEN,
            latent=REGRESSOR_LATENT,
        )
        core.config.update(hidden=REGRESSOR_HIDDEN, latent=REGRESSOR_LATENT)
        self.critic = Critic(features)

    # --- modules and optimizers ----------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "critic": self.critic}

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {**super().param_groups(), "critic": list(self.critic.parameters())}

    def optimizer(self, name: str, params: list[nn.Parameter]) -> Optimizer:
        """Adam × 3 (f_e, f_r, f_c) with CAF's betas (§5)."""
        betas = tuple(self.option("caf_betas"))
        return torch.optim.Adam(params, lr=self.config["lr"], betas=betas)

    def prepare(self, train: FERData) -> None:
        """``otsu_global``: δ_r once from the training labels (§3.1)."""
        if self.grouping == "otsu_global":
            va = torch.tensor(train.frame[["valence", "arousal"]].to_numpy(dtype="float64"))
            self.delta_r = radius_threshold(va)

    # --- one iteration (§4) --------------------------------------------------------------
    def split(self, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Balanced strong and weak index lists, each of length m′ (possibly 0)."""
        return balance(*group(targets, self.grouping, self.delta_r))

    def training_step(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        iteration: int,
        index: torch.Tensor | None = None,
    ) -> dict[str, float]:
        strong, weak = self.split(targets)
        # Step A: L_sup on the whole batch, f_e then f_r
        with self.autocast():
            pred, _ = self.model(images)
        loss = sup_loss(pred.float(), targets, self.config["sup_loss"])
        self.backward_and_step(loss, ("trunk", "head"))
        logs = {"loss": loss.item(), "sup_loss": loss.item(), "pairs": float(len(strong))}
        if all_ranks(len(strong) >= 2, self.device):
            logs.update(self._game(images, strong, weak))
        else:  # D6: no game on a degenerate batch
            self.critic.skipped += 1
        logs["lambda"] = self.critic.lam.item()
        logs["skipped_batches"] = float(self.critic.skipped.item())
        logs["skipped_critic_steps"] = float(self.critic.nonfinite.item())
        return logs

    def _game(
        self, images: torch.Tensor, strong: torch.Tensor, weak: torch.Tensor
    ) -> dict[str, float]:
        """Steps B and C on one second trunk pass h_SW = f_e([x_S; x_W]) (§4, D7).

        Both run the trunk and critic outside DistributedDataParallel (sub-batches of
        rank-dependent size), so their gradients are averaged over the ranks by hand
        (``synchronise``), and every rank takes or skips each step together (``all_ranks``).

        Taught in ``notebooks/11_caf.ipynb`` §4.5.
        """
        m, logs = len(strong), {}
        with self.autocast():
            h = self.core.trunk(images[torch.cat([strong, weak]).to(images.device)])
        # Step B: critic on detached features; the margins carry a gradient only if "carried"
        with self.autocast():
            c = self.critic(h.detach()).float()
        alpha = margins(c[:m], c[m:], len(images), self.c, self.margin, self.margin_grad)
        loss_c, omega = critic_loss(c[:m], c[m:], alpha, self.critic.lam.item(), self.rho)
        if all_ranks(bool(torch.isfinite(loss_c)), self.device):
            self.backward_and_step(loss_c, ("critic",), synchronise=True)
            self.critic.lam += self.rho * rank_mean(1 - omega.detach())
            logs.update(critic_loss=loss_c.item(), omega=omega.item())
        else:  # D8: non-finite distances skip step B
            self.critic.nonfinite += 1
        # Step C: f_e only, f_c frozen; reuses h_W (exact without BatchNorm, D7)
        flags = [p.requires_grad for p in self.critic.parameters()]
        self.critic.requires_grad_(False)
        try:
            with self.autocast():
                c_weak = self.critic(h[m:]).float()
            loss_adv = adversarial_loss(c_weak, self.adv_weight)
            self.backward_and_step(loss_adv, ("trunk",), synchronise=True)
        finally:
            for p, flag in zip(self.critic.parameters(), flags, strict=True):
                p.requires_grad_(flag)
        logs["adv_loss"] = loss_adv.item()
        return logs
