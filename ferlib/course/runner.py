"""Run the course notebooks with papermill: validated parameters, one failure never stops the rest.

Executed copies go to ``outputs/<profile>/`` with every figure as a PNG under ``figures/``;
``summary.json`` and ``summary.md`` (each notebook's status and time, and the results table) close
the run. The run talks: a line as each notebook starts and ends, the running total and the time
left, estimated from the last run's per-notebook times on this profile (``timings.json``). A
notebook's copy replaces the earlier one only once executed; Ctrl-C keeps the earlier one and
leaves a summary that names the notebook it stopped.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from ..atomic import atomic_write_text, temporary_beside
from ..params import (
    PARAMETERS,
    ParameterError,
    load_profile,
    load_recipes,
    parameters_for,
    profile_path,
    resolve_config,
    validate,
)
from ..paths import display_path, outputs_home, repo_root
from .claims import ENV as CLAIMS_ENV
from .widgets import STATIC

KERNEL_NAME = "ferzoo"
TIMINGS = "timings.json"
"""Per-notebook seconds of the latest runs on a profile, kept in its output folder for the ETA."""


def notebook_dir() -> Path:
    return repo_root() / "notebooks"


def course_notebooks() -> list[Path]:
    """The numbered notebooks in course order (00 explore, 10–13 methods, 20 evaluate, 30 …)."""
    return sorted(notebook_dir().glob("[0-9][0-9]_*.ipynb"))


def select_notebooks(only: list[str] | None = None) -> list[Path]:
    """The course notebooks whose name starts with one of ``only`` (all without it); a prefix
    that matches no notebook is an error naming it and listing the notebooks."""
    everything = course_notebooks()
    unmatched = [o for o in only or [] if not any(nb.stem.startswith(o) for nb in everything)]
    if unmatched:
        which = ", ".join(repr(o) for o in unmatched)
        raise ParameterError(
            f"--only {which} matches no notebook; have {', '.join(nb.stem for nb in everything)}"
        )
    return [nb for nb in everything if not only or any(nb.stem.startswith(o) for o in only)]


def declared_parameters(notebook: Path) -> dict[str, Any]:
    """Names and defaults in the notebook's ``parameters`` cell (read once per file version:
    a course run asks for each notebook's several times while planning)."""
    return dict(_inspect(str(notebook), Path(notebook).stat().st_mtime_ns))


@functools.lru_cache(maxsize=64)
def _inspect(notebook: str, mtime_ns: int) -> dict[str, Any]:
    import papermill

    info = papermill.inspect_notebook(notebook)
    if not info:
        raise ParameterError(f"{Path(notebook).name} has no cell tagged 'parameters'")
    return {name: spec["default"] for name, spec in info.items()}


def reads(notebook: Path) -> set[str]:
    """The parameters a notebook takes: those it declares, and every run parameter when it
    declares ``profile`` or ``overrides`` (it reads them through those, ``params.config_from``)."""
    declared = set(declared_parameters(notebook))
    if declared & {"profile", "overrides"}:
        declared |= {k for k, p in PARAMETERS.items() if p.run}
    return declared


def check_profile_against_course(
    profile: dict[str, Any], notebooks: list[Path], source: str
) -> None:
    """A profile key that no course notebook takes is an error (a typo, or a stale key)."""
    taken = set().union(*(reads(nb) for nb in notebooks)) if notebooks else set()
    unused = sorted(set(profile) - taken)
    if unused:
        raise ParameterError(
            f"{source}: {unused} not declared by any notebook "
            f"({', '.join(nb.name for nb in notebooks)})"
        )


def kernel_name() -> str:
    """The project's registered kernel when present, else the default ``python3``."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


_KERNELS: weakref.WeakSet = weakref.WeakSet()
"""The kernel managers of this process (``stop_kernels``)."""


def stop_kernels() -> None:
    """Shut down every kernel this process started that still runs.

    After Ctrl-C, nbclient shuts down the kernel of the notebook it was executing; but Ctrl-C
    while a kernel starts lands before that clean-up is armed, and the orphan would print its own
    complaint ("Parent appears to have exited") after the run's last line.
    """
    from jupyter_core.utils import run_sync

    for manager in list(_KERNELS):
        if manager.has_kernel:
            run_sync(manager.shutdown_kernel)(now=True)


@functools.cache
def kernel_manager_class() -> type:
    """papermill's kernel manager, quiet on a normal run.

    Kernels use CurveZMQ transport encryption where pyzmq supports it (the project's kernelspec
    declares ``supported_encryption: curve``), so ipykernel has no "running over TCP without
    encryption" warning to print for every notebook; and a kernel that is being shut down after
    its notebook finished is not sent SIGINT first (jupyter_client's default), which it would
    report as "KeyboardInterrupt caught in kernel". Each manager is remembered (weakly) for
    ``stop_kernels``.
    """
    import zmq
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class QuietKernelManager(AsyncKernelManager):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            _KERNELS.add(self)

        @default("transport_encryption")
        def _transport_encryption_default(self) -> str:
            return "auto" if zmq.has("curve") else "disabled"

        async def _async_interrupt_kernel(self) -> None:
            if not self.shutting_down:
                await super()._async_interrupt_kernel()

    return QuietKernelManager


def minutes(seconds: float) -> str:
    """``42 s`` under two minutes, else ``3.5 min``: how the run reports durations."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def load_timings(out_dir: Path) -> dict[str, float]:
    """Seconds per executed notebook (by output name) from earlier runs into ``out_dir``."""
    try:
        timings = json.loads((out_dir / TIMINGS).read_text())
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in timings.items() if isinstance(v, (int, float))}


@dataclass
class NotebookResult:
    notebook: str  # the course notebook
    status: str  # ok | failed | skipped | interrupted (Ctrl-C) | not run (after an interruption)
    seconds: float
    output: str  # the executed copy
    error: str = ""  # the error, or why the step was skipped
    parameters: dict[str, Any] = field(default_factory=dict)  # its recipe and own settings
    figures: list[str] = field(default_factory=list)


@dataclass
class Step:
    """One notebook execution of the course run: which notebook, under which name, with what."""

    notebook: Path
    output: str
    parameters: dict[str, Any] = field(default_factory=dict)
    skip: str = ""
    recipe: dict[str, Any] = field(default_factory=dict)  # its method's section of the profile


def time_left(steps: list[Step], done: int, timings: dict[str, float]) -> float | None:
    """Estimated seconds for the steps after the first ``done``: each one's last time on this
    profile (skipped steps take none); None when a step has never run here."""
    ahead = [s for s in steps[done:] if not s.skip]
    if any(s.output not in timings for s in ahead):
        return None
    return sum(timings[s.output] for s in ahead)


def method_of(notebook: Path) -> str | None:
    """The method a teaching notebook trains (``1N_<method>.ipynb``, or ``1N_<method>_<part>``
    for a method taught over two chapters), else None."""
    from ..methods import METHODS

    if notebook.stem[0] != "1":
        return None
    name = notebook.stem.split("_", 1)[-1]
    return next((m for m in METHODS if name == m or name.startswith(f"{m}_")), None)


def plan_course(
    notebooks: list[Path],
    methods: list[str],
    cannot_run: dict[str, str] | None = None,
    recipes: dict[str, dict[str, Any]] | None = None,
) -> list[Step]:
    """The course in order: each chosen method's teaching notebooks, the evaluation with every
    runnable method, and one run per method of a notebook that takes a ``method``.

    ``cannot_run`` maps a method to why it cannot run on this data (ELIM without identities): its
    steps are planned as skipped with that reason, and it is left out of the comparison.
    ``recipes`` are the profile's per-method sections (``params.load_recipes``): each step records
    its method's section (``Step.recipe``). A chapter reads its recipes itself, through its
    ``profile`` (``params.config_from``); a chapter that declares a key of a section gets that
    key's value from it (``step_parameters``).
    """
    cannot_run = cannot_run or {}
    recipes = recipes or {}
    runnable = [m for m in methods if m not in cannot_run]
    steps = []
    for nb in notebooks:
        declared = declared_parameters(nb)
        method = method_of(nb)
        if method is not None:
            if method in methods:
                section = dict(recipes.get(method) or {})
                steps.append(Step(nb, nb.name, {}, cannot_run.get(method, ""), section))
        elif "method" in declared:
            for m in methods:
                section = dict(recipes.get(m) or {})
                output = f"{nb.stem}-{m}.ipynb"
                steps.append(Step(nb, output, {"method": m}, cannot_run.get(m, ""), section))
        elif "methods" in declared:
            steps.append(Step(nb, nb.name, {"methods": runnable}))
        else:
            steps.append(Step(nb, nb.name))
    return steps


def step_parameters(
    step: Step,
    profile: dict[str, Any],
    overrides: dict[str, Any] | None = None,
    name: str | Path | None = None,
) -> dict[str, Any]:
    """What papermill injects for one step: ``profile`` (``name``, the run's profile) when the
    notebook declares it, the profile's keys the notebook declares with the step's recipe over
    them, the ``--set`` keys (``overrides``: those it declares as themselves, the rest in its
    ``overrides``), then the step's own (its ``method`` or ``methods``)."""
    declared = declared_parameters(step.notebook)
    chosen = parameters_for(declared, {**profile, **step.recipe}, notebook=step.notebook.name)
    if name is not None and "profile" in declared:
        chosen["profile"] = profile_reference(name)
    chosen.update(inject(declared, overrides or {}))
    chosen.update(step.parameters)
    return chosen


def inject(declared: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as a notebook takes them: the names it declares as themselves, every other in
    its ``overrides`` when it declares one (merged over the ``overrides`` among ``values``); a
    notebook without ``overrides`` does not take the rest (``check_profile_against_course``
    makes sure some notebook of the run does)."""
    own = {k: v for k, v in values.items() if k in declared}
    rest = {k: v for k, v in values.items() if k not in declared}
    if not rest or "overrides" not in declared:
        return own
    return {**own, "overrides": {**dict(own.get("overrides") or {}), **rest}}


def profile_reference(profile: str | Path) -> str:
    """How a chapter names the run's profile: ``quick`` for one in ``params/``, an absolute path
    for any other (the kernel runs in ``notebooks/``, not where the path was given)."""
    given = Path(profile)
    if given.suffix not in (".yaml", ".yml") and len(given.parts) == 1:
        return str(profile)  # a name: params/<name>.yaml
    return str(profile_path(profile))


def unrunnable_methods(methods: list[str], config: dict[str, Any]) -> dict[str, str]:
    """Methods that cannot train on the configured data, with the reason (the data is loaded
    only when a chosen method has a requirement to check)."""
    from ..methods import METHODS, cannot_train

    needy = [m for m in methods if METHODS[m].needs_identities]
    if not needy:
        return {}
    from ..data import load_from_config

    data = load_from_config(config)
    reasons = {m: cannot_train(m, data) for m in needy}
    return {m: why for m, why in reasons.items() if why}


def save_figures(executed: Path, folder: Path) -> list[str]:
    """Every PNG a notebook displayed, as ``folder/fig-NN.png`` (so a run's figures can be
    browsed without Jupyter)."""
    import base64

    import nbformat

    names = []
    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"fig-{len(names) + 1:02d}.png"
                path.write_bytes(base64.b64decode(png))
                names.append(str(path))
    return names


def failure_line(err: BaseException) -> str:
    """The real exception of a failed notebook in one line ("ValueError: lr must be > 0"), not
    papermill's wrapper (whose own first line reads "PapermillExecutionError:" and no more)."""
    name, value = getattr(err, "ename", None), getattr(err, "evalue", None)
    if not name:
        name, value = type(err).__name__, str(err)
    lines = [line.strip() for line in str(value or "").splitlines() if line.strip()]
    return f"{name}: {lines[0] if lines else ''}".strip()[:300]


@dataclass
class CoursePlan:
    """What a course run will do (``plan_run``): the profile's values, the ``--set`` overrides,
    the resolved configuration (whose data the summary reports on), the methods and the steps."""

    profile: str
    params: dict[str, Any]
    overrides: dict[str, Any]
    config: dict[str, Any]
    methods: list[str]
    steps: list[Step]


def plan_run(
    profile: str = "quick",
    only: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    methods: list[str] | None = None,
) -> CoursePlan:
    """Check the profile, ``overrides`` and ``methods`` against the course, then plan its steps
    (``plan_course``) for the notebooks ``only`` names (all without it); nothing runs yet."""
    from ..methods import METHODS

    params = load_profile(profile)
    recipes = load_recipes(profile)
    validate(overrides or {}, "--set")
    methods = list(methods or METHODS)
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ParameterError(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    check_profile_against_course(params, course_notebooks(), f"params profile {profile!r}")
    chosen = select_notebooks(only)
    check_profile_against_course(overrides or {}, chosen, "--set")
    config = resolve_config(None, {**params, **(overrides or {})})
    # which methods this run trains or compares: only those need checking against the data
    involved = [m for m in methods if any(method_of(nb) == m for nb in chosen)]
    if any({"method", "methods"} & set(declared_parameters(nb)) for nb in chosen):
        involved = methods
    steps = plan_course(chosen, methods, unrunnable_methods(involved, config), recipes)
    return CoursePlan(str(profile), params, dict(overrides or {}), config, methods, steps)


@dataclass
class CourseRun:
    """A course run under way: its plan, where it writes, how it talks, and what has run."""

    plan: CoursePlan
    out_dir: Path
    kernel: str
    say: Callable[..., None]
    cell_progress: bool
    started: float  # when the run began (planning included)
    timings: dict[str, float] = field(default_factory=dict)  # ``TIMINGS``, updated as it goes
    results: list[NotebookResult] = field(default_factory=list)
    step_started: float = field(default_factory=time.perf_counter)  # the latest notebook's


def run_notebooks(
    profile: str = "quick",
    only: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    out_dir: Path | None = None,
    kernel: str | None = None,
    methods: list[str] | None = None,
    log: Callable[..., None] | None = None,
    cell_progress: bool = False,
) -> list[NotebookResult]:
    """Execute the course (or the notebooks whose name starts with one of ``only``) for
    ``methods`` (default: all), then write ``summary.json`` and ``summary.md`` in ``out_dir``:
    ``plan_run``, then ``execute_plan``, then ``report_run``.

    ``log`` receives the progress lines (``print(…, end=…)``-like; default: flushed to stdout);
    ``cell_progress`` shows papermill's per-cell progress bar inside each notebook. Each notebook
    replaces its output only once done (``execute_step``). Ctrl-C stops the kernel, keeps the
    earlier output of the notebook it cut, writes a summary that says so and raises
    ``CourseInterrupted``.
    """

    def say(text: str, end: str = "\n") -> None:
        if log is not None:
            log(text, end=end)
        else:
            print(text, end=end, flush=True)

    started = time.perf_counter()
    plan = plan_run(profile, only, overrides, methods)
    out_dir = out_dir or outputs_home() / Path(plan.profile).stem
    out_dir.mkdir(parents=True, exist_ok=True)
    run = CourseRun(plan, out_dir, kernel or kernel_name(), say, cell_progress, started)
    run.timings = load_timings(out_dir)
    estimate = time_left(plan.steps, 0, run.timings)
    say(
        f"FER-Zoo course, profile {Path(plan.profile).stem}: {len(plan.steps)} notebooks -> "
        f"{display_path(out_dir)}"
        + (f" (about {minutes(estimate)}, from the last run)" if estimate is not None else "")
    )
    run.step_started = time.perf_counter()
    execute_plan(run)
    report_run(run)
    return run.results


def execute_plan(run: CourseRun) -> None:
    """Each step of the plan in turn (``run_step``), its result added to ``run.results``;
    Ctrl-C stops the kernels and ends in ``report_interrupted``."""
    try:
        for i, step in enumerate(run.plan.steps, 1):
            run_step(run, i, step)
    except KeyboardInterrupt:
        stop_kernels()
        report_interrupted(run)


def run_step(run: CourseRun, i: int, step: Step) -> None:
    """The ``i``-th step: skipped with its reason, or executed (``execute_step``) with its
    figures saved and its time recorded; one line says how it went and the time left."""
    steps, out_dir, say = run.plan.steps, run.out_dir, run.say
    target = out_dir / step.output
    head = f"[{i:>{len(str(len(steps)))}}/{len(steps)}] {Path(step.output).stem}"
    parameters = {**step.recipe, **step.parameters}
    if step.skip:
        say(f"{head} skipped: {step.skip}")
        run.results.append(
            NotebookResult(step.notebook.name, "skipped", 0.0, str(target), step.skip, parameters)
        )
        return
    say(f"{head} …", end="\n" if run.cell_progress else "")
    inject = step_parameters(step, run.plan.params, run.plan.overrides, run.plan.profile)
    run.step_started = time.perf_counter()
    status, error, written = execute_step(step, target, inject, run.kernel, run.cell_progress)
    seconds = time.perf_counter() - run.step_started
    result = NotebookResult(step.notebook.name, status, seconds, str(target), error, parameters)
    run.results.append(result)  # done: a Ctrl-C from here on stops the next one
    if written:
        result.figures = save_figures(target, out_dir / "figures" / Path(step.output).stem)
    if status == "ok":
        run.timings[step.output] = seconds
        atomic_write_text(json.dumps(run.timings, indent=1, sort_keys=True), out_dir / TIMINGS)
        outcome = f"ok {seconds:.0f} s"
    else:
        outcome = f"FAILED after {seconds:.0f} s: {error.splitlines()[0][:160]}"
    clock = f"total {minutes(time.perf_counter() - run.started)}"
    left = time_left(steps, i, run.timings)
    if left is not None and i < len(steps):
        clock += f", about {minutes(left)} left"
    say(f"{head} {outcome}  ({clock})" if run.cell_progress else f" {outcome}  ({clock})")


def report_interrupted(run: CourseRun) -> NoReturn:
    """After Ctrl-C: the steps it cut off (``interrupted_results``) in the summary, and
    ``CourseInterrupted`` saying where it stopped."""
    remaining = run.plan.steps[len(run.results) :]
    cut = interrupted_results(remaining, run.out_dir, time.perf_counter() - run.step_started)
    where = f"during {Path(cut[0].output).name} ({cut[0].error})" if cut else "at the end"
    run.say(" interrupted" if cut and not run.cell_progress else f"interrupted {where}")
    plan, total = run.plan, time.perf_counter() - run.started
    write_summary(run.out_dir, plan.profile, plan.config, plan.methods, run.results + cut, total)
    raise CourseInterrupted(
        f"{where}; {display_path(run.out_dir / 'summary.md')} lists what ran"
    ) from None


def report_run(run: CourseRun) -> None:
    """``summary.json`` and ``summary.md`` (``write_summary``), and the closing line."""
    plan, results, total = run.plan, run.results, time.perf_counter() - run.started
    write_summary(run.out_dir, plan.profile, plan.config, plan.methods, results, total)
    counts = {k: sum(r.status == k for r in results) for k in ("ok", "skipped", "failed")}
    run.say(
        f"done in {minutes(total)}: {counts['ok']} ok, {counts['skipped']} skipped, "
        f"{counts['failed']} failed -> {display_path(run.out_dir / 'summary.md')}"
    )


class CourseInterrupted(KeyboardInterrupt):
    """Ctrl-C during a course run, raised once its summary says so; the message says where."""


def execute_step(
    step: Step, target: Path, parameters: dict[str, Any], kernel: str, cell_progress: bool
) -> tuple[str, str, bool]:
    """Execute one notebook into a temporary file beside ``target``: its status (ok or failed),
    the error, and whether ``target`` was written.

    The executed copy replaces ``target`` once papermill is done with it: the notebook ran to its
    end, or stopped at a failing cell, which it shows. Ctrl-C removes it and leaves ``target`` as
    an earlier run left it, and so does a failure before papermill wrote anything.
    """
    import papermill

    tmp = temporary_beside(target, prefix=f".{Path(step.output).stem}.")
    try:
        with kernel_environment({STATIC: "1"}):  # a batch run: sliders draw one static figure
            papermill.execute_notebook(
                str(step.notebook),
                str(tmp),
                parameters=parameters,
                kernel_name=kernel,
                cwd=str(step.notebook.parent),
                progress_bar=cell_progress,
                report_mode=False,
                kernel_manager_class=kernel_manager_class(),
            )
        status, error = "ok", ""
    except Exception as err:  # one failing notebook must not stop the others
        status, error = "failed", failure_line(err)
    except BaseException:  # Ctrl-C: the partial copy goes, the earlier output stays
        tmp.unlink(missing_ok=True)
        raise
    if tmp.stat().st_size == 0:
        tmp.unlink()
        return status, error, False
    record_output_path(tmp, target)
    os.replace(tmp, target)
    return status, error, True


def record_output_path(executed: Path, target: Path) -> None:
    """Make papermill's record of where it wrote ``executed`` name ``target``, its final name."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    if "papermill" in nb.metadata:
        nb.metadata.papermill["output_path"] = str(target)
        nbformat.write(nb, executed)


def interrupted_results(
    remaining: list[Step], out_dir: Path, seconds: float
) -> list[NotebookResult]:
    """The steps a Ctrl-C cut off: the one it stopped, whose earlier output (if any) is kept, and
    those after it, not run."""
    cut = []
    for k, step in enumerate(remaining):
        target = out_dir / step.output
        if k == 0:
            kept = "its earlier output is kept" if target.is_file() else "no output written"
            status, note = "interrupted", f"Ctrl-C; {kept}"
        else:
            status, note, seconds = "not run", "the run was interrupted before it", 0.0
        parameters = {**step.recipe, **step.parameters}
        cut.append(
            NotebookResult(step.notebook.name, status, seconds, str(target), note, parameters)
        )
    return cut


def write_summary(
    out_dir: Path,
    profile: str,
    config: dict[str, Any],
    methods: list[str],
    results: list[NotebookResult],
    total_seconds: float,
) -> None:
    """``summary.json`` (machine-readable) and ``summary.md`` (for people) of a course run: each
    notebook's status and time, and the results of every finished run on this data."""
    from ..reporting.runs import results_markdown, summarize_runs
    from ..runs.collect import runs_on_data

    found = runs_on_data(config, methods)  # the finished runs on this data
    summary = summarize_runs(found) if len(found) else pd.DataFrame()
    stopped = next((r for r in results if r.status == "interrupted"), None)
    blob = {
        "profile": profile,
        "dataset": config["dataset"],
        "methods": methods,
        "total_seconds": total_seconds,
        "interrupted": stopped.output if stopped else None,
        "notebooks": [asdict(r) for r in results],
        "results": json.loads(summary.to_json(orient="records")) if len(summary) else [],
    }
    atomic_write_text(json.dumps(blob, indent=1), out_dir / "summary.json")
    lines = [
        f"# FER-Zoo course run: profile `{profile}`, dataset `{config['dataset']}`",
        "",
        f"Methods: {', '.join(methods)}. Total wall time {total_seconds:.0f} s "
        f"({total_seconds / 60:.1f} min).",
        "",
    ]
    if stopped:
        lines += [
            f"**Interrupted** during `{Path(stopped.output).name}` ({stopped.error}); the "
            "notebooks after it did not run.",
            "",
        ]
    lines += [
        "| notebook | output | status | seconds | note |",
        "|:---|:---|:---|---:|:---|",
    ]
    for r in results:
        note = r.error.splitlines()[0][:120] if r.error else ""
        lines.append(
            f"| {r.notebook} | {Path(r.output).name} | {r.status} | {r.seconds:.1f} | {note} |"
        )
    lines += ["", "## Results (test split, every finished run on this data)", ""]
    lines.append(results_markdown(summary) if len(summary) else "No finished training runs.")
    atomic_write_text("\n".join(lines) + "\n", out_dir / "summary.md")


COMMITTED_PROFILES: dict[str, str] = {
    "00_explore_data": "diffusionfer",
    "10_baseline": "diffusionfer",
    "20_evaluate_va": "diffusionfer",
    "30_prompt_vs_expression": "diffusionfer",
}
"""Chapters whose committed outputs come from the real DiffusionFER-S development set, at the
profile's ``data_dir`` (``data/diffusionfer``). The others commit the ``quick`` profile the course
runs, SyntheticFER (CAF, AVCE and ELIM teach with identities and the resting-face bias that only
SyntheticFER controls; chapter 40 uses the shipped model)."""

COURSE_PROFILE = "quick"


def refresh_parameters(notebook: str | Path) -> dict[str, Any]:
    """What the refresh injects into a chapter: exactly what the course run gives it under its
    committed profile (``COMMITTED_PROFILES``, else ``quick``), the method's recipe included, so
    the committed outputs are what ``./run_all.sh`` shows. A chapter that runs once per method
    (``method``) is committed for its default method. Needs no data."""
    notebook = Path(notebook)
    profile = COMMITTED_PROFILES.get(notebook.stem, COURSE_PROFILE)
    from ..methods import METHODS

    methods = list(METHODS)
    steps = plan_course([notebook], methods, recipes=load_recipes(profile))
    if not steps:
        return {}
    own = declared_defaults(notebook).get("method")
    step = next((st for st in steps if st.parameters.get("method") == own), steps[0])
    return step_parameters(step, load_profile(profile), name=profile)


def committed_parameters(notebook: Path) -> dict[str, Any]:
    """``refresh_parameters``, after checking that the data they name is on this machine."""
    chosen = refresh_parameters(notebook)
    config = record_config(chosen)
    if config["dataset"] == "synthetic":
        return chosen
    folder = repo_root() / str(config["data_dir"] or "")
    if not (folder / "DiffusionEmotion_S").is_dir():
        raise ParameterError(
            f"{notebook.name} commits its outputs on DiffusionFER-S "
            f"(profile {COMMITTED_PROFILES.get(notebook.stem)!r}), which is not at {folder}: put "
            "the release there (or a link to it), e.g. "
            "`ln -s /path/to/DiffusionFER data/diffusionfer`"
        )
    return chosen


def record_config(record: dict[str, Any]) -> dict[str, Any]:
    """The run configuration a chapter's parameters stand for (what the refresh injects, or its
    committed record): its profile, the run values it names, then its ``overrides``."""
    own = {k: v for k, v in record.items() if k in PARAMETERS and PARAMETERS[k].run}
    return resolve_config(record.get("profile"), {**own, **dict(record.get("overrides") or {})})


def declared_defaults(notebook: Path) -> dict[str, Any]:
    """The values of the notebook's ``parameters`` cell (papermill reports them as source text)."""
    return {k: _value(v) for k, v in declared_parameters(notebook).items()}


def _value(source: Any) -> Any:
    """A parameter default as papermill reports it (source text) as its value."""
    import ast

    try:
        return ast.literal_eval(source) if isinstance(source, str) else source
    except (ValueError, SyntaxError):
        return source


def record_parameters(notebook: Path) -> dict[str, Any]:
    """Move papermill's injected-parameters cell of a refreshed chapter into its metadata
    (``ferzoo.committed_parameters``): the record of what its outputs were made with stays, and a
    reader who runs the notebook gets its own defaults, as its first cell says."""
    import ast

    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    recorded = nb.metadata.get("ferzoo", {}).get("committed_parameters", {})
    for cell in list(nb.cells):
        if "injected-parameters" in cell.metadata.get("tags", []):
            pairs = (line.split("=", 1) for line in cell.source.splitlines() if "=" in line)
            recorded = {k.strip(): ast.literal_eval(v.strip()) for k, v in pairs}
            nb.cells.remove(cell)
    nb.metadata.setdefault("ferzoo", {})["committed_parameters"] = recorded
    if "profile" in recorded:
        nb.metadata["ferzoo"]["committed_profile"] = profile_contents(recorded["profile"])
    nbformat.write(nb, notebook)
    return recorded


def profile_contents(profile: str | Path) -> dict[str, Any]:
    """A profile's values and per-method sections, as a refresh records them beside the chapter
    it made (``committed_profile``): a later change of the file is then visible."""
    return {**load_profile(profile), "recipes": load_recipes(profile)}


def committed_record(notebook: Path) -> dict[str, Any]:
    """What a chapter's committed outputs were made with ({} for its own defaults)."""
    return dict(_ferzoo_metadata(notebook).get("committed_parameters", {}))


def committed_profile(notebook: Path) -> dict[str, Any] | None:
    """The contents of the profile a chapter's committed outputs read, as the refresh recorded
    them (``profile_contents``); None without a record."""
    return _ferzoo_metadata(notebook).get("committed_profile")


def _ferzoo_metadata(notebook: Path) -> dict[str, Any]:
    import nbformat

    return dict(nbformat.read(notebook, as_version=4).metadata.get("ferzoo", {}))


def refresh_committed(
    only: list[str] | None = None, kernel: str | None = None, log: Callable[[str], None] = print
) -> list[Path]:
    """Re-execute notebooks in place: the outputs that get committed.

    Each chapter runs with ``refresh_parameters`` (the course run's parameters under its committed
    profile, recorded in the notebook's metadata by ``record_parameters``), its claims enforced
    (``FERZOO_CLAIMS=enforce``: a reading its numbers no longer support fails the refresh).
    Readers on the web see these outputs and nbval compares the ``# NBVAL_CHECK_OUTPUT`` cells
    against them, so they must be exactly what that run produces. ``log`` gets a line per notebook.
    """
    chosen = select_notebooks(only)
    parameters = {nb: committed_parameters(nb) for nb in chosen}  # a missing dataset fails first
    here = Path.cwd()
    os.chdir(repo_root())  # relative paths keep machine-specific paths out of the metadata
    started = time.perf_counter()
    try:  # the kernels inherit: claims enforced, sliders drawn as one static figure
        with kernel_environment({CLAIMS_ENV: "enforce", STATIC: "1"}):
            for i, nb in enumerate(chosen, 1):
                start = time.perf_counter()
                refresh_one(nb, parameters[nb], kernel)
                data = f" on profile {parameters[nb].get('profile', 'of its defaults')}"
                total = minutes(time.perf_counter() - started)
                log(
                    f"[{i}/{len(chosen)}] refreshed {nb.name}{data} in "
                    f"{time.perf_counter() - start:.0f} s (total {total})"
                )
    finally:
        os.chdir(here)
    return chosen


def refresh_one(notebook: Path, parameters: dict[str, Any], kernel: str | None) -> None:
    """Execute one chapter in place (from the repository root) and record its parameters."""
    import papermill

    rel = str(notebook.relative_to(repo_root()))
    papermill.execute_notebook(
        rel,
        rel,
        parameters=parameters or None,
        kernel_name=kernel or kernel_name(),
        cwd=str(notebook.parent),
        progress_bar=False,
        kernel_manager_class=kernel_manager_class(),
    )
    if parameters:
        record_parameters(notebook)


@contextlib.contextmanager
def kernel_environment(values: dict[str, str]) -> Iterator[None]:
    """Environment variables set for the block (the kernels started in it inherit them), then
    put back as they were."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def format_status(results: list[NotebookResult]) -> str:
    width = max([len(Path(r.output).name) for r in results] + [8])
    lines = [f"{'notebook':<{width}}  status   seconds", f"{'-' * width}  -------  --------"]
    for r in results:
        lines.append(f"{Path(r.output).name:<{width}}  {r.status:<7}  {r.seconds:8.1f}")
        if r.error:
            lines.append(f"{'':<{width}}  -> {r.error.splitlines()[0][:200]}")
    total = sum(r.seconds for r in results)
    failed = sum(r.status == "failed" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    lines.append(
        f"{len(results)} notebooks, {failed} failed, {skipped} skipped, {total:.1f} s"
        + (f"; outputs in {os.path.relpath(Path(results[0].output).parent)}" if results else "")
    )
    return "\n".join(lines)
