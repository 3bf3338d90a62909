"""AVCE: sparsemax, views, critic, RPC, regulariser, steps, training.

Spec: docs/methods/avce.md (§ numbers below refer to it; §9 lists what these tests check).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import ferlib.methods
import ferlib.params
from ferlib.data import cache_images, load_dataset, make_loader
from ferlib.evaluation.outputs import model_outputs
from ferlib.methods.avce import (
    AUTHORS_CODE,
    AVCE,
    CODE_RPC_WEIGHT,
    angle_term,
    avce_head,
    critic,
    derangement,
    rpc_objective,
    view_regulariser,
)
from ferlib.methods.sparsemax import sparsemax
from ferlib.models import VAModel, build_backbone
from ferlib.params import PARAMETERS
from ferlib.training import checkpoint as ckpt
from ferlib.training.trainer import train


def make_config(**overrides) -> dict:
    return {**ferlib.params.defaults(), "method": "avce", "device": "cpu", **overrides}


def make_method(**overrides) -> AVCE:
    torch.manual_seed(0)
    method = AVCE(make_config(**overrides))
    method.build_optimizers()
    return method


def batch(n: int = 8, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.rand(n, 2, generator=g) * 2 - 1


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def moved(module: torch.nn.Module, before: list[torch.Tensor]) -> bool:
    return any(not torch.equal(p, q) for p, q in zip(module.parameters(), before, strict=True))


# --- 1. sparsemax --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("z", "p"),
    [
        ((1.0, 0.5, -0.5), (0.75, 0.25, 0.0)),
        ((0.2, 0.1, 0.0), (0.4 + 1 / 30, 1 / 3, 0.2 + 1 / 30)),
        ((3.0, 0.0, 0.0), (1.0, 0.0, 0.0)),
    ],
)
def test_sparsemax_hand_worked_examples(z, p):
    out = sparsemax(torch.tensor([z], dtype=torch.float64))
    torch.testing.assert_close(out, torch.tensor([p], dtype=torch.float64))


def test_sparsemax_is_on_the_simplex_sparse_and_shift_invariant():
    z = torch.randn(64, 32, dtype=torch.float64) * 2
    p = sparsemax(z)
    assert (p >= 0).all()
    assert (p.sum(-1) - 1).abs().max() < 1e-6
    assert ((p == 0).sum(-1) > 0).all()  # sparse: every row has exact zeros here
    torch.testing.assert_close(sparsemax(z + 3.7), p)
    # batched over the last dimension: a (2, 3, n) tensor is projected row by row
    torch.testing.assert_close(sparsemax(z[:6].view(2, 3, 32)), p[:6].view(2, 3, 32))


def bisection_sparsemax(z: torch.Tensor, iters: int = 100) -> torch.Tensor:
    """Reference: find τ with Σ max(z − τ, 0) = 1 by bisection on [max z − 1, max z]."""
    hi = z.max(-1, keepdim=True).values
    lo = hi - 1
    for _ in range(iters):
        tau = (lo + hi) / 2
        too_low = (z - tau).clamp(min=0).sum(-1, keepdim=True) > 1
        lo, hi = torch.where(too_low, tau, lo), torch.where(too_low, hi, tau)
    return (z - (lo + hi) / 2).clamp(min=0)


def test_sparsemax_matches_a_bisection_reference():
    z = torch.randn(200, 32, dtype=torch.float64)
    assert (sparsemax(z) - bisection_sparsemax(z)).abs().max() < 1e-6


def test_sparsemax_support_on_post_relu_gaussians_is_about_three():
    z = torch.randn(20000, 32, generator=torch.Generator().manual_seed(0)).relu()
    support = (sparsemax(z) > 0).sum(-1).float().mean().item()
    assert 2.5 < support < 3.5


def test_sparsemax_gradcheck_and_jacobian():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(5, 7, dtype=torch.float64, generator=g).requires_grad_()
    assert torch.autograd.gradcheck(sparsemax, (z,))
    z0 = torch.tensor([1.0, 0.5, -0.5], dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(sparsemax, z0)
    expected = torch.tensor([[0.5, -0.5, 0.0], [-0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(jac, expected.double())


# --- 2. softmax view, 3. shapes and ranges -------------------------------------------------------
def test_softmax_view_is_dense_and_differs_from_the_sparsemax_view():
    z = torch.randn(16, 32).relu() * 3
    soft, sparse = F.softmax(z, dim=-1), sparsemax(z)
    assert (soft > 0).all()
    torch.testing.assert_close(soft.sum(-1), torch.ones(16))
    assert (sparse == 0).any() and not torch.allclose(soft, sparse, atol=1e-2)


def test_shapes_ranges_and_parameter_counts():
    method = make_method()
    x_in, _ = batch()
    h = method.core.trunk(x_in)
    z = method.core.head.body[:3](h)
    assert z.shape == (8, 32) and (z >= 0).all()
    x, y_a, y_n = method.net(x_in, step="a")
    assert x.shape == y_a.shape == y_n.shape == (8, 2)
    assert (y_a.abs() < 0.5).all() and (y_n.abs() < 0.5).all()
    v, v_a, v_n = method.net(x_in, step="b")
    assert v.shape == v_a.shape == v_n.shape == (8, 8)
    assert (v >= 0).all() and (v_a >= 0).all() and (v_n >= 0).all()
    # §2 parameter counts on small_cnn: R, H, V
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert (count(method.core.head), count(method.view_head), count(method.embedding)) == (
        25378,
        8962,
        2632,
    )
    assert set(method.modules()) == {"model", "view_head", "embedding"}
    assert isinstance(method.core, VAModel)


@pytest.mark.parametrize(("features", "params"), [(9216, 303906), (1000, 40994), (512, 25378)])
def test_regressor_sizes_match_the_spec(features, params):
    """§2: R on alexnet (F = 9216), resnet18 (F = 1000) and small_cnn (F = 512)."""
    assert sum(p.numel() for p in avce_head(features, 0.5).parameters()) == params


def test_trained_core_predicts_without_view_head_and_embedding():
    method = make_method()
    x_in, y = batch()
    for i in range(3):
        method.training_step(x_in, y, i)
    state = method.core.state_dict()
    method.core.eval()
    expected = method.predict(x_in)
    del method.view_head, method.embedding, method.net
    # a fresh trunk + R, with no H or V anywhere, reproduces the predictions
    trunk = build_backbone("small_cnn")
    fresh = VAModel(trunk, avce_head(trunk.out_features, 0.5))
    fresh.load_state_dict(state)
    pred, _ = fresh.eval()(x_in)
    torch.testing.assert_close(pred, expected)
    assert torch.isfinite(method.predict(x_in)).all()


# --- 4. critic -----------------------------------------------------------------------------------
def test_paper_critic_extremes_and_scale_invariant_angle():
    x = torch.tensor([[0.3, -0.2], [0.05, 0.4], [-0.6, 0.1]])
    torch.testing.assert_close(critic(x, x), torch.full((3,), 1.8), atol=1e-3, rtol=0)
    torch.testing.assert_close(critic(x, -x), torch.full((3,), 0.8), atol=1e-3, rtol=0)
    y = torch.tensor([[0.1, 0.2], [-0.3, 0.1], [0.2, 0.2]])
    base = angle_term(x, y)
    for a, b in ((3.0, 1.0), (1.0, 0.2), (0.5, 7.0)):
        torch.testing.assert_close(angle_term(a * x, b * y), base, atol=1e-6, rtol=0)
    # hand values: collinear with |y| = 2|x| = 1 -> 1 + 0.8·0.5; orthogonal equal norms -> 0.5 + 0.8
    x1 = torch.tensor([[0.3, 0.4], [0.3, 0.4]])
    y1 = torch.tensor([[0.6, 0.8], [-0.4, 0.3]])
    torch.testing.assert_close(critic(x1, y1), torch.tensor([1.4, 1.3]), atol=1e-3, rtol=0)


@pytest.mark.parametrize("kind", ["paper", "code"])
def test_critic_gradients_are_finite_at_degenerate_points(kind):
    y = torch.tensor([[0.3, 0.4], [0.3, 0.4], [0.3, 0.4], [0.0, 0.0]])
    x = torch.tensor([[0.6, 0.8], [-0.3, -0.4], [0.0, 0.0], [0.0, 0.0]], requires_grad=True)
    y.requires_grad_()
    critic(x, y, kind).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()


def test_code_critic_angle_term_is_compressed_and_sign_penalised():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
    a = angle_term(x, y, "code")
    assert a.min() >= 0.8333 - 1e-4 and a.max() <= 0.9167 + 1e-4
    assert a.max() - a.min() > 0.08  # it does span (most of) that narrow range
    xs = torch.tensor([[0.3, 0.1]])
    same, flipped = torch.tensor([[0.3, 0.1]]), torch.tensor([[-0.3, 0.1]])
    intensity = 0.8  # equal norms: 0.8·(1 − 0)
    expected_same = angle_term(xs, same, "code") + intensity
    torch.testing.assert_close(critic(xs, same, "code"), expected_same)
    expected_flip = angle_term(xs, flipped, "code") + intensity - 0.05
    torch.testing.assert_close(critic(xs, flipped, "code"), expected_flip)


# --- 5. RPC --------------------------------------------------------------------------------------
def test_rpc_hand_value_and_code_reduction():
    f_pos, f_neg = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([0.2, 0.4, 0.6])
    # 3.5/3 − 0.5·0.4 − 0.0025·(5.25/3) − 0.25·(0.56/3)
    expected = 3.5 / 3 - 0.2 - 0.0025 * 1.75 - 0.25 * 0.56 / 3
    j = rpc_objective(f_pos, f_neg, 0.5, 0.005, 0.5)
    assert j.item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.915625, abs=1e-6)
    j_code = rpc_objective(f_pos, f_neg, 0.5, 0.005, 0.5, reduction="code")
    assert j_code.item() == pytest.approx(3 * j.item(), rel=1e-6)


def test_one_ascent_step_on_rpc_raises_positives_and_lowers_negatives():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 2, generator=g) * 0.4
    y_a = (torch.rand(16, 2, generator=g) - 0.5).requires_grad_()
    y_n = (torch.rand(16, 2, generator=g) - 0.5).requires_grad_()

    def scores():
        return critic(x, y_a).mean(), critic(x, y_n).mean()

    pos0, neg0 = scores()
    rpc_objective(critic(x, y_a), critic(x, y_n), 0.5, 0.005, 0.5).backward()
    with torch.no_grad():
        y_a += 0.05 * y_a.grad  # ascent: J is maximised
        y_n += 0.05 * y_n.grad
    pos1, neg1 = scores()
    assert pos1 > pos0 and neg1 < neg0


@pytest.mark.parametrize("negatives", ["shuffled", "same_sample"])
def test_step_a_loss_falls_as_attentive_view_nears_prediction_and_rises_for_inattentive(negatives):
    method = make_method(avce_negatives=negatives)
    # one shared prediction, so any pairing π compares each negative with the same x
    x = torch.tensor([[0.3, 0.2]]).repeat(8, 1)
    targets = torch.rand(8, 2) * 2 - 1
    far = torch.tensor([[-0.2, 0.35]]).repeat(8, 1) + 0.01 * torch.randn(8, 2)

    def loss(y_a, y_n):
        torch.manual_seed(0)  # same derangement for every call
        return method.step_a_loss(x, y_a, y_n, targets)[0].item()

    base = loss(far, far)
    closer = far + 0.5 * (x - far)
    assert loss(closer, far) < base  # attentive view towards x: loss falls
    assert loss(far, closer) > base  # inattentive view towards x: loss rises


def test_loss_signs_and_scales():
    x, targets = torch.randn(64, 2) * 0.3, torch.rand(64, 2) * 2 - 1
    y_a, y_n = torch.rand(64, 2) - 0.5, torch.rand(64, 2) - 0.5
    for reduction, weight in (("mean", 0.0256), ("code", CODE_RPC_WEIGHT * 64)):
        method = make_method(avce_rpc_reduction=reduction, avce_negatives="same_sample")
        loss, logs = method.step_a_loss(x, y_a, y_n, targets)
        j_mean = rpc_objective(critic(x, y_a), critic(x, y_n), 0.5, 0.005, 0.5).item()
        # L_A = L_sup − w·J: the contrast is subtracted (maximised), weight 0.0064 at B = 64
        assert loss.item() == pytest.approx(logs["sup"] - weight * j_mean, abs=1e-5)
        assert logs["sup"] > 0 and 0 < logs["f_pos"] < 2 and 0 < logs["f_neg"] < 2
    method = make_method()
    logs = method.training_step(*batch(), 0)
    assert logs["reg"] >= 0 and logs["push"] >= 0 and logs["hold"] >= 0
    assert math.isfinite(logs["loss"]) and abs(logs["loss"] - logs["sup"]) < 0.0256 * 2


def test_derangement_has_no_fixed_points():
    torch.manual_seed(0)
    for n in range(2, 12):
        for _ in range(20):
            pi = derangement(n)
            assert sorted(pi.tolist()) == list(range(n))
            assert (pi != torch.arange(n)).all()


# --- 6. regulariser ------------------------------------------------------------------------------
def test_regulariser_push_hold_and_zero_embeddings():
    v = torch.rand(4, 8) + 0.1
    # push: zero once the views are at squared distance >= m = 1
    far_a, far_n = v.clone(), v.clone()
    far_n[:, 0] += 1.01
    _, push, _ = view_regulariser(v, far_a, far_n, 1.0, 0.01)
    assert push.item() == 0.0
    _, push_near, _ = view_regulariser(v, v, v + 0.1, 1.0, 0.01)
    assert push_near.item() == pytest.approx(1 - 8 * 0.01, abs=1e-5)
    # hold: zero when v, v_a, v_n are parallel (positive multiples)
    loss, push_p, held = view_regulariser(v, 2 * v, 5 * v, 1.0, 0.01)
    assert held.item() < 1e-5
    assert held.item() < view_regulariser(v, v.flip(-1), v, 1.0, 0.01)[2].item()
    # dead ReLUs: all-zero embeddings give a finite loss and finite gradients
    zeros = [torch.zeros(4, 8, requires_grad=True) for _ in range(3)]
    loss0, _, _ = view_regulariser(*zeros, 1.0, 0.01)
    loss0.backward()
    assert torch.isfinite(loss0) and all(torch.isfinite(t.grad).all() for t in zeros)


# --- 7. step isolation ---------------------------------------------------------------------------
def test_step_a_and_step_b_move_only_their_modules():
    method = make_method()
    x_in, y = batch()
    head = method.core.head
    lower, upper = head.body[1], torch.nn.ModuleList([head.body[4], head.out])
    parts = {
        "trunk": method.core.trunk,
        "lower": lower,
        "upper": upper,
        "H": method.view_head,
        "V": method.embedding,
    }

    def run(step) -> set[str]:
        before = {k: snapshot(m) for k, m in parts.items()}
        step()
        return {k for k, m in parts.items() if moved(m, before[k])}

    assert run(lambda: method.step_a(x_in, y)) == {"trunk", "lower", "upper", "H"}
    # after step A, R's top layers and H carry optimizer momentum: step B must still not move them
    assert run(lambda: method.step_b(x_in)) == {"trunk", "lower", "V"}
    assert run(lambda: method.step_a(x_in, y)) == {"trunk", "lower", "upper", "H"}


def adam_momentum_step(param: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
    """Adam's update of ``param`` for a zero gradient, by hand: m and v decay, t grows by one,
    p − lr·(β1·m/(1 − β1^(t+1))) / (√(β2·v/(1 − β2^(t+1))) + ε)."""
    (b1, b2), t = group["betas"], int(state["step"]) + 1
    m, v = b1 * state["exp_avg"], b2 * state["exp_avg_sq"]
    return param - group["lr"] * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + group["eps"])


def test_step_b_upper_code_moves_r_s_upper_layers_by_adam_momentum_only():
    """D7: with ``avce_step_b_upper="code"`` (torch 1.7.1's zero gradients) step B moves R's
    layers above q by exactly Adam's momentum-only update, computed by hand from the optimizer
    state step A left; H still does not move, and the lower layers, E and V move as before."""
    method = make_method(avce_step_b_upper="code")
    x_in, y = batch()
    head = method.core.head
    method.step_a(x_in, y)
    opt = method.optimizers["head"]
    upper = [*head.body[4].parameters(), *head.out.parameters()]
    expected = [adam_momentum_step(p.detach(), opt.state[p], opt.param_groups[0]) for p in upper]
    h_before, lower_before = snapshot(method.view_head), snapshot(head.body[1])
    upper_before = [p.detach().clone() for p in upper]
    method.step_b(x_in)
    for p, e, b in zip(upper, expected, upper_before, strict=True):
        assert (e - b).abs().max() > 1e-7  # the momentum step is not a no-op
        torch.testing.assert_close(p.detach(), e, rtol=1e-6, atol=1e-9)
    assert all(int(opt.state[p]["step"]) == 2 for p in upper)  # step A and step B
    assert not moved(method.view_head, h_before) and moved(head.body[1], lower_before)
    # the default leaves them where step A put them, their Adam state untouched
    still = make_method()
    still.step_a(x_in, y)
    opt = still.optimizers["head"]
    upper = [*still.core.head.body[4].parameters(), *still.core.head.out.parameters()]
    before = [p.detach().clone() for p in upper]
    still.step_b(x_in)
    assert all(torch.equal(p, b) for p, b in zip(upper, before, strict=True))
    assert all(int(opt.state[p]["step"]) == 1 for p in upper)


def test_optimizers_and_schedulers():
    method = make_method(lr=1e-3, milestones=[2], gamma=0.5)
    opts = method.optimizers
    assert set(opts) == set(method.schedulers) == {"trunk", "head", "view_head", "embedding"}
    assert isinstance(opts["trunk"], torch.optim.Adam) and isinstance(
        opts["head"], torch.optim.Adam
    )
    assert opts["trunk"].param_groups[0]["betas"] == (0.5, 0.9)
    for name in ("view_head", "embedding"):
        assert isinstance(opts[name], torch.optim.SGD)
        assert opts[name].param_groups[0]["lr"] == 0.01
        assert opts[name].param_groups[0]["momentum"] == 0.9
    for i in range(2):
        method.training_step(*batch(), i)
        method.step_schedulers()
    assert opts["trunk"].param_groups[0]["lr"] == pytest.approx(5e-4)
    assert opts["embedding"].param_groups[0]["lr"] == pytest.approx(5e-3)


# --- flags ---------------------------------------------------------------------------------------
def test_flags_defaults_authors_code_and_validation():
    """The paper's value of every switch by default, and the authors' code's under
    ``avce_authors_code`` (written out here, not read from the class: docs/methods/README.md §6)."""
    assert set(AVCE.switches()) | set(AUTHORS_CODE) <= set(PARAMETERS)
    assert AVCE.resolve_options({}) == {
        "avce_critic": "paper",
        "avce_negatives": "shuffled",
        "avce_rpc_reduction": "mean",
        "avce_view_head_init": "default",
        "avce_step_b_upper": "still",
    }
    code = AVCE.resolve_options({"avce_authors_code": True, "avce_critic": "paper"})
    assert code == {
        "avce_critic": "code",
        "avce_negatives": "same_sample",
        "avce_rpc_reduction": "code",
        "avce_view_head_init": "code",
        "avce_step_b_upper": "code",
    }
    with pytest.raises(ValueError, match="avce_negatives"):
        AVCE.resolve_options({"avce_negatives": "identity"})


def test_the_authors_code_switch_changes_critic_negatives_reduction_and_init():
    """``avce_authors_code``: L_A = L_sup − 1e-4 · Σ J with the code's critic and each sample's
    own inattentive view as its negative, and H, V from the code's init; by default
    L_A = L_sup − λ · mean J with the paper's critic and deranged negatives (§3.3–3.4, D2–D5)."""
    from ferlib.methods.losses import sup_loss

    g = torch.Generator().manual_seed(1)
    x, y_a, y_n = (torch.rand(6, 2, generator=g) - 0.5 for _ in range(3))
    targets = torch.rand(6, 2, generator=g) * 2 - 1
    sup = sup_loss(x, targets, ferlib.params.defaults()["sup_loss"]).item()
    weights = (0.5, 0.005, 0.5)  # α, β, γ

    code = make_method(avce_authors_code=True)
    j = rpc_objective(critic(x, y_a, "code"), critic(x, y_n, "code"), *weights, "code")
    assert code.step_a_loss(x, y_a, y_n, targets)[0].item() == pytest.approx(
        sup - CODE_RPC_WEIGHT * j.item(), abs=1e-6
    )
    paper = make_method()
    torch.manual_seed(3)
    pi = derangement(6)
    j = rpc_objective(critic(x, y_a), critic(x, y_n[pi]), *weights)
    torch.manual_seed(3)  # the same derangement inside step_a_loss
    assert paper.step_a_loss(x, y_a, y_n, targets)[0].item() == pytest.approx(
        sup - 0.0256 * j.item(), abs=1e-6
    )
    assert torch.all(code.view_head[0].bias == 0.01) and torch.all(code.embedding[2].bias == 0.01)
    assert not torch.all(paper.view_head[0].bias == 0.01)


def test_code_init_saturates_the_view_head():
    x_in, _ = batch()
    outs = {}
    for init in ("default", "code"):
        method = make_method(avce_view_head_init=init)
        with torch.no_grad():
            _, y_a, y_n = method.net(x_in, step="a")
        outs[init] = torch.cat([y_a, y_n]).abs()
    # N(0, 1) weights push H towards its ±0.5 bound at the start; PyTorch's init stays near 0 (D5)
    assert outs["code"].mean() > 10 * outs["default"].mean()
    assert (outs["code"] > 0.49).any() and not (outs["default"] > 0.49).any()
    # bias 0.01 everywhere in the code init
    method = make_method(avce_view_head_init="code")
    assert torch.all(method.view_head[0].bias == 0.01)
    assert torch.all(method.embedding[2].bias == 0.01)


# --- 8. learning ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_overfitting_a_fixed_batch_lowers_the_loss():
    method = make_method(lr=1e-3)
    x_in, y = batch(32, 32, seed=3)
    losses = [method.training_step(x_in, y, i)["loss"] for i in range(50)]
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5


# --- 9. modes and end to end ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_data(tiny_synth, tmp_path_factory):
    return cache_images(
        load_dataset("synthetic", tiny_synth), 64, cache_dir=tmp_path_factory.mktemp("c")
    )


def test_evaluation_restores_train_mode_and_is_deterministic(tiny_data):
    method = make_method()
    method.train_mode()
    loader = make_loader(tiny_data.subset("val"), 64, 16, train=False)
    first = model_outputs(method.core, loader, torch.device("cpu"))[0]
    second = model_outputs(method.core, loader, torch.device("cpu"))[0]
    assert all(m.training for module in method.modules().values() for m in module.modules())
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_end_to_end_training_through_the_trainer(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setitem(ferlib.methods.METHODS, "avce", AVCE)
    config = make_config(epochs=2, batch_size=8, eval_batch_size=16, milestones=[5])
    result = train(config, tmp_path, data=tiny_data, progress=False)
    assert len(result.history) == 2
    assert all(math.isfinite(r["train_loss"]) for r in result.history)
    # every logged term's epoch mean is in the history (the notebook plots them)
    terms = {"term_sup", "term_rpc", "term_f_pos", "term_f_neg", "term_reg", "term_push"}
    assert terms <= set(result.history[0]) and "term_loss" not in result.history[0]
    assert terms <= set((tmp_path / "history.csv").read_text().splitlines()[0].split(","))
    assert math.isfinite(result.metrics["rmse_v"]) and math.isfinite(result.metrics["rmse_a"])
    last = ckpt.load(tmp_path / ckpt.LAST)
    assert set(last["modules"]) == {"model", "view_head", "embedding"}
    assert set(last["optimizers"]) == {"trunk", "head", "view_head", "embedding"}
    # the best checkpoint holds trunk + R only, enough to predict
    best = ckpt.load(tmp_path / ckpt.BEST)
    assert set(best["modules"]) == {"model"}
    assert not any(k.startswith(("view_head", "embed")) for k in best["modules"]["model"])


def test_shuffled_negatives_pair_each_prediction_with_another_samples_view():
    x, targets = torch.rand(6, 2) - 0.5, torch.rand(6, 2) * 2 - 1
    y_a, y_n = torch.rand(6, 2) - 0.5, torch.rand(6, 2) - 0.5
    shuffling, pairing = make_method(), make_method(avce_negatives="same_sample")
    torch.manual_seed(5)
    pi = derangement(6)
    torch.manual_seed(5)
    shuffled = shuffling.step_a_loss(x, y_a, y_n, targets)[1]["f_neg"]
    same = pairing.step_a_loss(x, y_a, y_n, targets)[1]["f_neg"]
    assert shuffled == pytest.approx(critic(x, y_n[pi]).mean().item(), abs=1e-6)
    assert same == pytest.approx(critic(x, y_n).mean().item(), abs=1e-6)
    assert shuffled != pytest.approx(same, abs=1e-4)


@pytest.mark.parametrize("upper", ["still", "code"])
def test_ddp_wrapping_matches_plain_training(tmp_path, upper):
    """One-process gloo group: the wrapped net (both steps, unused parameters) trains the same,
    also with step B's zero-gradient term of ``avce_step_b_upper="code"``."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    x_in, y = batch()
    plain = make_method(avce_step_b_upper=upper)
    torch.manual_seed(1)  # the same dropout masks and derangements in both runs
    plain_losses = [plain.training_step(x_in, y, i)["loss"] for i in range(3)]
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1
    )
    try:
        wrapped = make_method(avce_step_b_upper=upper)
        wrapped.wrap_ddp(None)
        assert isinstance(wrapped.net, DDP) and wrapped.core is wrapped.modules()["model"]
        torch.manual_seed(1)
        losses = [wrapped.training_step(x_in, y, i)["loss"] for i in range(3)]
    finally:
        dist.destroy_process_group()
    assert losses == pytest.approx(plain_losses, abs=1e-5)
    for name, module in plain.modules().items():
        for p, q in zip(module.parameters(), wrapped.modules()[name].parameters(), strict=True):
            torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)
