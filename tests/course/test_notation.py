"""One notation (issue 24): docs/notation.md against the chapters, method notes and glossary.

The helpers are ferlib/course/notation.py. Every check is also run on small synthetic documents
(tmp_path notebooks and tables) to show that it fails when it should.
"""

import json

import pytest

from ferlib.course import notation

DOCS = notation.documents()
ROWS = notation.load_table()
CHAPTERS = sorted(doc for doc, path in DOCS.items() if path.suffix == ".ipynb")
NOTES = sorted(doc for doc, path in DOCS.items() if path.suffix == ".md")


def test_the_table_is_read():
    symbols = notation.rows_by_symbol(ROWS)
    assert len(ROWS) > 100
    for symbol in (
        "x",
        "v",
        "a",
        "ρ",
        "ρ_c",
        "r_rest",
        "b_rest",
        "g_a",
        "m_B",
        "λ_avce",
        "G",
        "K",
        "Γ",
        "κ",
    ):
        assert symbol in symbols, symbol


def test_no_symbol_has_two_meanings_in_one_document():
    assert notation.table_problems(ROWS) == []


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_defines_its_symbols_as_the_table_does(doc):
    defined = notation.definitions(notation.markdown_of(DOCS[doc]))
    assert notation.chapter_problems(ROWS, defined, doc) == []


@pytest.mark.parametrize("doc", NOTES)
def test_note_lists_symbols_the_table_defines(doc):
    listed = notation.note_symbols(DOCS[doc].read_text(encoding="utf-8"))
    assert notation.note_problems(ROWS, listed, doc) == []


def test_every_documented_symbol_is_used():
    assert notation.unused(ROWS, notation.uses(DOCS)) == []


# --- the checks fire: synthetic tables and notebooks ---------------------------------------------

TABLE = """# Notation

| symbol | meaning | where |
|---|---|---|
| `v`, `a` | valence and arousal | 00 |
| `K` | images per identity | 13 |
| `K` | Gibbs kernel | only in 13 |
| `ρ` | Pearson's correlation | 10 |
| `q` | a bottleneck with a \\| pipe, `\\|x\\|` | 12 |
"""


def notebook(tmp_path, name, *markdown):
    cells = [
        {"cell_type": "markdown", "id": f"c{i}", "metadata": {}, "source": text}
        for i, text in enumerate(markdown)
    ]
    cells.append(
        {
            "cell_type": "code",
            "id": "code",
            "metadata": {},
            "source": "x = 1",
            "outputs": [],
            "execution_count": None,
        }
    )
    path = tmp_path / name
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def problems_of(path, rows):
    defined = notation.definitions(notation.markdown_of(path))
    return notation.chapter_problems(rows, defined, notation.doc_key(path))


def test_synthetic_table_parses_pipes_and_local_meanings():
    rows = notation.parse_table(TABLE)
    assert [r.symbols for r in rows] == [("v", "a"), ("K",), ("K",), ("ρ",), ("q",)]
    assert rows[4].meaning == "a bottleneck with a | pipe, `|x|`"
    assert rows[2].only_in == {"13"} and rows[1].only_in is None
    assert notation.meaning_in(rows, "K", "13") is rows[2]  # the local meaning wins in 13
    assert notation.meaning_in(rows, "K", "20") is rows[1]
    assert notation.table_problems(rows) == []


def test_two_global_meanings_fail():
    rows = notation.parse_table(TABLE + "| `ρ` | CAF's penalty | 11 |\n")
    assert any("`ρ` has 2 global meanings" in p for p in notation.table_problems(rows))


def test_two_local_meanings_in_one_chapter_fail():
    rows = notation.parse_table(TABLE + "| `K` | AKNN size | only in 11, 13 |\n")
    assert any("`K` has two meanings in ['13']" in p for p in notation.table_problems(rows))


def test_a_correct_chapter_passes(tmp_path):
    rows = notation.parse_table(TABLE)
    block = notation.block(rows, ["K", "v", "a"], "13")
    first = "# 13 · A chapter\n\n**Notation**\n\n" + block + "\n\nText."
    assert problems_of(notebook(tmp_path, "13_x.ipynb", first, "## More"), rows) == []


def test_a_symbol_defined_twice_in_one_chapter_fails(tmp_path):
    rows = notation.parse_table(TABLE)
    first = "| symbol | meaning |\n|---|---|\n| `ρ` | Pearson's correlation |\n"
    later = "Later:\n\n| symbol | meaning |\n|---|---|\n| `ρ` | Pearson's correlation |\n"
    problems = problems_of(notebook(tmp_path, "10_x.ipynb", first, later), rows)
    assert problems == ["10: `ρ` is defined twice (Markdown cells 0 and 1)"]


def test_another_meaning_fails(tmp_path):
    rows = notation.parse_table(TABLE)
    # the global meaning of K, written in the chapter where the local one holds
    first = "| symbol | meaning |\n|---|---|\n| `K` | images per identity |\n"
    problems = problems_of(notebook(tmp_path, "13_x.ipynb", first), rows)
    assert len(problems) == 1
    assert "`K` means 'images per identity' here but 'Gibbs kernel'" in problems[0]


def test_an_unknown_symbol_and_a_missing_table_fail(tmp_path):
    rows = notation.parse_table(TABLE)
    first = "| symbol | meaning |\n|---|---|\n| `κ` | a mass factor |\n"
    assert problems_of(notebook(tmp_path, "13_x.ipynb", first), rows) == [
        "13: `κ` is not in docs/notation.md"
    ]
    assert problems_of(notebook(tmp_path, "20_x.ipynb", "# No table"), rows) == [
        "20: no `| symbol | meaning |` table in the chapter's Markdown"
    ]


def test_an_unused_symbol_fails(tmp_path):
    rows = notation.parse_table(TABLE)
    first = (
        "| symbol | meaning |\n|---|---|\n| `v`, `a` | valence and arousal |\n"
        "| `K` | images per identity |\n"
    )
    path = notebook(tmp_path, "20_x.ipynb", first)
    used = notation.uses({"20": path})
    left = notation.unused(rows, used)
    # K: only its global meaning is used
    assert [p.split(" ")[0] for p in left] == ["`K`", "`ρ`", "`q`"]
    used["13"] = {"K"}
    used["caf.md"] = {"ρ", "q"}
    assert notation.unused(rows, used) == []


def test_a_note_lists_only_known_symbols(tmp_path):
    rows = notation.parse_table(TABLE)
    assert notation.note_symbols("x\n**Symbols**: `v`, `ρ`, `κ`\n") == ["v", "ρ", "κ"]
    assert notation.note_problems(rows, ["v", "κ"], "caf.md") == [
        "caf.md: `κ` has no meaning in docs/notation.md that holds here"
    ]
    assert notation.note_problems(rows, [], "caf.md") == ["caf.md: no **Symbols**: line"]


def test_the_block_is_what_the_check_reads(tmp_path):
    """A chapter table made by `notation.block` from the real table passes the real check."""
    symbols = ["x", "v", "a", "ρ", "z"]
    first = "**Notation**\n\n" + notation.block(ROWS, symbols, "10")
    path = notebook(tmp_path, "10_x.ipynb", first)
    defined = notation.definitions(notation.markdown_of(path))
    assert sorted(s for s, _, _ in defined) == sorted(symbols)
    assert notation.chapter_problems(ROWS, defined, "10") == []
