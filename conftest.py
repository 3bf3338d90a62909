"""nbval on a training budget: the notebooks' own data and checks, a fraction of their training.

nbval executes every notebook in ``notebooks/`` with ``--nbval-lax``: a cell marked
``# NBVAL_CHECK_OUTPUT`` must reproduce its committed output, the rest must run. Those marked
cells never depend on a trained model (they check data, shapes and hand-worked numbers), so the
notebooks run here with the parameters of ``params/nbval.yaml`` injected after their
``parameters`` cell, as papermill does: same data, two epochs, one seed. Their runs go to a
temporary ``FERZOO_OUTPUTS``, never into the course's ``outputs/``. The full default run is what
``ferlib notebooks --refresh`` commits and ``./run_all.sh`` executes.

Every chapter runs with what its committed outputs were made with (its metadata records it,
``ferzoo.committed_parameters``: the course run's parameters, recipe included), the budget over
them. Chapters whose committed outputs come from the real DiffusionFER-S development set
(``ferlib.course.runner.COMMITTED_PROFILES``):
- with the data at the committed ``data_dir`` (``data/diffusionfer``), they run on it with the
  budget and their marked cells are compared;
- with the data only at the tests' optional ``FERZOO_DEV_SET`` location, they run on it, but
  nothing is compared (the outputs name the folder the data was read from);
- without the data, they run on their SyntheticFER defaults as a smoke test, nothing compared.
``tests/course/test_real_data.py`` checks their key numbers against the data whenever it is present.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict

import pytest

BUDGET = "params/nbval.yaml"


def _real_data(config: dict) -> tuple[str | None, bool]:
    """Where the committed outputs' dataset (``config``: their resolved configuration) is on this
    machine (None when absent), and whether that is the committed location (only then can
    outputs be compared)."""
    from pathlib import Path

    from ferlib.paths import repo_root

    if not config.get("data_dir"):
        return None, False
    dev = os.environ.get("FERZOO_DEV_SET", repo_root().parent / "shared/data/diffusionfer_s_dev")
    places = ((repo_root() / config["data_dir"], True), (Path(dev), False))
    for folder, committed_place in places:
        if (folder / "DiffusionEmotion_S" / "dataset_sheet.csv").is_file():
            return (config["data_dir"] if committed_place else str(folder)), committed_place
    return None, False


def _budget() -> dict:
    from ferlib.params import load_profile

    return load_profile(BUDGET)


_OUTPUTS = pytest.StashKey[str]()


def _session_outputs(config: pytest.Config) -> str:
    """One temporary outputs folder per test session: later chapters load earlier ones' runs."""
    if _OUTPUTS not in config.stash:
        folder = tempfile.mkdtemp(prefix="ferzoo-nbval-")
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
        config.stash[_OUTPUTS] = folder
    return config.stash[_OUTPUTS]


try:
    from nbval.plugin import IPyNbCell, IPyNbFile, find_comment_markers, find_metadata_tags
except ImportError:  # nbval not installed: plain pytest still runs the unit tests
    IPyNbFile = None
else:

    class BudgetNotebook(IPyNbFile):
        """A course notebook as nbval runs it, with the budget injected and its own outputs."""

        def collect(self):
            from papermill.iorw import load_notebook_node
            from papermill.parameterize import parameterize_notebook

            import ferlib.methods  # noqa: F401  (registers the methods a profile's recipes name)
            from ferlib.course.runner import (
                committed_record,
                declared_parameters,
                inject,
                reads,
                record_config,
            )

            declared = declared_parameters(self.path)
            budget = {k: v for k, v in _budget().items() if k in reads(self.path)}
            nb = load_notebook_node(str(self.path))  # as papermill reads it: every cell tagged
            committed = committed_record(self.path)
            config = record_config(committed)
            data_dir, comparable = _real_data(config)
            real = config["dataset"] != "synthetic"
            smoke_only = real and not comparable  # real-data outputs, not comparable
            if not real:  # the committed SyntheticFER run (its recipe), on the budget
                budget = {**committed, **budget}
            elif data_dir is not None:
                budget = {**committed, "data_dir": data_dir, **budget}
            budget = inject(declared, budget)
            self.nb = parameterize_notebook(nb, budget) if budget else nb
            code = [cell for cell in self.nb.cells if cell.cell_type == "code"]
            for number, cell in enumerate(code):
                options = defaultdict(bool, find_metadata_tags(cell.metadata))
                options.update(dict(find_comment_markers(cell.source)))
                options.setdefault("check", self.compare_outputs)
                if smoke_only:
                    options["check"] = False
                item = IPyNbCell.from_parent(
                    self, name=f"Cell {number}", cell_num=number, cell=cell, options=options
                )
                item.add_marker(pytest.mark.slow)  # executing notebooks: not in `-m "not slow"`
                yield item

        def setup(self):
            from ferlib.course.runner import kernel_environment
            from ferlib.course.widgets import STATIC
            from ferlib.paths import OUTPUTS_ENV

            # the kernel inherits: this session's outputs, sliders drawn as one static figure
            values = {OUTPUTS_ENV: _session_outputs(self.config), STATIC: "1"}
            with kernel_environment(values):
                super().setup()


@pytest.hookimpl(hookwrapper=True)
def pytest_collect_file(file_path, parent):
    """Swap nbval's collector for ``BudgetNotebook`` on the course notebooks."""
    outcome = yield
    if IPyNbFile is None or file_path.parent.name != "notebooks":
        return
    collected = outcome.get_result()
    if collected and any(isinstance(c, IPyNbFile) for c in collected):
        outcome.force_result(
            [
                BudgetNotebook.from_parent(parent, path=file_path)
                if isinstance(c, IPyNbFile)
                else c
                for c in collected
            ]
        )
