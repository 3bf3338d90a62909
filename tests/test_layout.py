"""The package layout's rules, checked on the source: numbers never import figures, no module
imports another's private names, and every "Taught in" pointer names a real chapter section."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from ferlib.paths import repo_root

PACKAGE = repo_root() / "ferlib"
SOURCES = sorted(PACKAGE.rglob("*.py"))
NUMBERS = ("data", "evaluation", "methods", "models", "reporting", "runs", "synthetic", "training")
"""Subpackages that compute; only ``figures`` and ``course`` may draw."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(absolute module, imported names) of every ``from … import …`` in ``path``."""
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    )
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
    return found


def test_the_layout_has_one_folder_per_job():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders == {
        "course", "data", "evaluation", "figures", "inference", "methods", "models", "reporting",
        "runs", "synthetic", "training",
    }  # fmt: skip
    top = {p.name for p in PACKAGE.glob("*.py")}
    assert top == {
        "__init__.py", "__main__.py", "atomic.py", "cli.py", "cli_options.py", "distributed.py",
        "emotions.py", "errors.py", "params.py", "paths.py",
    }  # fmt: skip
    readme = (repo_root() / "README.md").read_text()
    for folder in folders:
        assert f"{folder}/" in readme, f"README's layout section does not describe ferlib/{folder}/"


NUMBER_SOURCES = [p for p in SOURCES if p.relative_to(PACKAGE).parts[0] in NUMBERS]


@pytest.mark.parametrize("path", NUMBER_SOURCES, ids=lambda p: module_name(p))
def test_numbers_never_import_figures(path):
    for module, _ in imports(path):
        assert not module.startswith(("ferlib.figures", "matplotlib", "seaborn")), (
            f"{module_name(path)} imports {module}: numbers must not depend on figures"
        )


REPORTING_SOURCES = [p for p in SOURCES if p.relative_to(PACKAGE).parts[0] == "reporting"]


@pytest.mark.parametrize("path", REPORTING_SOURCES, ids=lambda p: module_name(p))
def test_reporting_only_makes_tables(path):
    """Training, loading checkpoints and reading run folders are ``ferlib.runs``'s."""
    for module, _ in imports(path):
        assert not module.startswith(("ferlib.training", "ferlib.runs")), (
            f"{module_name(path)} imports {module}: reporting turns metrics into tables"
        )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_no_module_imports_another_modules_private_names(path):
    for module, names in imports(path):
        if not module.startswith("ferlib"):
            continue
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{module_name(path)} imports private {private} from {module}"


def headings(notebook: Path) -> list[str]:
    nb = nbformat.read(notebook, as_version=4)
    return [
        line.lstrip("#").strip()
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if re.match(r"#{2,3} ", line)
    ]


def test_taught_in_pointers_name_real_sections():
    pointers = [
        (path, match)
        for path in SOURCES
        for match in re.finditer(
            r"Taught in ``notebooks/([\w]+\.ipynb)`` §(\d+(?:\.\d+)?)", path.read_text()
        )
    ]
    assert len(pointers) >= 30
    for path, match in pointers:
        notebook = repo_root() / "notebooks" / match.group(1)
        assert notebook.is_file(), f"{path.name}: no notebook {match.group(1)}"
        section = match.group(2)
        assert any(
            h.startswith(f"{section} ") or h.startswith(f"{section}. ") for h in headings(notebook)
        ), f"{path.name}: {match.group(1)} has no section {section}"
