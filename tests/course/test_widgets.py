"""Sliders (ferlib.course.widgets): a slider in JupyterLab, one static figure in batch runs."""

import pytest

from ferlib.course import widgets


def test_a_batch_run_draws_the_starting_value_once(monkeypatch, capsys):
    monkeypatch.setenv(widgets.STATIC, "1")
    drawn = []
    widgets.slider(lambda v: drawn.append(v) or f"figure at {v}", "reg", [0.01, 0.05, 0.1], 0.05)
    assert drawn == [0.05] and not widgets.interactive()
    assert "figure at 0.05" in capsys.readouterr().out


def test_interactive_shows_a_slider_that_redraws(monkeypatch):
    monkeypatch.delenv(widgets.STATIC, raising=False)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs: shown.extend(objs))
    drawn = []
    widgets.slider(lambda v: drawn.append(v) or v, "scale", [1, 2, 4], 2)
    box = shown[-1]
    knob = box.children[0]
    assert drawn == [2] and list(knob.options) == [1, 2, 4]
    knob.value = 4  # a student turns it
    assert drawn == [2, 4]


def test_a_starting_value_off_the_slider_is_an_error(monkeypatch):
    monkeypatch.setenv(widgets.STATIC, "1")
    with pytest.raises(ValueError, match="not one of"):
        widgets.slider(lambda v: v, "reg", [0.1, 0.2], 0.15)
