"""The supervised loss against docs/methods/metrics.md §6 item 7."""

import pytest
import torch

from ferlib.evaluation.metrics import va_metrics
from ferlib.methods.losses import LOSS_KINDS, loss_terms, sup_loss


def batch(n=64, seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(n, 2, generator=g, dtype=torch.float64) * 2 - 1
    p = 0.5 * y + 0.2 * torch.randn(n, 2, generator=g, dtype=torch.float64) + 0.1
    return p, y


def pcc_part(t):
    return 0.5 * (1 - (t["pcc_v"] + t["pcc_a"]) / 2)


def ccc_part(t):
    return 0.5 * (1 - (t["ccc_v"] + t["ccc_a"]) / 2)


def test_zero_at_perfect_prediction():
    _, y = batch()
    assert sup_loss(y.clone(), y).item() == pytest.approx(0, abs=1e-6)
    assert sup_loss(y.clone(), y, kind="mse").item() == 0


def test_pcc_part_affine_invariant():
    p, y = batch()
    assert pcc_part(loss_terms(3 * p - 0.4, y)).item() == pytest.approx(
        pcc_part(loss_terms(p, y)).item(), abs=1e-6
    )


def test_ccc_part_grows_under_shift():
    p, y = batch()
    base = ccc_part(loss_terms(p, y)).item()
    assert ccc_part(loss_terms(p + 0.3, y)).item() > base
    assert ccc_part(loss_terms(p + 0.6, y)).item() > ccc_part(loss_terms(p + 0.3, y)).item()


@pytest.mark.parametrize("equal", [False, True])
def test_finite_gradients_at_constant_predictions(equal):
    _, y = batch()
    if equal:
        y = torch.full_like(y, 0.2)
    pred = torch.full_like(y, 0.2, dtype=torch.float32).requires_grad_()
    loss = sup_loss(pred, y.float())
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()


def test_batch_of_one_raises():
    with pytest.raises(ValueError, match="two samples"):
        sup_loss(torch.zeros(1, 2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="two samples"):
        sup_loss(torch.zeros(1, 2), torch.zeros(1, 2), kind="mse")


def test_hand_value_15_over_14():
    y = torch.tensor([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0]])
    p = y.clone()
    p[:, 0] += 1
    assert sup_loss(p, y).item() == pytest.approx(15 / 14, abs=1e-6)
    assert sup_loss(p, y, kind="mse").item() == pytest.approx(1.0, abs=1e-6)


def test_loss_is_sum_of_its_terms():
    p, y = batch()
    t = loss_terms(p, y)
    assert sorted(t) == sorted(["mse_v", "mse_a", "pcc_v", "pcc_a", "ccc_v", "ccc_a"])
    expected = t["mse_v"] + t["mse_a"] + pcc_part(t) + ccc_part(t)
    assert sup_loss(p, y).item() == pytest.approx(expected.item(), abs=1e-12)
    assert sup_loss(p, y).ndim == 0


def test_batch_ccc_term_matches_metric():
    p, y = batch()
    t, m = loss_terms(p, y), va_metrics(p, y)
    for d in "va":
        assert t[f"ccc_{d}"].item() == pytest.approx(m[f"ccc_{d}"], abs=1e-6)
        assert t[f"pcc_{d}"].item() == pytest.approx(m[f"pcc_{d}"], abs=1e-6)
        assert t[f"mse_{d}"].item() == pytest.approx(m[f"rmse_{d}"] ** 2, abs=1e-12)


def test_bad_kind_and_shape():
    p, y = batch()
    assert LOSS_KINDS == ("ccc_pcc", "mse")
    with pytest.raises(ValueError, match="'ccc_pcc'.*'mse'"):
        sup_loss(p, y, kind="ccc")
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        sup_loss(p[:, 0], y[:, 0])
