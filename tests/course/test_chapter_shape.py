"""Every chapter stays readable: within the course's length budget, and with a ``parameters``
cell that holds only what the chapter uses, each value explained on its line."""

from __future__ import annotations

import io
import re
import tokenize

import nbformat
import pytest

from ferlib.course import runner

MAX_CELLS = 40
MAX_WORDS = 3000
"""A chapter's budget: cells, and words of Markdown (whitespace-separated) outside its notation
table (the ``| symbol | meaning |`` reference at its top, copied from docs/notation.md and checked
by tests/course/test_notation.py: looked up, not read through)."""

NOTATION_TABLE = re.compile(r"^\| symbol \| meaning \|\n(?:\|.*(?:\n|$))*", re.M)

READ_WHOLE = ("profile", "overrides")
"""Parameters a chapter reads through ``globals()`` (``params.config_from``), not by name."""


def markdown_words(notebook) -> int:
    cells = nbformat.read(notebook, as_version=4).cells
    prose = [NOTATION_TABLE.sub("", c.source) for c in cells if c.cell_type == "markdown"]
    return sum(len(re.findall(r"\S+", text)) for text in prose)


def parameters_cell(notebook) -> str:
    cells = nbformat.read(notebook, as_version=4).cells
    return next(c.source for c in cells if "parameters" in c.metadata.get("tags", []))


def names_in(code: str) -> set[str]:
    """The names a piece of code mentions (magics commented out so that it tokenizes)."""
    code = re.sub(r"^(\s*)%", r"\1#", code, flags=re.M)
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return {t.string for t in tokens if t.type == tokenize.NAME}


@pytest.mark.parametrize("notebook", runner.course_notebooks(), ids=lambda p: p.stem)
def test_each_chapter_is_within_the_budget(notebook):
    cells = len(nbformat.read(notebook, as_version=4).cells)
    words = markdown_words(notebook)
    assert cells <= MAX_CELLS, f"{notebook.name}: {cells} cells (budget {MAX_CELLS})"
    assert words <= MAX_WORDS, f"{notebook.name}: {words} words of Markdown ({MAX_WORDS})"


@pytest.mark.parametrize("notebook", runner.course_notebooks(), ids=lambda p: p.stem)
def test_each_parameters_cell_holds_what_its_chapter_uses_each_with_a_comment(notebook):
    source = parameters_cell(notebook)
    lines = [line for line in source.splitlines() if line.strip()]
    assert len(lines) <= 8, f"{notebook.name}: {len(lines)} parameters"
    for line in lines:
        assert "#" in line, f"{notebook.name}: no comment on {line!r}"
    cells = nbformat.read(notebook, as_version=4).cells
    code = "\n".join(c.source for c in cells if c.cell_type == "code" and c.source != source)
    used = names_in(code)
    for name in runner.declared_parameters(notebook):
        if name in READ_WHOLE:
            assert "config_from(globals()" in code, f"{notebook.name} never reads its {name}"
        else:
            assert name in used, f"{notebook.name} declares {name} but never uses it"


def test_the_budget_test_counts_what_it_claims(tmp_path):
    table = "| symbol | meaning |\n|---|---|\n| `v` | valence |\n"
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("one two\n" + table + "three | four"),
            nbformat.v4.new_code_cell("x"),
        ]
    )
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    assert markdown_words(path) == 5  # one two three | four: the table is not counted
    assert names_in("%matplotlib inline\nconfig = config_from(globals())") >= {"config", "globals"}
