"""The course's notation: read ``docs/notation.md`` and check chapters and method notes against it.

``docs/notation.md`` holds Markdown tables headed ``| symbol | meaning | where |``. A row gives
one meaning to the symbols written in backticks in its first cell; ``where`` says where the
meaning is taught. A meaning that holds in some documents only (a chapter-local second meaning)
starts its ``where`` cell with ``only in`` followed by document keys (``only in 30, caf.md``); in
those documents it replaces the symbol's global row. Document keys: a chapter's two-digit prefix
(``13`` for ``notebooks/13_elim.ipynb``), a method note's or the glossary's file name
(``caf.md``, ``glossary.md``).

A chapter *defines* the symbols it uses in a two-column table ``| symbol | meaning |`` in its
Markdown (normally in its first cell), with the meaning copied from ``docs/notation.md``. A
method note or the glossary lists its symbols on a line that starts with ``**Symbols**`` (an
optional parenthesis, then a colon).

The checks (``tests/course/test_notation.py``):
- the table gives no symbol two meanings that hold in the same document;
- a chapter defines no symbol twice, none that the table lacks, and none with another meaning;
- a note lists only symbols the table has a meaning for;
- every symbol of the table is used (defined or listed) by some chapter or note where its
  meaning holds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..paths import repo_root

SYMBOL = re.compile(r"`([^`]+)`")
NOTE_LINE = re.compile(r"^\*\*Symbols\*\*[^:\n]*:(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Row:
    """One meaning: the symbols it covers, the meaning, where it holds (None: everywhere)."""

    symbols: tuple[str, ...]
    meaning: str
    where: str
    only_in: frozenset[str] | None
    line: int


def normalise(text: str) -> str:
    """Meanings compare after collapsing whitespace."""
    return " ".join(text.split())


def split_row(line: str) -> list[str]:
    """The cells of a Markdown table row; a ``|`` inside backticks or escaped as ``\\|`` stays."""
    cells, current, in_code, i = [], [], False, 0
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] == "|":
            current.append("|")
            i += 2
            continue
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    cells.append("".join(current).strip())
    return cells


def tables(text: str, header: tuple[str, ...]) -> list[tuple[int, list[str]]]:
    """``(line number, cells)`` of every row of the tables in ``text`` headed by ``header``."""
    rows, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        cells = split_row(lines[i]) if lines[i].lstrip().startswith("|") else []
        if tuple(c.lower() for c in cells[: len(header)]) == header:
            i += 2  # header and separator
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append((i + 1, split_row(lines[i])))
                i += 1
        else:
            i += 1
    return rows


def doc_sets(text: str) -> frozenset[str]:
    """Document keys in an ``only in`` cell: ``13``, ``14``, ``caf.md``, ..."""
    return frozenset(re.findall(r"\b\d\d\b|[\w.-]+\.md", text))


def parse_table(text: str) -> list[Row]:
    """The rows of ``docs/notation.md``'s ``| symbol | meaning | where |`` tables."""
    rows = []
    for line, cells in tables(text, ("symbol", "meaning", "where")):
        symbols = tuple(SYMBOL.findall(cells[0]))
        where = cells[2] if len(cells) > 2 else ""
        only = doc_sets(where) if where.lower().startswith("only in") else None
        rows.append(Row(symbols, normalise(cells[1]), normalise(where), only, line))
    return rows


def notation_table() -> Path:
    """``docs/notation.md``."""
    return repo_root() / "docs" / "notation.md"


def load_table(path: Path | None = None) -> list[Row]:
    """The rows of ``path`` (default: ``docs/notation.md``)."""
    return parse_table((path or notation_table()).read_text(encoding="utf-8"))


def doc_key(path: Path) -> str:
    """``notebooks/13_elim.ipynb`` -> ``13``; ``docs/methods/caf.md`` -> ``caf.md``."""
    path = Path(path)
    return path.name[:2] if path.suffix == ".ipynb" else path.name


def markdown_of(notebook: Path) -> list[str]:
    """The Markdown cells' sources of a notebook, in order."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def definitions(markdown: list[str]) -> list[tuple[str, str, int]]:
    """``(symbol, meaning, cell)`` for every row of every ``| symbol | meaning |`` table."""
    found = []
    for index, text in enumerate(markdown):
        for _, cells in tables(text, ("symbol", "meaning")):
            for symbol in SYMBOL.findall(cells[0]):
                found.append((symbol, normalise(cells[1]), index))
    return found


def note_symbols(text: str) -> list[str]:
    """The symbols a method note lists on its ``**Symbols**:`` line(s)."""
    return [s for line in NOTE_LINE.findall(text) for s in SYMBOL.findall(line)]


def rows_by_symbol(rows: list[Row]) -> dict[str, list[Row]]:
    by = {}
    for row in rows:
        for symbol in row.symbols:
            by.setdefault(symbol, []).append(row)
    return by


def table_problems(rows: list[Row]) -> list[str]:
    """Symbols with two meanings that hold in the same document."""
    problems = []
    for symbol, own in rows_by_symbol(rows).items():
        everywhere = [r for r in own if r.only_in is None]
        if len(everywhere) > 1:
            problems.append(
                f"`{symbol}` has {len(everywhere)} global meanings (lines "
                f"{', '.join(str(r.line) for r in everywhere)})"
            )
        local = [r for r in own if r.only_in is not None]
        for i, first in enumerate(local):
            for second in local[i + 1 :]:
                if first.only_in & second.only_in:
                    both = sorted(first.only_in & second.only_in)
                    problems.append(
                        f"`{symbol}` has two meanings in {both} "
                        f"(lines {first.line} and {second.line})"
                    )
        for row in own:
            if row.only_in is not None and not row.only_in:
                problems.append(f"`{symbol}` line {row.line}: 'only in' names no document")
    return problems


def meaning_in(rows: list[Row], symbol: str, doc: str) -> Row | None:
    """The row whose meaning of ``symbol`` holds in document ``doc`` (a local row wins)."""
    own = rows_by_symbol(rows).get(symbol, [])
    local = [r for r in own if r.only_in is not None and doc in r.only_in]
    if local:
        return local[0]
    everywhere = [r for r in own if r.only_in is None]
    return everywhere[0] if everywhere else None


def chapter_problems(rows: list[Row], defined: list[tuple[str, str, int]], doc: str) -> list[str]:
    """What is wrong with a chapter's definitions: none, twice, unknown, or another meaning."""
    problems = []
    if not defined:
        problems.append(f"{doc}: no `| symbol | meaning |` table in the chapter's Markdown")
    seen = {}
    for symbol, meaning, cell in defined:
        if symbol in seen:
            problems.append(
                f"{doc}: `{symbol}` is defined twice (Markdown cells {seen[symbol]} and {cell})"
            )
            continue
        seen[symbol] = cell
        row = meaning_in(rows, symbol, doc)
        if row is None:
            why = (
                "has no meaning that holds in this chapter"
                if symbol in rows_by_symbol(rows)
                else "is not in docs/notation.md"
            )
            problems.append(f"{doc}: `{symbol}` {why}")
        elif row.meaning != meaning:
            problems.append(
                f"{doc}: `{symbol}` means '{meaning}' here but '{row.meaning}' "
                f"in docs/notation.md (line {row.line})"
            )
    return problems


def note_problems(rows: list[Row], listed: list[str], doc: str) -> list[str]:
    problems = [] if listed else [f"{doc}: no **Symbols**: line"]
    for symbol in listed:
        if meaning_in(rows, symbol, doc) is None:
            problems.append(f"{doc}: `{symbol}` has no meaning in docs/notation.md that holds here")
    return problems


def unused(rows: list[Row], uses: dict[str, set[str]]) -> list[str]:
    """Rows of the table that no document uses where their meaning holds."""
    left = []
    for row in rows:
        for symbol in row.symbols:
            if not any(
                symbol in used and meaning_in(rows, symbol, doc) is row
                for doc, used in uses.items()
            ):
                left.append(f"`{symbol}` (line {row.line}: {row.meaning})")
    return left


def block(rows: list[Row], symbols: list[str], doc: str) -> str:
    """A chapter's notation table for ``symbols``: a row per meaning, in the table's order."""
    chosen = {}
    for symbol in symbols:
        row = meaning_in(rows, symbol, doc)
        if row is None:
            raise KeyError(f"`{symbol}` has no meaning for {doc} in docs/notation.md")
        chosen.setdefault(row, []).append(symbol)
    lines = ["| symbol | meaning |", "|---|---|"]
    for row in sorted(chosen, key=lambda r: r.line):
        order = [s for s in row.symbols if s in chosen[row]]
        meaning = row.meaning.replace("|", "\\|")
        lines.append(f"| {', '.join(f'`{s}`' for s in order)} | {meaning} |")
    return "\n".join(lines)


def documents(root: Path | None = None) -> dict[str, Path]:
    """Every document the notation covers: the chapters, the method notes and the glossary."""
    root = root or repo_root()
    docs = {doc_key(p): p for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
    docs.update({p.name: p for p in sorted((root / "docs" / "methods").glob("*.md"))})
    docs["glossary.md"] = root / "docs" / "glossary.md"
    return docs


def uses(docs: dict[str, Path]) -> dict[str, set[str]]:
    """The symbols each document defines (chapters) or lists (notes)."""
    used = {}
    for doc, path in docs.items():
        if path.suffix == ".ipynb":
            used[doc] = {s for s, _, _ in definitions(markdown_of(path))}
        else:
            used[doc] = set(note_symbols(path.read_text(encoding="utf-8")))
    return used
