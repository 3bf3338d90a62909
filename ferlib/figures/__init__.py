"""Figures: every function returns a matplotlib ``Figure`` and draws in one shared style.

- ``style``: colours, axis words, the circumplex, messages and JPEG grids (shared by all);
- ``data``: a dataset before training; ``evaluation``: a trained model's errors and curves;
- ``caf``, ``avce``, ``elim``: each method's mechanism; ``prompt``: prompt against expression;
- ``faces``: predictions on real pictures and videos (annotated frames, VA traces);
- ``regimes``: the sweeps of where each method beats the Baseline.

Figures import numbers (``ferlib.evaluation``), never the other way round.
"""

import importlib

__all__ = ["avce", "caf", "data", "elim", "evaluation", "faces", "prompt", "regimes", "style"]


def __getattr__(name: str):
    """Submodules load on first use (``figures.data``), so importing one of them does not
    import the others' heavy dependencies."""
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
