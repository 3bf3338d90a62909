"""Results across runs: ``runs`` (run tables, mean ± std over seeds, markdown) and ``anchors``
(published numbers from the papers, always printed apart from ours) and ``tables`` (markdown
tables of plain rows)."""

import importlib

__all__ = ["anchors", "runs", "tables"]


def __getattr__(name: str):
    """Submodules load on first use (``reporting.runs``), so importing one of them does not
    import the others' heavy dependencies."""
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
