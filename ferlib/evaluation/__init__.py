"""Numbers about trained models; nothing here draws (``ferlib.figures`` does).

- ``metrics``: RMSE, PCC, CCC, SAGR — the one implementation, for scores and for the bootstrap;
- ``outputs``: whole-split predictions, latents and trunk features, ``evaluate``;
- ``errors``: bootstrap intervals, errors per group and per cell of the VA plane;
- ``leakage``: how much a latent says about who is pictured;
- ``prompts``: prompt against expression on DiffusionFER;
- ``shifts``: named, seeded image shifts (greyscale, blur, JPEG, ...) of uint8 batches;
- ``robustness``: a checkpoint's scores clean and under each shift;
- ``arrays``: numpy arrays from tensors, arrays or lists.
"""

import importlib

__all__ = [
    "arrays",
    "errors",
    "leakage",
    "metrics",
    "outputs",
    "prompts",
    "robustness",
    "shifts",
]


def __getattr__(name: str):
    """Submodules load on first use (``evaluation.errors``), so importing one of them does not
    import the others' heavy dependencies."""
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
