"""Figures: every function returns a matplotlib ``Figure`` and draws in one shared style.

- ``style``: colours, axis words, the circumplex, messages and JPEG grids (shared by all);
- ``data``: a dataset before training; ``evaluation``: a trained model's errors and curves;
- ``caf``, ``avce``, ``elim``: each method's mechanism; ``prompt``: prompt against expression.

Figures import numbers (``ferlib.evaluation``), never the other way round.
"""

from . import avce, caf, data, elim, evaluation, prompt, style

__all__ = ["avce", "caf", "data", "elim", "evaluation", "prompt", "style"]
