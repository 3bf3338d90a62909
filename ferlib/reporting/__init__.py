"""Results across runs: ``runs`` (run tables, mean ± std over seeds, markdown) and ``anchors``
(published numbers from the papers, always printed apart from ours)."""

from . import anchors, runs

__all__ = ["anchors", "runs"]
