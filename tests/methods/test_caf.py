"""CAF: grouping, margins, losses, step isolation, training end to end.

Spec: docs/methods/caf.md (§ numbers below refer to it; §9 lists what these tests check).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch

import ferlib.methods
import ferlib.methods.caf as caf
from ferlib.methods import Baseline
from ferlib.methods.caf import (
    CAF,
    Critic,
    adversarial_loss,
    aknn_sizes,
    balance,
    code_threshold,
    critic_loss,
    group,
    margins,
    mi_code,
    mi_paper,
    mirror,
    otsu_threshold,
)
from ferlib.models import VAModel
from ferlib.params import defaults
from ferlib.training import checkpoint as ckpt


def make(**overrides) -> CAF:
    torch.manual_seed(0)
    method = CAF({**defaults(), "method": "caf", **overrides})
    method.build_optimizers()
    return method


def batch(n: int = 16, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images and labels with a clear split: the first half strong (r≈0.9), then weak."""
    g = torch.Generator().manual_seed(seed)
    angle = torch.rand(n, generator=g) * 2 * math.pi
    radius = torch.cat([torch.full((n // 2,), 0.9), torch.full((n - n // 2,), 0.15)])
    radius = radius + 0.05 * torch.rand(n, generator=g)
    y = torch.stack([radius * angle.cos(), radius * angle.sin()], 1)
    return torch.randn(n, 3, size, size, generator=g), y


def params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


# --- §9.1 Otsu and §9.2 grouping -------------------------------------------------------------
def test_otsu_two_spikes_give_exactly_one_half():
    assert otsu_threshold(torch.tensor([0.1] * 10 + [0.9] * 10)) == 0.5


@pytest.mark.parametrize("seed", range(5))
def test_otsu_lies_strictly_between_well_separated_modes(seed):
    g = torch.Generator().manual_seed(seed)
    low = 0.2 + 0.03 * torch.randn(30, generator=g)
    high = 0.75 + 0.03 * torch.randn(20, generator=g)
    t = otsu_threshold(torch.cat([low, high])[torch.randperm(50, generator=g)])
    assert low.max() < t < high.min()


def test_constant_input_has_no_otsu_threshold_and_triggers_the_fallback():
    assert otsu_threshold(torch.full((12,), 0.4)) is None
    # |v| constant: δ_v undefined, so the code's cuts on r² decide (0.65 and 0.3)
    y = torch.tensor([[0.4, 0.9], [-0.4, 0.1], [0.4, -0.8], [-0.4, 0.0], [0.4, 0.5]])
    strong, weak = group(y)
    assert strong.tolist() == [0, 2] and weak.tolist() == [1, 3]


def test_hand_made_batch_uses_the_known_otsu_thresholds():
    v = [0.1, 0.1, 0.9, 0.9, -0.9, 0.1, -0.1, 0.9]
    a = [0.1, 0.9, 0.1, 0.9, -0.1, -0.1, 0.1, -0.9]
    y = torch.tensor([v, a]).T
    assert otsu_threshold(y[:, 0].abs()) == 0.5 and otsu_threshold(y[:, 1].abs()) == 0.5
    strong, weak = group(y)  # δ_r = sqrt(0.5² + 0.5²) ≈ 0.707
    assert strong.tolist() == [1, 2, 3, 4, 7] and weak.tolist() == [0, 5, 6]
    s, w = balance(strong, weak)  # m = 3 -> m′ = 2, first of each in batch order
    assert s.tolist() == [1, 2] and w.tolist() == [0, 5]


@pytest.mark.parametrize("grouping", ["otsu", "code"])
@pytest.mark.parametrize("seed", range(4))
def test_balanced_groups_are_disjoint_even_and_equal(grouping, seed):
    y = torch.rand(33, 2, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    strong, weak = balance(*group(y, grouping))
    assert len(strong) == len(weak) and len(strong) % 2 == 0 and len(strong) >= 2
    assert not set(strong.tolist()) & set(weak.tolist())


def test_equal_radii_use_the_fallback():
    angle = torch.linspace(0, 6, 20)
    y = 0.9 * torch.stack([angle.cos(), angle.sin()], 1)  # r² = 0.81 > 0.65: all strong
    strong, weak = group(y)
    assert len(strong) == 20 and len(weak) == 0
    assert len(balance(strong, weak)[0]) == 0


def test_otsu_global_takes_one_threshold_from_the_training_labels():
    y = torch.tensor([[0.9, 0.9], [0.1, 0.1], [0.5, 0.5]])
    strong, weak = group(y, "otsu_global", delta_r=0.6)
    assert strong.tolist() == [0, 2] and weak.tolist() == [1]
    with pytest.raises(ValueError, match="otsu_global"):
        group(y, "otsu_global")


def test_code_grouping_reproduces_the_cumulative_ratio():
    # argmin 1, argmax 3 -> i_m = 2: (0.2 − 0.4 + 0.7) / 1.3
    assert code_threshold(torch.tensor([0.2, -0.4, 0.7, 0.8])).item() == pytest.approx(0.5 / 1.3)
    y = torch.tensor([[0.2, 0.2], [-0.4, -0.4], [0.7, 0.7], [0.8, 0.8]])
    th = math.sqrt(2) * 0.5 / 1.3 + 0.25  # ≈ 0.794, compared with r² as in the code
    strong, weak = group(y, "code")
    r2 = y.pow(2).sum(1)
    assert strong.tolist() == torch.nonzero(r2 > th).flatten().tolist() == [2, 3]
    assert weak.tolist() == [0, 1]


def test_degenerate_batch_skips_the_game_and_leaves_critic_and_lambda_unchanged():
    method = make()
    x, _ = batch()
    y = torch.full((16, 2), 0.7)  # equal radii, r² = 0.98: no weak sample, m′ = 0
    critic = params(method.critic)
    logs = method.training_step(x, y, 0)
    assert same(critic, params(method.critic)) and method.critic.lam.item() == 0.0
    assert not method.optimizers["critic"].state  # step B never ran
    trunk_state = method.optimizers["trunk"].state.values()
    assert all(s["step"].item() == 1 for s in trunk_state)  # f_e moved by step A only
    assert logs["skipped_batches"] == 1.0 and "adv_loss" not in logs
    method.training_step(x, y, 1)
    assert method.critic.skipped.item() == 2  # a per-run counter


# --- §9.3 pairing, §9.4 AKNN, §9.5 margins ---------------------------------------------------
def test_pairs_are_mirrored_for_positives_and_negatives():
    assert mirror(4).tolist() == [3, 2, 1, 0]
    c_s = torch.tensor([[0.0], [1.0], [2.0], [3.0]], dtype=torch.float64)
    c_w = torch.tensor([[10.0], [20.0], [30.0], [40.0]], dtype=torch.float64)
    loss, _ = critic_loss(c_s, c_w, torch.full((4,), 2000.0, dtype=torch.float64), 0.0, 0.0)
    d_pos = [9.0, 1.0, 1.0, 9.0]  # (0,3), (1,2), (2,1), (3,0)
    d_neg = [40.0**2, 29.0**2, 18.0**2, 7.0**2]  # S_i with W_{3−i}
    expected = sum(d_pos) / 4 + sum(2000 - d for d in d_neg) / 4
    assert loss.item() == pytest.approx(expected)


def test_aknn_two_far_clusters_give_k_2():
    g = torch.Generator().manual_seed(0)
    points = torch.cat([torch.randn(3, 16, generator=g), 100 + torch.randn(3, 16, generator=g)])
    labels = torch.tensor([1, 1, 1, 0, 0, 0])
    assert aknn_sizes(points, labels, 0.7).tolist() == [2] * 6


def test_aknn_alternating_labels_on_a_line_give_2m():
    points = torch.arange(6.0).unsqueeze(1)
    labels = torch.tensor([1, 0, 1, 0, 1, 0])
    assert aknn_sizes(points, labels, 1.2).tolist() == [6] * 6


def test_aknn_k_never_decreases_with_c():
    g = torch.Generator().manual_seed(1)
    points, labels = torch.randn(20, 4, generator=g), torch.arange(20) % 2
    sizes = [aknn_sizes(points, labels, c) for c in (0.0, 0.3, 0.7, 1.0, 1.5, 3.0)]
    assert all((a <= b).all() for a, b in zip(sizes, sizes[1:], strict=False))
    assert sizes[0].min() >= 1 and sizes[-1].max() == 20


def test_paper_mi_is_zero_for_uncorrelated_and_saturates_for_correlated_pairs():
    p = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    q = torch.tensor([[1.0, 1.0, -1.0, -1.0]])  # η = 0
    assert mi_paper(p, q).item() == 0.0
    assert mi_paper(p, 2 * p + 1).item() == 2.5 and mi_paper(p, -p).item() == 2.5
    assert mi_paper(p, torch.zeros_like(p)).item() == 0.0  # constant row: η := 0, no NaN


def test_margin_aknn_terms_for_k_2():
    g = torch.Generator().manual_seed(0)
    c_s, c_w = torch.randn(3, 16, generator=g), 100 + torch.randn(3, 16, generator=g)  # K = 2
    paper = margins(c_s, c_w, batch_size=64, c=0.7, kind="paper") - mi_paper(c_s, c_w[mirror(3)])
    assert paper.tolist() == pytest.approx([math.log(64 / 0.7) / 4] * 3, abs=1e-5)  # 1.1289
    assert paper[0].item() == pytest.approx(1.1289, abs=1e-4)
    code = margins(c_s, c_w, batch_size=64, c=0.7, kind="code") - mi_code(c_s, c_w[mirror(3)])
    assert code.tolist() == pytest.approx([0.7 / math.sqrt(2 - 1)] * 3, abs=1e-6)


def on_a_line(xs: list[float]) -> torch.Tensor:
    """Critic outputs x·a + b with a, b orthonormal and centred in R^16: distances are |x − x'|
    and the Pearson η of two points is the cosine between (x, 1) and (x', 1), so
    MI = −½ log(1 − η²) = log(√((x² + 1)(x'² + 1)) / |x − x'|)."""
    unit = torch.tensor([1.0, -1.0]) / math.sqrt(2)
    a, b = torch.zeros(16), torch.zeros(16)
    a[:2], b[2:4] = unit, unit
    return torch.tensor(xs).unsqueeze(1) * a + b


def test_paper_margins_at_several_k_by_hand():
    """§3.3, c = 0.7, B = 64, m′ = 6. K by the AKNN rule (share > ½ + 0.7/√k):
    S0-S2 sit together and S5 next to S4 and S3, so their two nearest are strong: K = 2.
    S3 = 0: nearest W .1, S4 .2, W .3 .4 .5 .6: k = 2-5 mixed, 5 of 6 weak at k = 6: K = 6.
    S4 = −0.2: S3, W, W, S5, W, W, W, S0, S1, S2, W5: no k ≤ 11 reaches the share: K = 12."""
    xs, xw = [10.0, 10.5, 11.0, 0.0, -0.2, -0.75], [0.1, 0.3, 0.4, 0.5, 0.6, 30.0]
    k = [2, 2, 2, 6, 12, 2]
    c_s, c_w = on_a_line(xs), on_a_line(xw)
    labels = torch.cat([torch.ones(6), torch.zeros(6)])
    assert aknn_sizes(torch.cat([c_s, c_w]), labels, 0.7)[:6].tolist() == k
    expected = []
    for x, y, k_i in zip(xs, xw[::-1], k, strict=True):  # negative pair i: (S_i, W_{5−i})
        mi = math.log(math.sqrt((x * x + 1) * (y * y + 1)) / abs(x - y))
        expected.append(min(max(mi, 0.0), 2.5) + math.log(64 / 0.7) / (2 * k_i))
    # S0–W5: MI 2.71, clamped to 2.5; the others 0.22, 0.16, 0.99, 0.76, 0.39
    assert expected[0] == pytest.approx(2.5 + 1.1289, abs=1e-4)
    alpha = margins(c_s, c_w, batch_size=64, c=0.7, kind="paper")
    assert alpha.tolist() == pytest.approx(expected, abs=1e-4)
    code = margins(c_s, c_w, batch_size=64, c=0.7, kind="code") - mi_code(c_s, c_w.flip(0))
    assert code.tolist() == pytest.approx([0.7 / math.sqrt(k_i - 1) for k_i in k], abs=1e-6)


def test_the_margin_gradient_is_detached_or_carried_by_hand():
    """§3.3: p = ½(1, 0, −1), q = ½(1, 1, −2): η = √3/2, MI = log 2, and
    ∂MI/∂p = η/(1 − η²)·(q̃/(‖p̃‖‖q̃‖) − η p̃/‖p̃‖²) = (−1, 2, −1), ∂MI/∂q = (1, −1, 0).
    With one pair, λ = ρ = 0: L_c = max(0, α − ‖p − q‖²), active (α = 1.82 > 0.5); its gradient
    is 2(q − p) = (0, 1, −1) in p and 2(p − q) = (0, −1, 1) in q, plus the MI gradient when the
    margin is carried."""
    grads = {}
    for grad in ("detached", "carried"):
        p = torch.tensor([[0.5, 0.0, -0.5]], dtype=torch.float64, requires_grad=True)
        q = torch.tensor([[0.5, 0.5, -1.0]], dtype=torch.float64, requires_grad=True)
        alpha = margins(p, q, batch_size=64, c=0.7, kind="paper", grad=grad)
        assert alpha.item() == pytest.approx(math.log(2) + math.log(64 / 0.7) / 4, abs=1e-5)
        assert alpha.requires_grad == (grad == "carried")
        critic_loss(p, q, alpha, 0.0, 0.0)[0].backward()
        grads[grad] = (p.grad.tolist()[0], q.grad.tolist()[0])
    assert grads["detached"][0] == pytest.approx([0.0, 1.0, -1.0], abs=1e-5)
    assert grads["detached"][1] == pytest.approx([0.0, -1.0, 1.0], abs=1e-5)
    assert grads["carried"][0] == pytest.approx([-1.0, 3.0, -2.0], abs=1e-4)
    assert grads["carried"][1] == pytest.approx([1.0, -2.0, 1.0], abs=1e-4)


@pytest.mark.parametrize("kind", ["paper", "code"])
def test_a_carried_margin_has_a_finite_gradient_on_constant_rows(kind):
    p = torch.zeros(2, 16, requires_grad=True)
    q = torch.randn(2, 16, generator=torch.Generator().manual_seed(5)).requires_grad_()
    margins(p, q, batch_size=64, c=0.7, kind=kind, grad="carried").sum().backward()
    assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()


def test_code_mi_matches_a_two_dimensional_hand_value_and_stays_clamped():
    def g(t: float) -> float:
        return math.exp(-(t**2) / 0.4)

    p, q = [0.2, -0.1], [0.2, -0.3]
    hand = (
        sum(
            math.log(g(b - a) / (0.5 * g(b + 1) + 0.5 * g(b - 1)))
            for a, b in zip(p, q, strict=True)
        )
        / 2
    )
    assert 0 < hand < 2.5
    assert mi_code(torch.tensor([p]), torch.tensor([q])).item() == pytest.approx(hand, rel=1e-6)
    assert mi_code(torch.tensor([[-3.0, 3.0]]), torch.tensor([[3.0, -3.0]])).item() == 0.0
    wide = torch.randn(100, 16, generator=torch.Generator().manual_seed(2)) * 5
    mi = mi_code(wide, wide.flip(0))
    assert torch.isfinite(mi).all() and mi.min() >= 0 and mi.max() <= 2.5


# --- §9.6 critic loss, §3.5 adversarial loss -------------------------------------------------
def test_critic_loss_at_the_optimum_is_minus_rho_over_two():
    c_s = torch.ones(4, 16, dtype=torch.float64)  # coincident positives
    c_w = -torch.ones(4, 16, dtype=torch.float64)  # D = 64, beyond a margin of 3
    loss, omega = critic_loss(c_s, c_w, torch.full((4,), 3.0, dtype=torch.float64), 0.0, 1e-6)
    assert omega.item() == 0.0 and loss.item() == -1e-6 / 2


def test_critic_loss_without_rho_is_ep_plus_eq_plus_lambda_slack():
    g = torch.Generator().manual_seed(3)
    c_s, c_w = torch.randn(6, 16, generator=g), torch.randn(6, 16, generator=g)
    alpha = torch.full((6,), 100.0)
    loss, omega = critic_loss(c_s, c_w, alpha, 0.3, 0.0)
    d_pos = (c_s - c_s.flip(0)).pow(2).sum(1)
    d_neg = (alpha - (c_s - c_w.flip(0)).pow(2).sum(1)).clamp(min=0)
    assert d_neg.min() > 0  # every negative is inside its margin here
    assert omega.item() == pytest.approx((d_pos.pow(2).mean() / 2 + d_neg.pow(2).mean() / 2).item())
    expected = d_pos.mean() + d_neg.mean() + 0.3 * (1 - omega)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert d_pos.mean() >= 0 and d_neg.mean() >= 0


def test_one_critic_step_shrinks_positive_and_grows_negative_distances():
    torch.manual_seed(0)
    critic = torch.nn.Linear(8, 16)
    h_s, h_w = torch.randn(6, 8), torch.randn(6, 8)

    def distances() -> tuple[float, float]:
        c_s, c_w = critic(h_s), critic(h_w)
        pos = (c_s - c_s.flip(0)).pow(2).sum(1).mean()
        return pos.item(), (c_s - c_w.flip(0)).pow(2).sum(1).mean().item()

    pos0, neg0 = distances()
    # margins just above the negative distances: all active, Ω small enough for ρ not to matter
    loss, _ = critic_loss(critic(h_s), critic(h_w), torch.full((6,), 2 * neg0), 0.0, 1e-6)
    loss.backward()
    torch.optim.SGD(critic.parameters(), lr=1e-5).step()
    pos1, neg1 = distances()
    assert pos1 < pos0 and neg1 > neg0


def test_adversarial_loss_is_minus_a_tenth_of_the_mean_critic_output():
    c_w = torch.tensor([[1.0, 3.0], [2.0, 2.0]])
    assert adversarial_loss(c_w, 0.1).item() == pytest.approx(-0.2)
    assert adversarial_loss(-c_w, 0.1).item() == pytest.approx(0.2)


def test_lambda_moves_with_the_sign_of_one_minus_omega():
    method = make(caf_rho=0.1)
    x, y = batch()
    logs = method.training_step(x, y, 0)
    assert logs["lambda"] == pytest.approx(0.1 * (1 - logs["omega"]), rel=1e-5)
    assert math.copysign(1, logs["lambda"]) == math.copysign(1, 1 - logs["omega"])


# --- §2 architecture and §9.10 counts -------------------------------------------------------
def test_cpu_regressor_and_critic_sizes():
    method = make()
    assert isinstance(method.core, VAModel)
    assert sum(p.numel() for p in method.core.head.parameters()) == 33_370
    assert sum(p.numel() for p in method.critic.parameters()) == 35_440
    assert method.core.head.latent == 8 and method.core.config["latent"] == 8


def test_faithful_alexnet_counts():
    method = make(backbone="alexnet")
    inference = sum(p.numel() for p in method.core.parameters())
    training = inference + sum(p.numel() for p in method.critic.parameters())
    assert (inference, training) == (3_060_122, 3_652_618)
    assert sum(p.numel() for p in method.critic.parameters()) == 592_496


@pytest.mark.parametrize("features", [512, 1000, 9216])
def test_critic_output_shape(features):
    critic = Critic(features)
    assert critic(torch.randn(5, features)).shape == (5, 16)
    assert [m.out_features for m in critic.net if isinstance(m, torch.nn.Linear)] == [64, 32, 16]


def test_flags_and_their_validation():
    paper = make()
    assert (paper.grouping, paper.margin, paper.margin_grad) == ("otsu", "paper", "detached")
    code = make(caf_authors_code=True, caf_grouping="otsu_global", caf_margin_grad="detached")
    assert (code.grouping, code.margin, code.margin_grad) == ("code", "code", "carried")
    assert [o.defaults["betas"] for o in make().optimizers.values()] == [(0.5, 0.9)] * 3
    with pytest.raises(ValueError, match="caf_grouping"):
        make(caf_grouping="median")
    with pytest.raises(ValueError, match="caf_margin"):
        make(caf_margin="triplet")
    with pytest.raises(ValueError, match="caf_margin_grad"):
        make(caf_margin_grad="half")
    with pytest.raises(ValueError, match="f_r is fixed"):
        make(head="alexnet_fc")


def test_the_authors_code_switch_changes_grouping_margin_and_its_gradient(monkeypatch):
    """``caf_authors_code``: the code's threshold splits the batch and step B's margin is the
    code's form with its MI gradient carried; by default Otsu, the paper's form, detached."""
    x, y = batch()
    y = y / y.norm(dim=1, keepdim=True) * torch.linspace(0.1, 0.95, 16).unsqueeze(1)  # spread r
    seen = []

    def record(c_s, c_w, alpha, lam, rho):
        seen.append((c_s.detach(), c_w.detach(), alpha))
        return critic_loss(c_s, c_w, alpha, lam, rho)

    monkeypatch.setattr(caf, "critic_loss", record)
    splits = {}
    for flags, grouping, kind, carried in (
        ({"caf_authors_code": True}, "code", "code", True),
        ({}, "otsu", "paper", False),
    ):
        method = make(**flags)
        strong, weak = method.split(y)
        expected = balance(*group(y, grouping))
        assert torch.equal(strong, expected[0]) and torch.equal(weak, expected[1])
        splits[grouping] = strong.tolist()
        method.training_step(x, y, 0)
        c_s, c_w, alpha = seen.pop()
        torch.testing.assert_close(alpha.detach(), margins(c_s, c_w, len(x), 0.7, kind))
        assert alpha.requires_grad == carried
    assert splits["code"] != splits["otsu"]


# --- §9.7 step isolation, gradients, §9.8 reuse ---------------------------------------------
def watch_steps(method: CAF, monkeypatch, before=None) -> list[tuple[str, dict]]:
    """Record (optimizer, snapshot after its step) for every step; ``before(name)`` runs first."""
    calls: list[tuple[str, dict]] = []

    def snapshot() -> dict:
        return {
            "trunk": params(method.core.trunk),
            "head": params(method.core.head),
            "critic": params(method.critic),
            "lam": method.critic.lam.item(),
        }

    for name, optimizer in method.optimizers.items():

        def step(*args, _name=name, _real=optimizer.step, **kwargs):
            if before is not None:
                before(_name)
            out = _real(*args, **kwargs)
            calls.append((_name, snapshot()))
            return out

        monkeypatch.setattr(optimizer, "step", step)
    calls.append(("start", snapshot()))
    return calls


def test_each_step_moves_only_its_own_modules(monkeypatch):
    method = make()
    x, y = batch()
    calls = watch_steps(method, monkeypatch)
    method.training_step(x, y, 0)
    assert [c[0] for c in calls] == ["start", "trunk", "head", "critic", "trunk"]
    snaps = [c[1] for c in calls]
    moved = [
        {k for k in ("trunk", "head", "critic") if not same(a[k], b[k])}
        for a, b in zip(snaps, snaps[1:], strict=False)
    ]
    assert moved == [{"trunk"}, {"head"}, {"critic"}, {"trunk"}]  # A: f_e, f_r; B: f_c; C: f_e
    assert snaps[3]["lam"] == 0.0 and method.critic.lam.item() != 0.0  # λ updated after B
    assert all(p.requires_grad for p in method.critic.parameters())


def test_encoder_gets_the_adversarial_gradient_and_the_critic_none_of_the_encoders(monkeypatch):
    method = make()
    method.critic.eval()  # no critic dropout, so the expected gradient is exact
    x, y = batch()
    strong, weak = method.split(y)
    grads: dict[str, dict[str, list]] = {}

    def grab(module: torch.nn.Module) -> list:
        return [None if p.grad is None else p.grad.clone() for p in module.parameters()]

    def before(name: str) -> None:
        key = name if name not in grads else "adversarial"
        grads[key] = {"trunk": grab(method.core.trunk), "critic": grab(method.critic)}
        if key == "adversarial":
            grads[key]["frozen"] = [not p.requires_grad for p in method.critic.parameters()]
            trunk, critic = copy.deepcopy(method.core.trunk), copy.deepcopy(method.critic)
            loss = -0.1 * critic(trunk(x[weak])).mean()
            grads[key]["expected"] = torch.autograd.grad(loss, list(trunk.parameters()))

    watch_steps(method, monkeypatch, before)
    method.training_step(x, y, 0)
    a, b, c = grads["trunk"], grads["critic"], grads["adversarial"]
    assert all(g is None for g in a["critic"])  # step A touches no critic gradient
    assert all(g is not None for g in b["critic"])
    assert same(b["trunk"], a["trunk"])  # L_c sent nothing into f_e
    assert all(c["frozen"])
    assert same(c["critic"], b["critic"])  # L_adv sent nothing into f_c
    for got, want in zip(c["trunk"], c["expected"], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert all(g.abs().sum() > 0 for g in c["trunk"])


def test_adversarial_step_reuses_h_w_exactly(monkeypatch):
    method = make()
    method.critic.eval()
    x, y = batch()
    _, weak = method.split(y)
    seen = []
    real = caf.adversarial_loss

    def check(c_weak: torch.Tensor, weight: float) -> torch.Tensor:
        with torch.no_grad():
            fresh = method.critic(method.core.trunk(x[weak]))  # f_e is unchanged since step 4
        torch.testing.assert_close(c_weak, fresh, rtol=0, atol=1e-6)
        loss = real(c_weak, weight)
        seen.append((loss.item(), (-weight * fresh.mean()).item()))
        return loss

    monkeypatch.setattr(caf, "adversarial_loss", check)
    logs = method.training_step(x, y, 0)
    assert len(seen) == 1 and seen[0][0] == pytest.approx(seen[0][1], abs=1e-6)
    assert logs["adv_loss"] == seen[0][0]


def test_small_cnn_features_are_per_sample():
    method = make()
    x, _ = batch()
    idx = torch.tensor([5, 0, 11, 3])
    with torch.no_grad():
        torch.testing.assert_close(method.core.trunk(x)[idx], method.core.trunk(x[idx]))


# --- §9.9 reduction, §9.11 stability, training ----------------------------------------------
def test_without_steps_b_and_c_caf_is_the_baseline_with_caf_head(monkeypatch):
    cfg = {**defaults(), "betas": [0.5, 0.9]}
    method = make()
    empty = torch.zeros(0, dtype=torch.long)
    monkeypatch.setattr(method, "split", lambda targets: (empty, empty))
    base = Baseline({**cfg, "method": "baseline"})
    base.model.head = copy.deepcopy(method.core.head)
    base.model.load_state_dict(method.core.state_dict())
    base.build_optimizers()
    x, y = batch()
    losses = []
    for m in (method, base):
        torch.manual_seed(7)  # same dropout masks
        losses.append([m.training_step(x, y, i)["loss"] for i in range(3)])
    assert losses[0] == losses[1]
    for a, b in zip(
        method.core.state_dict().values(), base.core.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


def test_two_steps_lower_the_supervised_loss_on_a_tiny_batch():
    method = make(dropout=0.0)
    x, y = batch(n=16)
    logs = [method.training_step(x, y, i) for i in range(2)]
    with torch.no_grad():
        after = caf.sup_loss(method.core(x)[0], y).item()
    assert "adv_loss" in logs[0] and after < logs[0]["sup_loss"]


@pytest.mark.slow
@pytest.mark.parametrize(("flags", "iterations"), [({}, 50), ({"caf_authors_code": True}, 15)])
def test_fifty_iterations_stay_finite(flags, iterations):
    method = make(**flags)
    g = torch.Generator().manual_seed(4)
    played = 0
    for i in range(iterations):
        x = torch.randn(32, 3, 16, 16, generator=g)
        y = torch.rand(32, 2, generator=g) * 2 - 1
        logs = method.training_step(x, y, i)
        assert all(math.isfinite(v) for v in logs.values()), logs
        played += "adv_loss" in logs
    assert math.isfinite(method.critic.lam.item()) and played > 0.8 * iterations


def test_trained_core_predicts_without_the_critic():
    method = make()
    x, y = batch()
    method.training_step(x, y, 0)
    core = method.core
    assert not any(k.startswith("critic") for k in core.state_dict())
    core.eval()  # no dropout: inference is deterministic
    expected = method.predict(x)
    del method  # nothing but trunk + f_r is left
    with torch.no_grad():
        pred, z = core(x)
    assert pred.shape == (16, 2) and z.shape == (16, 8) and torch.isfinite(pred).all()
    torch.testing.assert_close(pred, expected)


@pytest.fixture(scope="module")
def tiny_data(tiny_synth, tmp_path_factory):
    from ferlib.data import cache_images, load_dataset

    data = load_dataset("synthetic", tiny_synth)
    return cache_images(data, 64, cache_dir=tmp_path_factory.mktemp("cache"))


def test_otsu_global_threshold_comes_from_the_training_split(tiny_data):
    method = make(caf_grouping="otsu_global")
    train = tiny_data.subset("train")
    method.prepare(train)
    va = torch.tensor(train.frame[["valence", "arousal"]].to_numpy())
    dv, da = otsu_threshold(va[:, 0].abs()), otsu_threshold(va[:, 1].abs())
    assert method.delta_r == pytest.approx(math.hypot(dv, da))
    strong, weak = method.split(va[:16])
    assert len(strong) == len(weak)


def test_train_end_to_end_with_the_trainer(tiny_data, tiny_synth, tmp_path, monkeypatch):
    from ferlib.training.trainer import train

    monkeypatch.setitem(ferlib.methods.METHODS, "caf", CAF)
    config = {
        **defaults(),
        "method": "caf",
        "data_dir": str(tiny_synth),
        "epochs": 2,
        "batch_size": 8,
        "eval_batch_size": 16,
        "milestones": [4],
    }
    result = train(config, tmp_path, data=tiny_data, progress=False)
    assert len(result.history) == 2 and result.history[-1]["iteration"] == 6
    assert math.isfinite(result.metrics["ccc_v"]) and math.isfinite(
        result.history[-1]["train_loss"]
    )
    assert isinstance(result.model, VAModel) and result.model.head.latent == 8
    last = ckpt.load(tmp_path / ckpt.LAST)
    assert set(last["modules"]) == {"model", "critic"} and set(last["optimizers"]) == {
        "trunk",
        "head",
        "critic",
    }
    critic_state = last["modules"]["critic"]
    assert 0 <= critic_state["skipped"].item() < 6  # the per-run counter is checkpointed
    assert critic_state["lam"].item() != 0.0  # the game was played at least once
    best = ckpt.load(tmp_path / ckpt.BEST)
    assert not any(k.startswith("critic") for k in best["modules"]["model"])


def _ddp_worker(rank: int, world: int, init: str, out: str) -> None:
    """Four CAF iterations on rank-specific data; rank 1 gets one degenerate batch."""
    import torch.distributed as dist

    from ferlib.distributed import weight_digest

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    method = make()
    method.wrap_ddp(None)
    method.build_optimizers()
    g = torch.Generator().manual_seed(100 + rank)
    for i in range(4):
        x, y = torch.randn(16, 3, 32, 32, generator=g), torch.rand(16, 2, generator=g) * 2 - 1
        logs = method.training_step(x, y if i != 2 or rank == 0 else torch.full((16, 2), 0.7), i)
    digests = (
        f"{weight_digest(method.core)} {weight_digest(method.critic)} {logs['skipped_batches']}"
    )
    (Path(out) / f"rank{rank}").write_text(digests)
    dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_ranks_stay_identical_through_the_sub_batch_steps(tmp_path):
    """Steps B and C run outside DDP: their gradients, λ and skip decisions must still agree."""
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2)
    rank0, rank1 = ((tmp_path / f"rank{r}").read_text() for r in (0, 1))
    assert rank0 == rank1 and rank0.endswith(" 1.0")  # one batch skipped on both ranks
