"""Recipe search per method, on the validation split only (README "Recipes per method").

A search space (``params/search/quick.yaml``) names, per method, a few *candidates*: overrides on
the shared top level of a profile. Every candidate trains with the same seeds and the same budget
(the profile's iterations), in its own run folder, and is scored by the **best validation mean
CCC** of each run — the epoch whose checkpoint the run keeps — averaged over the seeds. The test
split never enters the choice: it is scored once, afterwards, on the chosen recipe
(``ferlib results``).

``ferlib search`` (``run_search``) trains what is missing, writes one table per method
(``reporting.search.rank_candidates``) and prints the chosen sections in the form ``recipes:``
takes in a profile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..params import RECIPES, ParameterError, load_profile, load_yaml, resolve_config, validate
from ..paths import check_writable_dir, repo_root
from ..reporting.search import chosen_overrides, rank_candidates
from ..reporting.tables import markdown_table
from .parallel import train_runs
from .store import run_folder

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


def candidate_scores(
    space: Mapping[str, Any], method: str, folder: Callable[[dict[str, Any]], Path] = run_folder
) -> dict[str, dict[int, float]]:
    """Each candidate of ``method``: its runs' best validation mean CCC by seed.

    ``folder(config)`` gives a run's folder (tests pass their own); a candidate with an unfinished
    seed raises, naming the run.
    """
    scores: dict[str, dict[int, float]] = {}
    for name, overrides in space["methods"][method].items():
        scores[name] = {}
        for seed in space["seeds"]:
            config = candidate_config(space["profile"], method, dict(overrides or {}), seed)
            run = Path(folder(config))
            if not (run / "history.csv").is_file() or not (run / "metrics.json").is_file():
                raise FileNotFoundError(f"{method}.{name} seed {seed} has no finished run at {run}")
            scores[name][seed] = best_validation(run)
    return scores


def search_table(
    space: Mapping[str, Any], method: str, folder: Callable[[dict[str, Any]], Path] = run_folder
) -> pd.DataFrame:
    """One row per candidate of ``method``, ranked best first on validation
    (``reporting.search.rank_candidates`` of ``candidate_scores``)."""
    return rank_candidates(space["methods"][method], candidate_scores(space, method, folder))


@dataclass
class SearchResult:
    """What ``run_search`` wrote: the tables as markdown (``search.md``), each method's chosen
    overrides (a profile's ``recipes:`` sections) and the folder."""

    text: str
    sections: dict[str, dict[str, Any]]
    out: Path


def run_search(
    space_path: str | Path,
    methods: list[str] | None,
    out: str | Path,
    workers: int | None = None,
    log: Callable[[str], None] = print,
) -> SearchResult:
    """``ferlib search``: train the space's missing runs (``workers`` at a time), then write
    ``search_<method>.csv`` per method and ``search.md`` into ``out``."""
    space = load_space(space_path)
    methods = methods or list(space["methods"])
    out = check_writable_dir(out, "--out")
    configs = search_configs(space, methods)
    log(
        f"search: {len(configs)} runs ({len(methods)} methods, seeds {space['seeds']}); "
        "finished ones are loaded, the rest train"
    )
    train_runs(configs, workers=workers)
    sections, parts = {}, []
    out.mkdir(parents=True, exist_ok=True)
    for method in methods:
        table = search_table(space, method)
        table.to_csv(out / f"search_{method}.csv", index=False)
        sections[method] = chosen_overrides(space, method, table)
        rows = table.drop(columns="chosen").to_dict("records")
        parts.append(
            f"**{method}** (validation mean CCC, best epoch per run)\n\n" + markdown_table(rows)
        )
    text = "\n\n".join(parts)
    (out / "search.md").write_text(text + "\n")
    return SearchResult(text, sections, out)


__all__ = [
    "SEARCH_SPACE",
    "SearchResult",
    "best_validation",
    "candidate_config",
    "candidate_scores",
    "load_space",
    "run_search",
    "search_configs",
    "search_table",
]
