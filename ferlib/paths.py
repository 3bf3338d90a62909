"""Where the repository, generated data and outputs live.

Notebooks run from their own folder under nbval and from the caller's folder under papermill, so
nothing in the project guesses with ``../``: every path is resolved from the repository root here.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UserError

ROOT_ENV = "FERZOO_ROOT"


def repo_root() -> Path:
    """The FER-Zoo checkout: ``$FERZOO_ROOT``, else the folder above the installed package that
    holds ``pyproject.toml``, else the current directory (a non-editable install)."""
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file() and (here / "ferlib").is_dir():
        return here
    return Path.cwd().resolve()


def data_home() -> Path:
    """Git-ignored folder for generated datasets and tensor caches."""
    return repo_root() / "data"


def results_home() -> Path:
    """``docs/results``: the committed tables and figures that README, chapters and the model
    card read (sweeps, recipe search, the shipped model's study and peers)."""
    return repo_root() / "docs" / "results"


OUTPUTS_ENV = "FERZOO_OUTPUTS"


def outputs_home() -> Path:
    """Git-ignored folder for executed notebooks, checkpoints and figures (``$FERZOO_OUTPUTS``
    when set: tests and scratch runs keep the course's own runs untouched)."""
    env = os.environ.get(OUTPUTS_ENV)
    return Path(env).expanduser().resolve() if env else repo_root() / "outputs"


def resolve(path: str | os.PathLike[str] | None, default: Path | None = None) -> Path | None:
    """A user path: absolute or ``~`` paths as given, relative ones from the repository root."""
    if path is None or str(path) == "":
        return default
    p = Path(path).expanduser()
    return p if p.is_absolute() else (repo_root() / p).resolve()


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the repository when near it (no machine-specific prefix in notebook
    outputs), absolute otherwise."""
    p = Path(path).resolve()
    rel = os.path.relpath(p, repo_root())
    return rel if rel.count("..") <= 2 else str(p)


class NotWritableError(UserError):
    """A folder FER-Zoo must write into cannot be written; the message names it and why."""


def check_writable_dir(path: str | os.PathLike[str], what: str = "output folder") -> Path:
    """``path`` if it is (or can be created as) a writable folder; else ``NotWritableError``
    naming the path and the reason. Called before any training starts, so a run never fails
    after an hour on a folder it could not write to."""
    target = Path(path).expanduser()
    probe = target
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "" if probe == target else f" (in the way of {target})"
        raise NotWritableError(f"{what} {probe} is a file, not a folder{where}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise NotWritableError(f"{what} {target}: {probe} is not writable (permission denied)")
    return target
