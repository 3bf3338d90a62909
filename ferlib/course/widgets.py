"""Sliders where they teach: a knob a student turns in JupyterLab, one static figure elsewhere.

``slider(draw, "reg", [0.01, 0.05, 0.1], 0.05)`` shows a slider that redraws ``draw(value)`` in
JupyterLab. Under papermill and nbval there is no one to turn it, and a widget's figure would live
in the widget's state rather than in the cell's outputs, so the cell shows ``draw(value)`` once, as
a plain figure: committed outputs and tests stay deterministic. The course run, the refresh and
nbval set ``FERZOO_STATIC=1`` for their kernels (``STATIC``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

STATIC = "FERZOO_STATIC"
"""Set to ``1`` where nobody can turn a slider (batch runs): the figure is drawn once, static."""


def interactive() -> bool:
    """Whether a slider can be turned here (not a batch run)."""
    return os.environ.get(STATIC, "") != "1"


def slider(draw: Callable[[Any], Any], name: str, values: Sequence[Any], value: Any) -> None:
    """Display ``draw(value)``: as a figure under a slider over ``values`` when interactive, as
    one static figure otherwise. ``draw`` returns something IPython displays (a Figure)."""
    from IPython.display import display

    if value not in values:
        raise ValueError(f"{name}: the starting value {value!r} is not one of {list(values)}")
    if not interactive():
        display(draw(value))
        return
    import ipywidgets as widgets

    out = widgets.Output()
    knob = widgets.SelectionSlider(
        options=list(values), value=value, description=name, continuous_update=False
    )

    def redraw(_: Any = None) -> None:
        with out:
            out.clear_output(wait=True)
            display(draw(knob.value))

    knob.observe(redraw, names="value")
    redraw()
    display(widgets.VBox([knob, out]))


__all__ = ["STATIC", "interactive", "slider"]
