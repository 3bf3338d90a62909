"""ferlib.methods.base: what every method inherits — one switch mechanism for the authors' code,
one optimizer factory with its scheduler, one ``backward_and_step``."""

from __future__ import annotations

import ast
import re

import pytest
import torch

import ferlib.methods.base as base
from ferlib.methods import METHODS, build_method
from ferlib.params import PARAMETERS, resolve_config


def config(method: str, **overrides) -> dict:
    return resolve_config(None, {"method": method, "batch_size": 8, **overrides})


# Every switch: (default, value under <method>_authors_code), written out by hand from the
# method notes (docs/methods/README.md §6), never read from the classes, so that a wrong entry in
# a class's ``authors_code`` or a registry default fails here.
SWITCHES = {
    "caf": {
        "caf_grouping": ("otsu", "code"),
        "caf_margin": ("paper", "code"),
        "caf_margin_grad": ("detached", "carried"),
    },
    "avce": {
        "avce_critic": ("paper", "code"),
        "avce_negatives": ("shuffled", "same_sample"),
        "avce_rpc_reduction": ("mean", "code"),
        "avce_view_head_init": ("default", "code"),
        "avce_step_b_upper": ("still", "code"),
    },
    "elim": {
        "elim_sampler": ("pk", "random"),
        "elim_marginals": ("balanced", "code"),
        "elim_sinkhorn": ("pot", "code"),
        "elim_sinkhorn_iters": (200, 5),
        "elim_shift_mode": ("per_sample", "first_sample"),
        "elim_bn_stats": ("all", "all"),
        "elim_step_b_forward": ("model", "code"),
    },
}


@pytest.mark.parametrize("name", ["caf", "avce", "elim"])
def test_the_authors_code_switch_sets_every_listed_parameter(name):
    cls, pinned = METHODS[name], SWITCHES[name]
    assert set(cls.authors_code) <= set(PARAMETERS) and set(cls.switches()) <= set(PARAMETERS)
    paper = cls.resolve_options(config(name))
    assert paper == {k: default for k, (default, _) in pinned.items()}
    code = cls.resolve_options(config(name, **{f"{name}_authors_code": True}))
    assert code == {k: value for k, (_, value) in pinned.items()}
    # the switch wins over single settings: every switch set away from the code's value
    away = {
        k: next(c for c in PARAMETERS[k].choices if c != v) if PARAMETERS[k].choices else v + 1
        for k, (_, v) in pinned.items()
    }
    forced = cls.resolve_options(config(name, **away, **{f"{name}_authors_code": True}))
    assert {k: forced[k] for k in cls.authors_code} == {k: pinned[k][1] for k in cls.authors_code}


def test_the_notes_switch_table_matches_the_pinned_values():
    """docs/methods/README.md §6's table row per method lists each switch as default → code."""
    from ferlib.paths import repo_root

    text = (repo_root() / "docs" / "methods" / "README.md").read_text()
    rows = {
        m: next(r for r in text.splitlines() if r.startswith(f"| {m.upper()} |")) for m in SWITCHES
    }
    for method, pinned in SWITCHES.items():
        cells = re.findall(r"`(\w+)`: `([^`]+)`(?: → `([^`]+)`)?", rows[method])
        written = {k: (ast.literal_eval(d), ast.literal_eval(c or d)) for k, d, c in cells}
        assert written == pinned, method


@pytest.mark.parametrize("name", ["caf", "avce", "elim"])
def test_a_bad_choice_fails_before_any_module_is_built(name, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("built a model before checking the method's parameters")

    monkeypatch.setattr(base, "build_model", no_model)
    key = METHODS[name].switches()[0]
    with pytest.raises(ValueError, match=f"unknown {key} 'nonsense'; choose one of"):
        build_method(config(name, **{key: "nonsense"}))


def test_every_optimizer_gets_the_same_schedule():
    for name in METHODS:
        method = build_method(config(name, milestones=[2], gamma=0.1))
        method.build_optimizers()
        assert set(method.schedulers) == set(method.optimizers) == set(method.param_groups())
        for _ in range(2):
            for opt in method.optimizers.values():
                opt.step()  # no gradients yet: a no-op, in the order the trainer keeps
            method.step_schedulers()
        for opt in method.optimizers.values():
            assert opt.param_groups[0]["lr"] == pytest.approx(opt.defaults["lr"] * 0.1)


def test_backward_and_step_clips_the_named_optimizer_only():
    method = build_method(config("baseline"))
    method.build_optimizers()
    images, targets = torch.randn(8, 3, 64, 64), torch.rand(8, 2) * 2 - 1
    loss = 1e3 * (method.model(images)[0] - targets).pow(2).sum()
    method.backward_and_step(loss, ("trunk", "head"), clip={"trunk": 0.5})

    def grad_norm(module: torch.nn.Module) -> float:
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        return torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item()

    assert grad_norm(method.core.trunk) == pytest.approx(0.5, rel=1e-4)
    assert grad_norm(method.core.head) > 1.0  # not clipped


def test_backward_and_step_refuses_a_non_finite_loss_before_stepping():
    method = build_method(config("baseline"))
    method.build_optimizers()
    before = [p.detach().clone() for p in method.model.parameters()]
    loss = method.model(torch.randn(8, 3, 64, 64))[0].sum() * float("nan")
    with pytest.raises(base.NonFiniteLossError, match="baseline: loss is nan"):
        method.backward_and_step(loss, ("trunk", "head"))
    assert all(torch.equal(a, b) for a, b in zip(before, method.model.parameters(), strict=True))


def test_collective_helpers_are_identities_without_ddp():
    from ferlib.distributed import all_ranks, average_gradients, is_distributed, rank_mean

    assert not is_distributed()
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    average_gradients([p])
    assert torch.equal(p.grad, torch.full((3,), 2.0))
    value = torch.tensor(0.25)
    assert rank_mean(value) is value
    assert all_ranks(True, torch.device("cpu")) and not all_ranks(False, torch.device("cpu"))
