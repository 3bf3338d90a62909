"""Recipe search tables: the candidates of one method ranked on validation, the chosen one's
overrides, and the chosen sections as a profile's ``recipes:`` (README "Recipes per method").

Candidates are scored by the **best validation mean CCC** of each run — the epoch whose checkpoint
the run keeps — averaged over the seeds; the test split never enters the choice. The search
itself (its space, its runs, their scores) is ``ferlib.runs.search``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import yaml

from ..params import RECIPES

SCORE = "val_ccc_mean"
"""The selection score: a run's best validation mean CCC (the epoch its checkpoint keeps)."""


def rank_candidates(
    candidates: Mapping[str, Mapping[str, Any] | None], scores: Mapping[str, Mapping[int, float]]
) -> pd.DataFrame:
    """One row per candidate (name → overrides): its overrides, the validation score per seed
    (``scores[name][seed]``), their mean and standard deviation, ranked best first (``chosen``
    marks the first)."""
    rows = []
    for name, overrides in candidates.items():
        row: dict[str, Any] = {"candidate": name, "overrides": _describe(dict(overrides or {}))}
        for seed, score in scores[name].items():
            row[f"seed{seed}"] = score
        values = list(scores[name].values())
        row[SCORE] = sum(values) / len(values)
        row["std"] = float(pd.Series(values).std(ddof=1)) if len(values) > 1 else float("nan")
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


__all__ = ["SCORE", "chosen_overrides", "rank_candidates", "recipes_yaml"]
