"""Results across runs, as tables: ``runs`` (run tables, mean ± std over seeds, markdown),
``anchors`` (published numbers from the papers, always printed apart from ours), ``tables``
(markdown tables of plain rows), ``search`` (a recipe search's candidates ranked on validation)
and ``regimes`` (a sweep's verdicts: where each method beats the Baseline). Nothing here trains
or loads a model: ``ferlib.runs`` trains the runs and collects their metrics."""

import importlib

__all__ = ["anchors", "regimes", "runs", "search", "tables"]


def __getattr__(name: str):
    """Submodules load on first use (``reporting.runs``), so importing one of them does not
    import the others' heavy dependencies."""
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
