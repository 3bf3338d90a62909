"""Run the course notebooks with papermill: validated parameters, one failure never stops the rest.

Executed copies go to ``outputs/<profile>/``; a status table and ``status.json`` close the run.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .params import ParameterError, load_profile, parameters_for, validate
from .paths import outputs_home, repo_root

KERNEL_NAME = "ferzoo"


def notebook_dir() -> Path:
    return repo_root() / "notebooks"


def course_notebooks() -> list[Path]:
    """The numbered notebooks in course order (00 explore, 10–13 methods, 20 evaluate, 30 …)."""
    return sorted(notebook_dir().glob("[0-9][0-9]_*.ipynb"))


def declared_parameters(notebook: Path) -> dict[str, Any]:
    """Names and defaults in the notebook's ``parameters`` cell."""
    import papermill

    info = papermill.inspect_notebook(str(notebook))
    if not info:
        raise ParameterError(f"{notebook.name} has no cell tagged 'parameters'")
    return {name: spec["default"] for name, spec in info.items()}


def check_profile_against_course(
    profile: dict[str, Any], notebooks: list[Path], source: str
) -> None:
    """A profile key that no course notebook declares is an error (a typo, or a stale key)."""
    declared = set().union(*(declared_parameters(nb) for nb in notebooks)) if notebooks else set()
    unused = sorted(set(profile) - declared)
    if unused:
        raise ParameterError(
            f"{source}: {unused} not declared by any notebook "
            f"({', '.join(nb.name for nb in notebooks)})"
        )


def kernel_name() -> str:
    """The project's registered kernel when present, else the default ``python3``."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


@dataclass
class NotebookResult:
    notebook: str
    status: str  # ok | failed
    seconds: float
    output: str
    error: str = ""


def run_notebooks(
    profile: str = "quick",
    only: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    out_dir: Path | None = None,
    kernel: str | None = None,
) -> list[NotebookResult]:
    """Execute the course notebooks (or those whose name starts with one of ``only``)."""
    import papermill

    params = load_profile(profile)
    validate(overrides or {}, "--set")
    everything = course_notebooks()
    check_profile_against_course(params, everything, f"params profile {profile!r}")
    chosen = [nb for nb in everything if not only or any(nb.stem.startswith(o) for o in only)]
    if not chosen:
        raise ParameterError(
            f"no notebook matches {only}; have {', '.join(nb.stem for nb in everything)}"
        )
    declared_by = {nb: declared_parameters(nb) for nb in chosen}
    check_profile_against_course(overrides or {}, chosen, "--set")
    out_dir = out_dir or outputs_home() / Path(str(profile)).stem
    out_dir.mkdir(parents=True, exist_ok=True)
    kernel = kernel or kernel_name()
    results = []
    for nb in chosen:
        declared = declared_by[nb]
        extra = {k: v for k, v in (overrides or {}).items() if k in declared}
        inject = parameters_for(declared, params, extra, nb.name)
        target = out_dir / nb.name
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(nb),
                str(target),
                parameters=inject,
                kernel_name=kernel,
                cwd=str(nb.parent),
                progress_bar=False,
                report_mode=False,
            )
            results.append(NotebookResult(nb.name, "ok", time.perf_counter() - start, str(target)))
        except Exception as err:  # one failing notebook must not stop the others
            results.append(
                NotebookResult(
                    nb.name,
                    "failed",
                    time.perf_counter() - start,
                    str(target),
                    f"{type(err).__name__}: {err}"[:500],
                )
            )
    (out_dir / "status.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    return results


def refresh_committed(only: list[str] | None = None, kernel: str | None = None) -> list[Path]:
    """Re-execute notebooks in place with their own defaults: the outputs that get committed.

    Readers on the web see these outputs and nbval compares the ``# NBVAL_CHECK_OUTPUT`` cells
    against them, so they must be exactly what the default run produces.
    """
    import papermill

    chosen = [
        nb for nb in course_notebooks() if not only or any(nb.stem.startswith(o) for o in only)
    ]
    here = Path.cwd()
    os.chdir(repo_root())  # relative paths keep machine-specific paths out of the metadata
    try:
        for nb in chosen:
            rel = str(nb.relative_to(repo_root()))
            papermill.execute_notebook(
                rel,
                rel,
                kernel_name=kernel or kernel_name(),
                cwd=str(nb.parent),
                progress_bar=False,
            )
    finally:
        os.chdir(here)
    return chosen


def format_status(results: list[NotebookResult]) -> str:
    width = max([len(r.notebook) for r in results] + [8])
    lines = [f"{'notebook':<{width}}  status   seconds", f"{'-' * width}  ------  --------"]
    for r in results:
        lines.append(f"{r.notebook:<{width}}  {r.status:<6}  {r.seconds:8.1f}")
        if r.error:
            lines.append(f"{'':<{width}}  -> {r.error.splitlines()[0][:200]}")
    total = sum(r.seconds for r in results)
    failed = sum(r.status != "ok" for r in results)
    lines.append(
        f"{len(results)} notebooks, {failed} failed, {total:.1f} s"
        + (f"; outputs in {os.path.relpath(Path(results[0].output).parent)}" if results else "")
    )
    return "\n".join(lines)
