"""Recipe search per method, on the validation split only (README "Recipes per method").

A search space (``params/search/quick.yaml``) names, per method, a few *candidates*: overrides on
the shared top level of a profile. Every candidate trains with the same seeds and the same budget
(the profile's iterations), in its own run folder, and is scored by the **best validation mean
CCC** of each run — the epoch whose checkpoint the run keeps — averaged over the seeds. The test
split never enters the choice: it is scored once, afterwards, on the chosen recipe
(``ferlib results``).

``ferlib search`` trains what is missing, writes one table per method and prints the chosen
sections in the form ``recipes:`` takes in a profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..data import load_from_config
from ..data.fingerprint import data_fingerprint
from ..params import (
    PARAMETERS,
    RECIPES,
    ParameterError,
    load_profile,
    load_yaml,
    resolve_config,
    validate,
)
from ..paths import repo_root
from ..training.trainer import run_dir

SCORE = "val_ccc_mean"
"""The selection score: a run's best validation mean CCC (the epoch its checkpoint keeps)."""

SEARCH_SPACE = "params/search/quick.yaml"


def load_space(path: str | Path = SEARCH_SPACE) -> dict[str, Any]:
    """The search space: ``profile``, ``seeds`` and ``methods`` → candidate name → overrides.

    Every override is checked like a ``--set`` value; ``method`` and ``seed`` may not be set (the
    search picks them).
    """
    path = Path(path)
    if not path.is_absolute():
        path = repo_root() / path
    try:
        space = load_yaml(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ParameterError(f"{path}: cannot read the search space ({err})") from err
    missing = {"profile", "seeds", "methods"} - set(space)
    if missing:
        raise ParameterError(f"{path}: the search space lacks {sorted(missing)}")
    for method, candidates in space["methods"].items():
        if not isinstance(candidates, Mapping) or not candidates:
            raise ParameterError(f"{path}: methods.{method} must map candidate names to overrides")
        for name, overrides in candidates.items():
            picked = set(overrides or {}) & {"method", "seed"}
            if picked:
                raise ParameterError(f"{path}: {method}.{name} may not set {sorted(picked)}")
            validate(dict(overrides or {}), f"{path}: {method}.{name}")
    return space


def candidate_config(
    profile: str | Path, method: str, overrides: Mapping[str, Any], seed: int
) -> dict[str, Any]:
    """One candidate's run configuration: the profile's shared top level (none of its per-method
    sections), then the candidate's overrides."""
    shared = {**load_profile(profile), RECIPES: {}}
    return resolve_config(shared, {**overrides, "method": method, "seed": seed})


def search_configs(space: Mapping[str, Any], methods: list[str] | None = None) -> list[dict]:
    """Every run the search needs: each candidate of each chosen method at each seed."""
    chosen = methods or list(space["methods"])
    unknown = sorted(set(chosen) - set(space["methods"]))
    if unknown:
        raise ParameterError(f"no candidates for {unknown} in the search space")
    return [
        candidate_config(space["profile"], method, overrides or {}, seed)
        for method in chosen
        for overrides in space["methods"][method].values()
        for seed in space["seeds"]
    ]


def best_validation(run: Path) -> float:
    """The best validation mean CCC in a finished run's ``history.csv``."""
    history = pd.read_csv(run / "history.csv")
    return float(history["val_ccc_mean"].max())


def run_folder(config: dict[str, Any]) -> Path:
    """The run folder of ``config`` on its data (its data fingerprint included)."""
    data_keys = tuple(
        (k, repr(v)) for k, v in sorted(config.items()) if PARAMETERS[k].group == "data"
    )
    return run_dir(config, data_digest=_data_digest(data_keys, config))


_DIGESTS: dict[tuple, str] = {}


def _data_digest(key: tuple, config: dict[str, Any]) -> str:
    """The data fingerprint's digest, once per data configuration (loading is the slow part)."""
    if key not in _DIGESTS:
        _DIGESTS[key] = data_fingerprint(load_from_config(config))["digest"]
    return _DIGESTS[key]


def search_table(space: Mapping[str, Any], method: str, folder: Any = run_folder) -> pd.DataFrame:
    """One row per candidate of ``method``: its overrides, the validation score per seed, their
    mean and standard deviation, ranked best first (``chosen`` marks the first).

    ``folder(config)`` gives a run's folder (tests pass their own); a candidate with an unfinished
    seed raises, naming the run.
    """
    rows = []
    for name, overrides in space["methods"][method].items():
        overrides = dict(overrides or {})
        row: dict[str, Any] = {"candidate": name, "overrides": _describe(overrides)}
        scores = []
        for seed in space["seeds"]:
            run = Path(folder(candidate_config(space["profile"], method, overrides, seed)))
            if not (run / "history.csv").is_file() or not (run / "metrics.json").is_file():
                raise FileNotFoundError(f"{method}.{name} seed {seed} has no finished run at {run}")
            scores.append(best_validation(run))
            row[f"seed{seed}"] = scores[-1]
        row[SCORE] = sum(scores) / len(scores)
        row["std"] = float(pd.Series(scores).std(ddof=1)) if len(scores) > 1 else float("nan")
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(SCORE, ascending=False, kind="stable")
    table["chosen"] = [True] + [False] * (len(table) - 1)
    return table.reset_index(drop=True)


def chosen_overrides(space: Mapping[str, Any], method: str, table: pd.DataFrame) -> dict:
    """The overrides of ``table``'s chosen candidate (what goes into the profile's section)."""
    name = table.loc[table["chosen"], "candidate"].iloc[0]
    return dict(space["methods"][method][name] or {})


def recipes_yaml(sections: Mapping[str, Mapping[str, Any]]) -> str:
    """``recipes:`` sections as a profile writes them (an empty section for a method whose
    shared recipe won)."""
    return yaml.safe_dump(
        {RECIPES: {m: dict(s) or None for m, s in sections.items()}},
        sort_keys=False,
        default_flow_style=None,
    )


def _describe(overrides: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in overrides.items()) or "(the shared recipe)"


__all__ = [
    "SCORE",
    "SEARCH_SPACE",
    "best_validation",
    "candidate_config",
    "chosen_overrides",
    "load_space",
    "recipes_yaml",
    "run_folder",
    "search_configs",
    "search_table",
]
