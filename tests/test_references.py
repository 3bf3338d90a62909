"""Every reference resolves inside the repository.

Scans the library, the tests, the notebooks (markdown and code), README.md, DEVELOPERS.md,
docs/ and params/ for
- section references, ``path.md §N`` / ``path.ipynb §N`` / `` `NN_name` §N`` (also ``§N-M``,
  ``§N item K``, ``§N, §M``): the file must exist and have section N (a numbered heading, or
  item M of a numbered list under heading N for ``§N.M``);
- bare ``§N``: they belong to the note a file declares with "(§ numbers below refer to it)", or, in
  a markdown file or notebook without one, to the file itself;
- relative markdown links ``[text](path)``: the target must exist;
and fails on any citation of the method notes that used to live outside the repository
(``shared/…``); only ``shared/data/`` may appear, as an optional data location.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import nbformat
import pytest

from ferlib.paths import repo_root

ROOT = repo_root()
NOTES = ROOT / "docs" / "methods"
SEC = r"\d+(?:\.\d+)?"
PATH_REF = re.compile(
    rf"(?P<path>[\w./-]+\.(?:md|ipynb)|`\d\d_\w+`)`{{0,2}}\)?\s*§(?P<sec>{SEC})"
    rf"(?:\s*[-–]\s*(?P<end>{SEC}))?(?:\s+items?\s+(?P<item>\d+)(?:\s*[-–]\s*(?P<item_end>\d+))?)?"
)
CHAIN = re.compile(rf"\s*(?:,|and)\s*§(?P<sec>{SEC})(?:\s*[-–]\s*(?P<end>{SEC}))?")
BARE = re.compile(rf"§(?P<sec>{SEC})(?:\s*[-–]\s*(?P<end>{SEC}))?")
DECLARED = re.compile(
    r"(?P<path>[\w./-]+\.(?:md|ipynb))`{0,2}\)?[^()\n]{0,12}\((?:§|section) numbers below refer"
)
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+§?(?P<num>\d+(?:\.\d+)*)\.?\s", re.M)
ITEM = re.compile(r"^(?P<num>\d+)\.\s", re.M)


def sources() -> list[Path]:
    here = Path(__file__).resolve()
    files = [ROOT / "README.md", ROOT / "DEVELOPERS.md"]
    files += sorted((ROOT / "ferlib").rglob("*.py"))
    files += sorted(p for p in (ROOT / "tests").rglob("*.py") if p.resolve() != here)
    files += sorted((ROOT / "notebooks").glob("*.ipynb"))
    files += sorted((ROOT / "docs").rglob("*.md"))
    files += sorted((ROOT / "params").glob("*.yaml"))
    return files


def texts(path: Path) -> list[tuple[str, bool]]:
    """(text, is_markdown) pieces of a file: notebooks give each cell's source."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return [(c.source, c.cell_type == "markdown") for c in nb.cells]
    return [(path.read_text(), path.suffix == ".md")]


@cache
def sections(target: Path) -> frozenset[str]:
    """Section numbers of a note or notebook: numbered headings, and ``N.M`` for item M of a
    numbered list under heading N."""
    pieces = [t for t, md in texts(target) if md] if target.suffix == ".ipynb" else None
    text = "\n".join(pieces) if pieces is not None else target.read_text()
    found: set[str] = set()
    heads = list(HEADING.finditer(text))
    for i, head in enumerate(heads):
        found.add(head["num"])
        body = text[head.end() : heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        found.update(f"{head['num']}.{item['num']}" for item in ITEM.finditer(body))
    return frozenset(found)


def resolve_ref(raw: str, source: Path) -> Path | None:
    """A referenced file: relative to the citing file, the repository root, or the notes."""
    if raw.startswith("`"):
        raw = f"notebooks/{raw.strip('`')}.ipynb"
    for base in (source.parent, ROOT, NOTES):
        candidate = (base / raw).resolve()
        inside = candidate.is_relative_to(ROOT) or candidate.is_relative_to(source.parent.resolve())
        if candidate.is_file() and inside:
            return candidate
    return None


def wanted(sec: str, end: str | None, item: str | None = None, item_end: str | None = None):
    numbers = [sec] + ([end] if end else [])
    if item:
        numbers = [f"{sec}.{item}"] + ([f"{sec}.{item_end}"] if item_end else [])
    return numbers


def references(path: Path) -> tuple[list[tuple[Path | str, str]], list[str]]:
    """(target, section) pairs cited by ``path`` and the links it makes (as written)."""
    pairs: list[tuple[Path | str, str]] = []
    links: list[str] = []
    pieces = texts(path)
    whole = "\n".join(t for t, _ in pieces)
    declared = DECLARED.search(whole)
    default: Path | str | None = None
    if declared:
        default = resolve_ref(declared["path"], path) or declared["path"]
    elif path.suffix in (".md", ".ipynb"):
        default = path
    for text, markdown in pieces:
        taken: list[tuple[int, int]] = []
        for m in PATH_REF.finditer(text):
            target = resolve_ref(m["path"], path) or m["path"]
            pairs += [(target, s) for s in wanted(m["sec"], m["end"], m["item"], m["item_end"])]
            end = m.end()
            while chained := CHAIN.match(text, end):
                pairs += [(target, s) for s in wanted(chained["sec"], chained["end"])]
                end = chained.end()
            taken.append((m.start(), end))
        for m in BARE.finditer(text):
            if any(a <= m.start() < b for a, b in taken):
                continue
            target = default if default is not None else f"{path.name} (no declared note)"
            pairs += [(target, s) for s in wanted(m["sec"], m["end"])]
        if markdown:
            links += [m["target"] for m in LINK.finditer(text)]
    return pairs, links


SOURCES = sources()


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", SOURCES, ids=rel)
def test_every_section_reference_resolves(path):
    pairs, _ = references(path)
    for target, section in pairs:
        assert isinstance(target, Path), f"{rel(path)}: §{section} cites {target}, not in the repo"
        assert section in sections(target), f"{rel(path)}: {rel(target)} has no §{section}"


@pytest.mark.parametrize("path", SOURCES, ids=rel)
def test_every_relative_markdown_link_resolves(path):
    _, links = references(path)
    for link in links:
        if re.match(r"[a-z]+:", link) or link.startswith("#"):
            continue  # a web address or an anchor on the same page
        target = (path.parent / link.split("#")[0]).resolve()
        assert target.exists(), f"{rel(path)}: link {link} points at nothing"
        assert target.is_relative_to(ROOT), f"{rel(path)}: link {link} leaves the repository"


@pytest.mark.parametrize("path", SOURCES, ids=rel)
def test_nothing_cites_notes_outside_the_repository(path):
    for text, _ in texts(path):
        outside = re.findall(r"(?:\.\./)?shared/(?!data/)[\w./-]*", text)
        assert not outside, f"{rel(path)} cites {outside}: cite docs/ instead"


def test_the_checks_have_something_to_check():
    """The scan finds the notes' citations (a broken pattern would make every test above pass)."""
    cited = {(rel(t), s) for p in SOURCES for t, s in references(p)[0] if isinstance(t, Path)}
    for note in ("README", "baseline", "caf", "avce", "elim", "metrics"):
        assert any(t == f"docs/methods/{note}.md" for t, _ in cited), f"nothing cites {note}.md"
    assert ("docs/methods/elim.md", "4.2") in cited and ("docs/methods/caf.md", "9.1") in cited
    assert len(cited) >= 80


def test_a_missing_section_or_file_is_caught(tmp_path):
    """The checker itself: a wrong section, a missing note and a bare § without a note fail."""
    note = tmp_path / "note.md"
    note.write_text("# Note\n\n## 1. Idea\n\n## 2. Steps\n\n1. first\n2. second\n")
    assert sections(note) == {"1", "2", "2.1", "2.2"}
    code = tmp_path / "module.py"
    code.write_text('"""See ``note.md`` §2.2 and ``note.md`` §3; also §1 and missing.md §1."""\n')
    pairs, _ = references(code)
    note = note.resolve()
    assert (note, "2.2") in pairs and (note, "3") in pairs
    assert ("missing.md", "1") in pairs
    assert ("module.py (no declared note)", "1") in pairs
    assert "3" not in sections(note)
