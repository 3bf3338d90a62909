"""Identity leakage: how much a model's latent says about *who* is in the image.

Two views, computed the same way for every method on test people the model never saw:

- **probe accuracy**: a linear classifier (scikit-learn's multinomial logistic regression) is
  fitted on the frozen latents z of half of each test person's images and asked to name the
  person of the other half.
  Lower is more person-invariant; ``chance`` is 1 / number of people.
- **error spread**: the standard deviation over people of each person's mean absolute error. A
  model that reads resting faces as affect is much worse on some people than on others.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader

from .metrics import va_metrics
from .outputs import model_outputs, trunk_features


def _probe_split(identities: np.ndarray, train_share: float, seed: int) -> np.ndarray:
    """Boolean mask of probe-training rows: ``train_share`` of each person's images."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(identities), dtype=bool)
    for person in np.unique(identities):
        rows = rng.permutation(np.flatnonzero(identities == person))
        mask[rows[: max(1, int(round(train_share * len(rows))))]] = True
    return mask


def identity_probe(
    latents: torch.Tensor | np.ndarray,
    identities: Sequence[str],
    train_share: float = 0.5,
    seed: int = 0,
    steps: int = 1000,
    weight_decay: float = 1e-3,
) -> dict[str, float]:
    """Held-out accuracy of a linear identity classifier on standardised latents.

    scikit-learn's multinomial ``LogisticRegression`` (L-BFGS, at most ``steps`` iterations), the
    usual linear probe. Its penalty ``½‖W‖² / C`` on the summed cross-entropy equals
    ``weight_decay·‖W‖²`` on the mean one for ``C = 1 / (2·weight_decay·n)``, n the probe's
    training images.

    Taught in ``notebooks/20_evaluate_va.ipynb`` §5.
    """
    names = np.asarray([str(i) for i in identities])
    people = np.unique(names)
    if len(people) < 2:
        raise ValueError("identity probe needs at least two identities")
    z = np.asarray(latents, dtype=np.float64)
    fit = _probe_split(names, train_share, seed)
    probe = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=1 / (2 * weight_decay * fit.sum()), max_iter=steps),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the accuracy is what is reported
        probe.fit(z[fit], names[fit])
    held = ~fit
    return {
        "probe_accuracy": float(probe.score(z[held], names[held])),
        "chance": 1 / len(people),
        "identities": len(people),
        "probe_test_images": int(held.sum()),
    }


def error_spread(frame: pd.DataFrame, preds: np.ndarray) -> dict[str, float]:
    """Standard deviation over identities of the per-identity mean absolute error (V and A)."""
    from .errors import per_group_error

    table = per_group_error(frame, preds, by="identity")
    return {
        "mae_spread_v": float(table["mae_v"].std(ddof=0)),
        "mae_spread_a": float(table["mae_a"].std(ddof=0)),
    }


def identity_leakage(
    frame: pd.DataFrame, preds: np.ndarray, latents: torch.Tensor, seed: int = 0
) -> dict[str, float]:
    """Both leakage views for one model on one split (``frame`` rows aligned with the outputs)."""
    if frame["identity"].isna().all():
        raise ValueError("identity leakage needs identities; this split has none")
    return {
        **identity_probe(latents, list(frame["identity"]), seed=seed),
        **error_spread(frame, preds),
    }


def leakage_table(
    frame: pd.DataFrame,
    models: Mapping[str, torch.nn.Module],
    loader: DataLoader,
    device: torch.device,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per model: test CCC, the probe on the trunk features h and on the head latent z,
    chance, and the per-person error spread; ``loader`` yields ``frame``'s rows in order.

    Without at least two identities in ``frame`` the leakage columns are NaN (there is nobody to
    tell apart), so the same table still compares accuracy on data such as DiffusionFER-S.

    Taught in ``notebooks/20_evaluate_va.ipynb`` §5.
    """
    people = frame["identity"].dropna().nunique()
    rows = {}
    for label, model in models.items():
        preds, z, targets = model_outputs(model, loader, device)
        scores = va_metrics(preds, targets)
        row = {
            "ccc_v": scores["ccc_v"],
            "ccc_a": scores["ccc_a"],
            "ccc_mean": (scores["ccc_v"] + scores["ccc_a"]) / 2,
            "probe on h": np.nan,
            "probe on z": np.nan,
            "z size": z.shape[1],
            "chance": np.nan,
            "mae_spread_v": np.nan,
            "mae_spread_a": np.nan,
        }
        if people >= 2:
            features = trunk_features(model, loader, device)
            on_h = identity_leakage(frame, preds.numpy(), features, seed)
            on_z = identity_probe(z, list(frame["identity"]), seed=seed)
            row.update(
                {
                    "probe on h": on_h["probe_accuracy"],
                    "probe on z": on_z["probe_accuracy"],
                    "chance": on_h["chance"],
                    "mae_spread_v": on_h["mae_spread_v"],
                    "mae_spread_a": on_h["mae_spread_a"],
                }
            )
        rows[label] = row
    return pd.DataFrame(rows).T
