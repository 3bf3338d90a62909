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


@pytest.mark.parametrize(("mode", "sums"), [("balanced", (1, 1)), ("code", (5, 3))])
def test_marginals_are_non_negative_with_the_mode_s_sums(mode, sums):
    a, b = ot_marginals(latents(5), latents(3, seed=1), mode)
    assert (a >= 0).all() and (b >= 0).all()
    assert a.sum().item() == pytest.approx(sums[0]) and b.sum().item() == pytest.approx(sums[1])
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
    assert method.option("elim_sinkhorn_iters") == 5
    assert method.option("elim_shift_mode") == "first_sample"
    assert ELIM(make_config()).option("elim_shift_mode") == "per_sample"


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
