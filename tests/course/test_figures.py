"""The committed figures can be read: PNG (JPEG only for grids of pictures), at least
``figures.style.MIN_DPI``, and no figure committed twice."""

from __future__ import annotations

import base64
import hashlib
import io

import nbformat
import pytest
from PIL import Image

from ferlib.course import runner
from ferlib.figures.style import MIN_DPI

FORMATS = ("image/png", "image/jpeg")


def committed_figures() -> list[tuple[str, int, str, bytes]]:
    """(notebook, cell number, MIME type, bytes) of every image a committed chapter shows."""
    found = []
    for path in runner.course_notebooks():
        for number, cell in enumerate(nbformat.read(path, as_version=4).cells):
            for output in cell.get("outputs", []):
                for mime in FORMATS:
                    if mime in output.get("data", {}):
                        found.append((path.stem, number, mime, base64.b64decode(output.data[mime])))
    return found


FIGURES = committed_figures()


def problem(mime: str, raw: bytes) -> str:
    """What is wrong with one committed image ("" when nothing)."""
    image = Image.open(io.BytesIO(raw))
    wanted = {"image/png": "PNG", "image/jpeg": "JPEG"}[mime]
    if image.format != wanted:
        return f"{mime} holds a {image.format} image"
    dpi = image.info.get("dpi", (0, 0))[0]
    return f"{mime} at {dpi:.0f} dpi, below {MIN_DPI}" if round(dpi) < MIN_DPI else ""


@pytest.mark.parametrize("figure", FIGURES, ids=[f"{nb}-cell{n}" for nb, n, _, _ in FIGURES])
def test_every_committed_figure_is_png_or_a_picture_grid_at_100_dpi_or_more(figure):
    notebook, number, mime, raw = figure
    assert not problem(mime, raw), f"{notebook} cell {number}: {problem(mime, raw)}"


def test_no_figure_is_committed_twice():
    where: dict[str, list[str]] = {}
    for notebook, number, _, raw in FIGURES:
        where.setdefault(hashlib.sha256(raw).hexdigest(), []).append(f"{notebook} cell {number}")
    twice = [places for places in where.values() if len(places) > 1]
    assert not twice, f"byte-identical figures: {twice}"


def test_the_rule_can_fail():
    """A 60 dpi JPEG, as chapters once committed, and a mislabelled image are caught."""
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20)).save(buffer, format="JPEG", dpi=(60, 60))
    assert problem("image/jpeg", buffer.getvalue()) == "image/jpeg at 60 dpi, below 100"
    assert problem("image/png", buffer.getvalue()) == "image/png holds a JPEG image"
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20)).save(buffer, format="PNG", dpi=(100, 100))
    assert problem("image/png", buffer.getvalue()) == ""
