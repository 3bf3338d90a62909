"""Runs: train these configurations, find their runs, collect their metrics.

- ``store``: where a run lives (``run_dir``: a hash of the configuration and the data
  fingerprint), ``fit_or_load`` (a finished run reused, else trained), ``train_run``
  (``ferlib train``: every check before the data loads, then the Trainer), ``matching_runs``;
- ``parallel``: ``train_runs`` (a list of configurations, several at a time) and ``seed_runs``
  (every method and seed on some data, the missing ones trained);
- ``collect``: finished runs read back (``collect_runs``, histories) and the summaries
  ``ferlib results`` prints;
- ``search`` and ``sweep``: the two grids, ``ferlib search`` (each method's recipe, chosen on
  validation) and ``ferlib sweep`` (every method along one SyntheticFER axis).

The Trainer itself is ``ferlib.training.trainer``; ``ferlib.reporting`` turns what is collected
here into tables.
"""

from .collect import collect_runs, histories, results_summary, runs_on_data, stopping_summary
from .parallel import seed_runs, train_runs
from .store import (
    fit_or_load,
    is_finished,
    matching_runs,
    run_dir,
    run_folder,
    runs_root,
    train_run,
)

__all__ = [
    "collect_runs",
    "fit_or_load",
    "histories",
    "is_finished",
    "matching_runs",
    "results_summary",
    "run_dir",
    "run_folder",
    "runs_on_data",
    "runs_root",
    "seed_runs",
    "stopping_summary",
    "train_run",
    "train_runs",
]
