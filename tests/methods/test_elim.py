"""ELIM: the OT pieces, one training step, and training through the shared trainer.

Spec: docs/methods/elim.md (§ numbers below refer to it; §9 lists what these tests check).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

import ferlib.methods
from ferlib.data import cache_images, load_dataset
from ferlib.methods.baseline import Baseline
from ferlib.methods.elim import (
    ELIM,
    cosine_cost,
    elim_model,
    identity_shift,
    normalise_rows,
    ot_marginals,
    sinkhorn_code,
    sinkhorn_plan,
    warmup_weight,
)
from ferlib.params import defaults
from ferlib.training import checkpoint as ckpt


def make_config(**overrides):
    return {
        **defaults(),
        "method": "elim",
        "batch_size": 8,
        "elim_p": 2,
        "milestones": [],
        **overrides,
    }


def latents(n: int, d: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def separated(n: int = 6) -> torch.Tensor:
    """Non-negative, nearly orthogonal rows: each matches only itself."""
    return torch.eye(n, dtype=torch.float64) * 3 + 0.1 * latents(n, n, seed=1)


# --- §9.4–9.9: cost, marginals, Sinkhorn, shift, normalisation, warm-up ----------------------
def test_cost_is_n_by_m_in_unit_range_scale_invariant_and_zero_on_itself():
    zr, zk = latents(5), latents(3, seed=1)
    cost = cosine_cost(zr, zk)
    assert cost.shape == (5, 3) and cost.min() >= 0 and cost.max() <= 1
    assert torch.allclose(cosine_cost(zr * 7.0, zk * 0.01), cost)
    assert cosine_cost(zr, zr).diagonal().abs().max() < 1e-12


@pytest.mark.parametrize(("mode", "scale"), [("balanced", (1, 1)), ("code", (2, 3))])
def test_marginals_by_hand(mode, scale):
    """§4.2 on a hand-worked pair: reference rows (2, 0), (0, 2), mean (1, 1); target rows (1, 0),
    (3, 0), (0, 1), mean (4/3, 1/3). a_i = ⟨z_iʳ, z̄ᵏ⟩ = 8/3, 2/3 -> (0.8, 0.2); b_j = ⟨z_jᵏ, z̄ʳ⟩
    = 1, 3, 1 -> (0.2, 0.6, 0.2); ``code`` scales them to sums n = 2 and m = 3. Swapping the two
    group means would give a = (0.5, 0.5)."""
    zr = torch.tensor([[2.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    zk = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    a, b = ot_marginals(zr, zk, mode)
    n, m = scale
    hand_a = torch.tensor([0.8, 0.2], dtype=torch.float64)
    hand_b = torch.tensor([0.2, 0.6, 0.2], dtype=torch.float64)
    torch.testing.assert_close(a, n * hand_a, rtol=0, atol=1e-8)
    torch.testing.assert_close(b, m * hand_b, rtol=0, atol=1e-8)


def test_marginals_clamp_negative_relevance_to_epsilon_and_zero_latents_to_uniform():
    """A negative ⟨z_iʳ, z̄ᵏ⟩ carries only ε: reference (−1, 0), (2, 1) against target (1, 0),
    (0, 2) (means (0.5, 1) and (0.5, 0.5)) give a ∝ (1e-8, 2 + 1e-8) and b ∝ (0.5, 1), i.e.
    (1/3, 2/3); swapped means would give b = (0.2, 0.8)."""
    zr = torch.tensor([[-1.0, 0.0], [2.0, 1.0]], dtype=torch.float64)
    zk = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    a, b = ot_marginals(zr, zk)
    total = 2 + 2e-8
    torch.testing.assert_close(a, torch.tensor([1e-8, 2 + 1e-8], dtype=a.dtype) / total)
    torch.testing.assert_close(b, torch.tensor([1 / 3, 2 / 3], dtype=b.dtype), rtol=0, atol=1e-8)
    for mode, sums in (("balanced", (1, 1)), ("code", (5, 3))):
        a0, b0 = ot_marginals(torch.zeros(5, 4), torch.zeros(3, 4), mode)
        assert torch.allclose(a0, torch.full((5,), sums[0] / 5))
        assert torch.allclose(b0, torch.full((3,), sums[1] / 3))


@pytest.mark.parametrize("m", [6, 4])
def test_sinkhorn_plan_matches_balanced_marginals(m):
    zr, zk = latents(6), latents(m, seed=2)
    a, b = ot_marginals(zr, zk)
    plan = sinkhorn_plan(a, b, cosine_cost(zr, zk), reg=0.2, iters=200)
    assert plan.shape == (6, m) and (plan >= 0).all()
    assert torch.allclose(plan.sum(1), a, atol=1e-4) and torch.allclose(plan.sum(0), b, atol=1e-4)


def test_plan_recovers_a_permutation_and_the_shift_vanishes_as_reg_falls():
    zr = separated()
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    zk = zr[perm]  # target j is reference perm[j]
    a, b = ot_marginals(zr, zk)
    plan = sinkhorn_plan(a, b, cosine_cost(zr, zk), reg=0.2, iters=200)
    assert torch.equal(plan.argmax(0), perm)
    means = [identity_shift(zr, zk, reg=r).mean().item() for r in (1.0, 0.2, 0.05, 0.01)]
    assert means == sorted(means, reverse=True) and means[-1] < 1e-3


def test_very_large_reg_gives_the_independent_plan():
    zr, zk = latents(5), latents(4, seed=3)
    a, b = ot_marginals(zr, zk)
    plan = sinkhorn_plan(a, b, cosine_cost(zr, zk), reg=1e4, iters=200)
    assert torch.allclose(plan, torch.outer(a, b), atol=1e-6)


def authors_loop(a: list, b: list, cost: list, lam: float, iters: int, eps: float) -> list:
    """ELIM_FER's ``Sinkhorn_Knopp`` loop written out in plain Python: u = 1/n, then ``iters``
    rounds of u = 1 / (K̃ (c / (Kᵀu + ε)) + ε) with K̃ = diag(1/(r + ε)) K, then v once more."""
    n, m = len(a), len(b)
    k = [[math.exp(-lam * cost[i][j]) for j in range(m)] for i in range(n)]

    def columns(u):  # c / (Kᵀu + ε)
        return [b[j] / (sum(k[i][j] * u[i] for i in range(n)) + eps) for j in range(m)]

    u = [1 / n] * n
    for _ in range(iters):
        v = columns(u)
        u = [1 / (sum(k[i][j] * v[j] for j in range(m)) / (a[i] + eps) + eps) for i in range(n)]
    v = columns(u)
    return [[u[i] * k[i][j] * v[j] for j in range(m)] for i in range(n)]


def test_the_authors_loop_matches_their_code_on_unequal_groups():
    """§9.6: 12 reference against 5 target samples, the code's marginals and 5 rounds."""
    zr, zk = latents(12, seed=6), latents(5, seed=7)
    cost = cosine_cost(zr, zk)
    a, b = ot_marginals(zr, zk, "code")
    plan = sinkhorn_code(a, b, cost, reg=0.2, iters=5)
    expected = authors_loop(a.tolist(), b.tolist(), cost.tolist(), lam=5.0, iters=5, eps=1e-6)
    torch.testing.assert_close(plan, torch.tensor(expected, dtype=plan.dtype), rtol=1e-12, atol=0)
    # the loop ends on a column update: columns carry b (to ε), rows do not carry a
    torch.testing.assert_close(plan.sum(0), b, rtol=1e-6, atol=0)
    assert (plan.sum(1) - a).abs().max() > 0.1
    # POT ends on a row update: rows carry a, so its plan holds n = 12 units, not m = 5
    pot = sinkhorn_plan(a, b, cost, reg=0.2, iters=5)
    torch.testing.assert_close(pot.sum(1), a, rtol=1e-12, atol=0)
    assert pot.sum().item() / plan.sum().item() == pytest.approx(12 / 5, rel=1e-6)
    # and the code's shift (κ = 1) is 2.4× the authors' one, sample by sample
    pot_shift = identity_shift(zr, zk, iters=5, marginals="code")
    code_shift = identity_shift(zr, zk, iters=5, marginals="code", sinkhorn="code")
    torch.testing.assert_close(code_shift, (plan * cost).sum(0))
    ratio = pot_shift / code_shift
    torch.testing.assert_close(ratio, torch.full_like(ratio, 2.4), rtol=1e-3, atol=0)


def test_under_a_constant_cost_each_loop_gives_its_hand_value():
    """K is constant, so both plans are a·bᵀ up to scale: POT's rows sum to a (plan a·bᵀ/m),
    the authors' columns to b (plan a·bᵀ/n); with M ≡ 0.3 the shifts are 0.3·b·n/m and 0.3·b."""
    g = torch.Generator().manual_seed(8)
    a, b = torch.rand(12, generator=g, dtype=torch.float64), torch.rand(5, generator=g).double()
    a, b = 12 * a / a.sum(), 5 * b / b.sum()  # the code's masses
    cost = torch.full((12, 5), 0.3, dtype=torch.float64)
    code = sinkhorn_code(a, b, cost, reg=0.2, iters=5, eps=0.0)  # exact without the code's ε
    pot = sinkhorn_plan(a, b, cost, reg=0.2, iters=5)
    torch.testing.assert_close(code, torch.outer(a, b) / 12, rtol=1e-12, atol=0)
    torch.testing.assert_close(pot, torch.outer(a, b) / 5, rtol=1e-12, atol=0)
    torch.testing.assert_close((code * cost).sum(0), 0.3 * b, rtol=1e-12, atol=0)
    torch.testing.assert_close((pot * cost).sum(0), 0.3 * b * 12 / 5, rtol=1e-12, atol=0)


def test_with_balanced_marginals_the_two_loops_agree_once_converged():
    zr, zk = latents(7, seed=9), latents(4, seed=10)
    a, b = ot_marginals(zr, zk)
    cost = cosine_cost(zr, zk)
    code = sinkhorn_code(a, b, cost, reg=0.2, iters=200, eps=0.0)
    pot = sinkhorn_plan(a, b, cost, reg=0.2, iters=200)
    torch.testing.assert_close(code, pot, atol=1e-7, rtol=0)


def test_shift_shape_sign_detachment_and_modes():
    zr, zk = latents(6).requires_grad_(), latents(6, seed=4).requires_grad_()
    shift = identity_shift(zr, zk)
    assert shift.shape == (6,) and (shift >= 0).all() and not shift.requires_grad
    code = identity_shift(zr, zk, marginals="code")
    assert torch.allclose(code, shift, atol=1e-8, rtol=0)  # n = m: κ cancels the mass
    uneven = identity_shift(zr[:4], zk, marginals="code")
    assert uneven.shape == (6,) and torch.isfinite(uneven).all()
    first = identity_shift(zr, zk, shift_mode="first_sample")
    assert torch.equal(first, shift[:1].expand(6))
    assert torch.equal(identity_shift(zr, zk, shift_mode="none"), torch.zeros(6, dtype=zk.dtype))


def test_shift_is_zero_when_both_identities_have_the_same_latents():
    same = latents(1).expand(5, -1)
    assert identity_shift(same, same * 2).abs().max() < 1e-12


def test_normalisation_gives_unit_rms_and_its_gradient_reaches_z_only():
    z = latents(4, seed=5).float().requires_grad_()
    shift = torch.rand(4, requires_grad=True)
    out = normalise_rows(z, shift)
    assert torch.allclose(out.pow(2).mean(1).sqrt(), torch.ones(4), atol=1e-4)
    rms = z.detach().pow(2).mean(1, keepdim=True).sqrt()
    assert torch.allclose(normalise_rows(z, torch.zeros(4)), z / rms, atol=1e-5)
    out.sum().backward()
    assert z.grad is not None and shift.grad is None


def test_warmup_weight():
    w1, w2 = 5, 50
    assert warmup_weight(w1 - 1, w1, w2) == 0.0
    assert warmup_weight(w1, w1, w2) == w1 / w2  # the jump
    assert warmup_weight((w1 + w2) // 2, w1, w2) == ((w1 + w2) // 2) / w2
    assert warmup_weight(w2, w1, w2) == 1.0


# --- the method ------------------------------------------------------------------------------
def batch(n: int = 8, size: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.rand(n, 2, generator=g) * 2 - 1


def method_with(identities: list[int], **overrides) -> ELIM:
    method = ELIM(make_config(**overrides))
    method.identities = torch.tensor(identities)
    method.build_optimizers()
    return method


def test_groups_and_draw_follow_the_batch():
    method = method_with([0] * 4 + [1] * 4 + [2] * 2 + [3, 4], elim_ids_per_step=5)
    index = torch.arange(12).flip(0)
    groups = method.groups(index)
    assert [sorted(index[g].tolist()) for g in groups] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    drawn = method.draw(len(groups))
    assert len(drawn) == 3 == len(set(drawn))  # G = min(5, 3); reference first, then targets
    method.config["elim_ids_per_step"] = 2
    assert len(method.draw(len(groups))) == 2


def count_trunk_passes(method: ELIM) -> list[int]:
    calls = [0]
    method.core.trunk.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_one_identity_batch_skips_step_b_and_two_identities_run_it():
    x, y = batch()
    for identities, passes in (([0] * 8, 1), ([0] * 4 + [1] * 4, 2)):
        method = method_with(identities, elim_warmup_start=0, elim_warmup_end=1)
        calls = count_trunk_passes(method)
        logs = method.training_step(x, y, 3, torch.arange(8))
        assert calls[0] == passes and ("elim" in logs) == (passes == 2)


def test_with_one_identity_elim_is_the_baseline():
    """Same model, same start, same dropout draws: one identity per batch leaves only L_sup."""
    x, y = batch()
    overrides = {"elim_head_lr_scale": 1.0, "elim_warmup_start": 0, "elim_warmup_end": 1}
    elim = ELIM(make_config(**overrides))
    baseline = Baseline(make_config(**overrides))
    baseline.model = elim_model(baseline.model, 0.5)
    baseline.model.load_state_dict(elim.model.state_dict())
    elim.identities = torch.zeros(8, dtype=torch.long)
    runs = []
    for method in (baseline, elim):
        torch.manual_seed(0)
        method.build_optimizers()
        losses = [method.training_step(x, y, i, torch.arange(8))["loss"] for i in range(3)]
        runs.append((losses, method.core.state_dict()))
    assert runs[0][0] == runs[1][0]
    for key, value in runs[0][1].items():
        assert torch.equal(value, runs[1][1][key]), key


def test_spec_heads_with_batchnorm_and_their_sizes():
    """§2: latent head ends in BatchNorm → ReLU (z ≥ 0); f_θ = d → 20d → BN → ReLU → 2."""
    method = ELIM(make_config())
    head = method.core.head
    assert isinstance(head.body[-2], torch.nn.BatchNorm1d) and head.latent == 64
    assert [type(m).__name__ for m in head.out] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert sum(p.numel() for p in head.body.parameters()) == 74_048
    assert sum(p.numel() for p in head.out.parameters()) == 88_322
    method.core.eval()
    pred, z = method.core(torch.rand(4, 3, 64, 64))
    assert pred.shape == (4, 2) and z.shape == (4, 64) and (z >= 0).all()


def test_zero_elim_weight_skips_step_b():
    x, y = batch()
    method = method_with([0] * 4 + [1] * 4, elim_weight=0.0, elim_warmup_start=0)
    calls = count_trunk_passes(method)
    logs = method.training_step(x, y, 60, torch.arange(8))
    assert calls[0] == 1 and "elim" not in logs


def test_twenty_steps_move_every_module_and_clip_the_trunk():
    """§9.11 smoke test on synthetic identities: finite losses; trunk, latent head, f_θ move."""
    torch.manual_seed(0)
    x, y = batch(16)
    method = method_with([0, 1, 2, 3] * 4, elim_p=4, elim_warmup_start=0, elim_warmup_end=4)
    groups = method.param_groups()
    before = {k: [p.detach().clone() for p in v] for k, v in groups.items()}
    logs = [method.training_step(x, y, i, torch.arange(16)) for i in range(20)]
    assert all(math.isfinite(v) for row in logs for v in row.values())
    assert sum("elim" in row for row in logs) == 19  # w(0) = 0
    for name, params in groups.items():
        assert any(not torch.equal(p, b) for p, b in zip(params, before[name], strict=True)), name
    trunk_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in groups["trunk"]]))
    assert trunk_norm <= 1.0 + 1e-5  # the last step was step B: clipped at 1.0
    assert method.optimizers["head"].param_groups[0]["lr"] == pytest.approx(0.2e-3)


def test_a_tiny_batch_is_overfitted():
    torch.manual_seed(0)
    x, y = batch(16, seed=1)
    method = method_with(
        [0, 1, 2, 3] * 4, elim_p=4, dropout=0.0, elim_warmup_start=0, elim_warmup_end=1
    )
    for step in range(300):
        method.training_step(x, y, step, torch.arange(16))
        with torch.no_grad():
            mse = torch.mean((method.core(x)[0] - y) ** 2).item()
        if mse < 0.01:
            break
    assert mse < 0.01, f"MSE {mse:.4f} after 300 steps"


def test_setup_errors_are_clear():
    frame = pd.DataFrame({"identity": [None] * 4})
    data = type("Data", (), {"frame": frame})()
    for sampler in ("pk", "random"):
        method = ELIM(make_config(elim_sampler=sampler))
        with pytest.raises(ValueError, match="ELIM needs identity labels"):
            method.prepare(data)
    with pytest.raises(ValueError, match="P >= 2 identities and K >= 2"):
        ELIM(make_config(batch_size=9, elim_p=2)).pk()
    with pytest.raises(ValueError, match="elim_marginals"):
        ELIM(make_config(elim_marginals="uniform"))
    with pytest.raises(ValueError, match="index"):
        method_with([0] * 8, elim_warmup_start=0).training_step(*batch(), 1)


def test_authors_code_switches_every_flag():
    method = ELIM(make_config(elim_authors_code=True, elim_shift_mode="none"))
    assert [method.option(k) for k in ("elim_sampler", "elim_marginals")] == ["random", "code"]
    assert method.option("elim_sinkhorn") == "code" and method.option("elim_sinkhorn_iters") == 5
    assert method.option("elim_shift_mode") == "first_sample"
    assert ELIM(make_config()).option("elim_shift_mode") == "per_sample"
    assert method.option("elim_bn_stats") == "all"
    assert ELIM(make_config(elim_bn_stats="raw")).option("elim_bn_stats") == "raw"
    assert method.option("elim_step_b_forward") == "code"
    assert ELIM(make_config()).option("elim_step_b_forward") == "model"


def f_theta_norm(method: ELIM) -> torch.nn.BatchNorm1d:
    return next(m for m in method.core.head.out.modules() if isinstance(m, torch.nn.BatchNorm1d))


@pytest.mark.parametrize("mode", ["all", "raw"])
def test_bn_stats_raw_keeps_step_b_out_of_f_theta_s_running_statistics(mode):
    """D9: with ``raw`` step B's per-group passes leave f_θ's running statistics where step A and
    step B's raw pass put them; with ``all`` (the code) they move them. The losses are the same."""
    x, y = batch()
    results = {}
    for bn_stats in ("all", "raw"):
        torch.manual_seed(0)
        method = method_with(
            [0] * 4 + [1] * 4, elim_warmup_start=0, elim_warmup_end=1, elim_bn_stats=bn_stats
        )
        norm = f_theta_norm(method)
        seen = []
        norm.register_forward_hook(
            lambda m, inp, out, seen=seen: seen.append(m.running_mean.clone())
        )
        torch.manual_seed(1)
        logs = method.training_step(x, y, 3, torch.arange(8))
        results[bn_stats] = (logs, seen, norm.running_mean.clone(), int(norm.num_batches_tracked))
    logs, seen, final, tracked = results[mode]
    # passes: step A (raw), step B's raw forward, then the reference and one target group
    assert len(seen) == 4
    if mode == "raw":
        assert torch.equal(final, seen[1])  # the group passes changed nothing
        assert tracked == 2
    else:
        assert not torch.allclose(final, seen[1]) and tracked == 4
    assert logs["elim"] == pytest.approx(results["all"][0]["elim"], rel=1e-6)
    assert logs["loss"] == pytest.approx(results["all"][0]["loss"], rel=1e-6)


def train_steps(steps: int = 6, ddp: bool = False, **overrides) -> ELIM:
    """``steps`` ELIM iterations (step B from iteration 1) on one fixed batch, seeds fixed;
    ``ddp`` wraps the model first (a process group must exist)."""
    x, y = batch(16)
    torch.manual_seed(0)
    method = method_with(
        [0, 1, 2, 3] * 4, elim_p=4, elim_warmup_start=1, elim_warmup_end=2, **overrides
    )
    if ddp:
        method.wrap_ddp(None)
    torch.manual_seed(1)
    for i in range(steps):
        method.training_step(x, y, i, torch.arange(16))
    return method


def differing_state(a: ELIM, b: ELIM) -> tuple[list[str], list[str]]:
    """(parameters, buffers) of the two models that are not bit-identical."""
    sa, sb = a.core.state_dict(), b.core.state_dict()
    names = {n for n, _ in a.core.named_parameters()}
    diff = sorted(k for k in sa if not torch.equal(sa[k], sb[k]))
    return [k for k in diff if k in names], [k for k in diff if k not in names]


F_THETA_STATS = [f"head.out.1.{k}" for k in ("num_batches_tracked", "running_mean", "running_var")]


@pytest.mark.parametrize(
    "switch", [{"elim_bn_stats": "raw"}, {"elim_step_b_forward": "code"}], ids=lambda d: str(d)
)
def test_bn_stats_and_step_b_forward_change_no_weight_only_f_theta_s_statistics(switch):
    """D9, D10: training mode normalises with batch statistics and f_θ's output in step B's batch
    pass is unused, so after several steps every weight (and the latent head's statistics) is
    bit-identical to the default run's; only f_θ's running statistics differ."""
    default, switched = train_steps(), train_steps(**switch)
    params, buffers = differing_state(default, switched)
    assert params == [] and buffers == F_THETA_STATS


def test_step_b_forward_code_runs_f_theta_on_the_groups_only():
    """D10: ``"code"`` computes step B's latents with trunk + latent head (the authors'
    ``regressor(encoder(x))``): f_θ runs in step A and on the reference and target groups, not
    on the whole batch; the trunk still runs twice. ``"model"`` adds the whole-batch f_θ pass."""
    x, y = batch()
    for forward, f_theta_passes in (("model", 4), ("code", 3)):
        method = method_with(
            [0] * 4 + [1] * 4, elim_warmup_start=0, elim_warmup_end=1, elim_step_b_forward=forward
        )
        trunk = count_trunk_passes(method)
        seen = []
        f_theta_norm(method).register_forward_hook(lambda *_, seen=seen: seen.append(1))
        method.training_step(x, y, 3, torch.arange(8))
        assert (trunk[0], len(seen)) == (2, f_theta_passes), forward
        assert int(f_theta_norm(method).num_batches_tracked) == f_theta_passes


def test_step_b_forward_code_trains_the_same_under_ddp(tmp_path):
    """One-process gloo group: step B outside the DDP wrapper (gradients averaged by hand)
    trains exactly like the unwrapped model."""
    import torch.distributed as dist

    plain = train_steps(3, elim_step_b_forward="code")
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1
    )
    try:
        wrapped = train_steps(3, ddp=True, elim_step_b_forward="code")
    finally:
        dist.destroy_process_group()
    for key, value in plain.core.state_dict().items():
        torch.testing.assert_close(wrapped.core.state_dict()[key], value, rtol=1e-5, atol=1e-6)


def test_frozen_running_stats_restores_momentum_and_normalises_with_the_batch():
    from ferlib.methods.elim import frozen_running_stats

    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4, momentum=0.3)).train()
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    before = net[1].running_var.clone()
    with frozen_running_stats(net):
        inside = net(x)
    assert torch.equal(net[1].running_var, before) and net[1].momentum == 0.3
    assert torch.allclose(inside, net(x))  # batch statistics, as without the context
    assert not torch.equal(net[1].running_var, before)  # outside it they move again


def identity_head(method: ELIM, d: int) -> None:
    """Replace f_θ by the identity map on R^d (d = 2: the prediction is the latent itself)."""
    head = torch.nn.Linear(d, 2, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.eye(2, d))
    method.core.head.out = head


def test_elim_loss_by_hand(monkeypatch):
    """§4.4 on six latents in R² with f_θ = identity: the reference enters raw, each target
    shift-normalised, and the loss is the sum of per-group MSEs, each a mean over 2 × 2 numbers."""
    import ferlib.methods.elim as elim

    method = ELIM(make_config())
    identity_head(method, 2)
    z = torch.tensor([[1.0, 2.0], [3.0, 0.0], [3.0, 3.0], [4.0, 0.0], [0.0, 3.0], [3.0, 0.0]])
    y = torch.tensor([[1.0, 1.0], [2.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    groups = [torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5])]
    shifts = iter([torch.tensor([2.0, 2.0]), torch.zeros(2)])  # target 1's, then target 2's
    seen = []

    def fake_shift(zr, zk, **kwargs):
        seen.append(zr)
        return next(shifts)

    monkeypatch.setattr(elim, "identity_shift", fake_shift)
    loss = method.elim_loss(z, y, groups).item()
    # reference raw: errors (0, 1), (1, 0) -> 0.5
    # target 1: z − 2 = (1, 1), (2, −2), RMS 1 and 2 -> (1, 1), (1, −1);
    #           errors (0, 1), (1, −1) -> 0.75
    # target 2: s = 0, RMS 3/√2 -> (0, √2), (√2, 0); errors (0, √2 − 1) twice -> (√2 − 1)²/2
    expected = 0.5 + 0.75 + (math.sqrt(2) - 1) ** 2 / 2
    assert loss == pytest.approx(expected, abs=1e-5)
    assert all(torch.equal(zr, z[:2]) for zr in seen) and len(seen) == 2  # matched to the reference


def test_the_elim_step_is_scaled_by_c_elim_times_w(monkeypatch):
    """§4.4–4.5: the logged and backpropagated loss is w(t)·c_elim·L; at t = 10 with W2 = 50,
    w = 0.2, and c_elim = 0.5 gives 0.1 × L."""
    x, y = batch()
    method = method_with([0] * 4 + [1] * 4, elim_weight=0.5, elim_warmup_end=50)
    seen = []

    def fixed(self, z, targets, groups):
        seen.append(len(groups))
        return 3.0 + 0 * z.sum()  # L = 3, still in the graph

    monkeypatch.setattr(ELIM, "elim_loss", fixed)
    logs = method.training_step(x, y, 10, torch.arange(8))
    assert seen == [2] and logs["elim_w"] == 0.2
    assert logs["elim"] == pytest.approx(0.2 * 0.5 * 3.0)


def test_the_authors_code_switch_changes_loader_solver_marginals_and_shift(monkeypatch):
    """``elim_authors_code``: plain shuffled batches, and each target's rows shifted by the
    first sample's cost under the authors' loop (code marginals, 5 rounds); by default P×K
    batches and one shift per sample from POT with balanced marginals."""
    import ferlib.methods.base as base
    import ferlib.methods.elim as elim

    monkeypatch.setattr(elim, "pk_loader", lambda *args, **kwargs: "pk")
    monkeypatch.setattr(base.Method, "train_loader", lambda self, data, distributed=None: "plain")
    data = type("Data", (), {"frame": pd.DataFrame({"identity": ["a", "b"] * 4})})()
    assert ELIM(make_config(elim_authors_code=True)).train_loader(data) == "plain"
    assert ELIM(make_config()).train_loader(data) == "pk"

    z = torch.cat([latents(5, d=4, seed=11), latents(3, d=4, seed=12)]).float()
    y = torch.zeros(8, 2)
    groups = [torch.arange(5), torch.arange(5, 8)]  # 5 reference against 3 target samples
    real, shifts = elim.normalise_rows, []

    def record(rows, shift):
        shifts.append(shift)
        return real(rows, shift)

    monkeypatch.setattr(elim, "normalise_rows", record)
    for flags in ({"elim_authors_code": True}, {}):
        method = ELIM(make_config(**flags))
        identity_head(method, 4)
        method.elim_loss(z, y, groups)
    zr, zk = z[:5].double(), z[5:].double()
    cost = cosine_cost(zr, zk)
    a, b = ot_marginals(zr, zk, "code")
    plan = torch.tensor(authors_loop(a.tolist(), b.tolist(), cost.tolist(), 5.0, 5, 1e-6))
    first = (plan * cost).sum(0)[0].item()
    torch.testing.assert_close(shifts[0], torch.full((3,), first, dtype=torch.float64))
    torch.testing.assert_close(shifts[1], identity_shift(zr, zk))
    assert shifts[1].std() > 0 and not torch.allclose(shifts[1], shifts[0])


# --- through the shared trainer --------------------------------------------------------------
class Interrupt(Exception):
    pass


def test_training_end_to_end_and_resume_is_exact(tiny_synth, tmp_path, monkeypatch):
    from ferlib.training.trainer import train

    monkeypatch.setitem(ferlib.methods.METHODS, "elim", ELIM)
    data = cache_images(load_dataset("synthetic", tiny_synth), 64, cache_dir=tmp_path / "cache")
    # 4 training identities × 7 images: P 4 × K 3 = 12 -> 2 batches an epoch
    config = make_config(
        dataset="synthetic",
        data_dir=str(tiny_synth),
        epochs=2,
        batch_size=12,
        elim_p=4,
        eval_batch_size=16,
        milestones=[3],
        elim_warmup_start=1,
        elim_warmup_end=3,
    )
    steps_b = [0]
    real = ELIM.elim_loss

    def counted(self, *args):
        steps_b[0] += 1
        return real(self, *args)

    monkeypatch.setattr(ELIM, "elim_loss", counted)
    straight = train(config, tmp_path / "straight", data=data, progress=False)
    assert steps_b[0] == 3 and len(straight.history) == 2  # iterations 1-3 match identities
    assert all(math.isfinite(r["train_loss"]) for r in straight.history)

    def crash_after_first_epoch(epoch, row):
        if epoch == 0:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(
            config,
            tmp_path / "resumed",
            data=data,
            progress=False,
            callbacks=[crash_after_first_epoch],
        )
    assert ckpt.load(tmp_path / "resumed" / ckpt.LAST)["epoch"] == 0
    resumed = train(config, tmp_path / "resumed", data=data, progress=False)
    for key in ("rmse_v", "rmse_a", "ccc_v", "ccc_a", "pcc_v", "sagr_a"):
        assert resumed.metrics[key] == straight.metrics[key], key
    assert resumed.metrics["final_weight_digests"] == straight.metrics["final_weight_digests"]
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in straight.history]
    model, _ = ckpt.load_model(tmp_path / "straight" / ckpt.BEST)  # trunk + head only
    assert model(torch.zeros(2, 3, 64, 64))[0].shape == (2, 2)


def test_cannot_train_names_elim_s_need_for_identities(tiny_synth):
    from ferlib.methods import cannot_train

    data = load_dataset("diffusionfer", tiny_synth)
    assert cannot_train("elim", data) == "" and cannot_train("baseline", data) == ""
    data.frame["identity"] = None
    assert cannot_train("elim", data) == "elim needs identities and diffusionfer has none"
    assert cannot_train("avce", data) == ""
