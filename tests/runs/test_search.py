"""Recipe search (ferlib/runs/search.py, ferlib/reporting/search.py): candidates, ranking on
validation, the committed choice, and the command."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from ferlib.params import ParameterError, load_recipes, resolve_config, validate_recipes
from ferlib.paths import repo_root
from ferlib.reporting.search import chosen_overrides, recipes_yaml
from ferlib.runs.search import candidate_config, load_space, search_configs, search_table

SPACE = {
    "profile": "ci",
    "seeds": [0, 1],
    "methods": {
        "baseline": {"shared": {}, "fast": {"lr": 0.002}, "slow": {"lr": 0.0005}},
    },
}


def write_space(tmp_path, space) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    return str(path)


def test_load_space_checks_every_override(tmp_path):
    assert load_space(write_space(tmp_path, SPACE))["seeds"] == [0, 1]
    bad = {**SPACE, "methods": {"baseline": {"x": {"lr": "fast"}}}}
    with pytest.raises(ParameterError, match="lr"):
        load_space(write_space(tmp_path, bad))
    with pytest.raises(ParameterError, match="may not set"):
        load_space(write_space(tmp_path, {**SPACE, "methods": {"baseline": {"x": {"seed": 3}}}}))
    with pytest.raises(ParameterError, match="lacks"):
        load_space(write_space(tmp_path, {"profile": "ci"}))


def test_candidates_start_from_the_shared_top_level_not_the_profile_s_sections():
    # quick holds per-method sections; a candidate ignores them, so the search space means the
    # same thing before and after a choice lands in the profile
    sections = load_recipes("quick")
    for method in ("baseline", "caf", "avce", "elim"):
        shared = candidate_config("quick", method, {}, 0)
        chosen = candidate_config("quick", method, sections.get(method) or {}, 0)
        assert chosen == resolve_config("quick", {"method": method, "seed": 0})
        extra = set(sections.get(method) or {})
        assert {k for k in shared if shared[k] != chosen[k]} <= extra


def fake_runs(tmp_path, space, scores):
    """Finished run folders whose best validation mean CCC is ``scores[(name, seed)]``."""
    folders = {}
    for name, overrides in space["methods"]["baseline"].items():
        for seed in space["seeds"]:
            config = candidate_config(space["profile"], "baseline", overrides, seed)
            run = tmp_path / f"{name}_{seed}"
            run.mkdir()
            best = scores[(name, seed)]
            pd.DataFrame(
                {"epoch": [1, 2, 3], "val_ccc_mean": [best - 0.2, best, best - 0.1]}
            ).to_csv(run / "history.csv", index=False)
            (run / "metrics.json").write_text(json.dumps({"ccc_mean": 0.0}))
            folders[json.dumps(config, sort_keys=True)] = run
    return lambda config: folders[json.dumps(config, sort_keys=True)]


def test_ranking_uses_the_best_validation_epoch_averaged_over_seeds(tmp_path):
    scores = {
        ("shared", 0): 0.70,
        ("shared", 1): 0.72,
        ("fast", 0): 0.80,
        ("fast", 1): 0.60,
        ("slow", 0): 0.73,
        ("slow", 1): 0.73,
    }
    table = search_table(SPACE, "baseline", fake_runs(tmp_path, SPACE, scores))
    assert list(table["candidate"]) == ["slow", "shared", "fast"]  # 0.73 > 0.71 > 0.70
    assert table["val_ccc_mean"].tolist() == pytest.approx([0.73, 0.71, 0.70])
    assert list(table["chosen"]) == [True, False, False]
    assert table.loc[0, "seed0"] == pytest.approx(0.73) and table.loc[1, "std"] > 0
    assert chosen_overrides(SPACE, "baseline", table) == {"lr": 0.0005}


def test_a_missing_run_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="baseline.shared seed 0"):
        search_table(SPACE, "baseline", lambda config: tmp_path / "nothing")


def test_recipes_yaml_is_a_valid_recipes_section():
    text = recipes_yaml({"baseline": {}, "elim": {"elim_bn_stats": "raw"}})
    sections = validate_recipes(yaml.safe_load(text)["recipes"])
    assert sections == {"baseline": {}, "elim": {"elim_bn_stats": "raw"}}


def test_search_configs_cover_every_candidate_and_seed():
    configs = search_configs(SPACE)
    assert len(configs) == 6 and {c["seed"] for c in configs} == {0, 1}
    assert sorted({c["lr"] for c in configs}) == [0.0005, 0.001, 0.002]
    with pytest.raises(ParameterError, match="no candidates"):
        search_configs(SPACE, ["caf"])


def test_the_quick_profile_holds_what_the_committed_search_chose():
    """params/quick.yaml's sections are the chosen rows of docs/results/search_<method>.csv, and
    those tables rank by validation only (no test column)."""
    space = load_space()
    sections = load_recipes(space["profile"])
    for method in space["methods"]:
        table = pd.read_csv(repo_root() / "docs" / "results" / f"search_{method}.csv")
        assert not any(c.startswith("test") or c == "ccc_mean" for c in table.columns)
        assert table["val_ccc_mean"].is_monotonic_decreasing
        assert (sections.get(method) or {}) == chosen_overrides(space, method, table)


def test_the_search_command_trains_ranks_and_prints_the_sections(tmp_path, monkeypatch, capsys):
    from ferlib.cli import main

    monkeypatch.setenv("FERZOO_OUTPUTS", str(tmp_path / "outputs"))
    space = {
        "profile": "ci",
        "seeds": [0],
        "methods": {"baseline": {"shared": {}, "short": {"epochs": 1}}},
    }
    code = main(
        [
            "search",
            "--space",
            write_space(tmp_path, space),
            "--out",
            str(tmp_path / "r"),
            "--workers",
            "1",
        ]
    )
    assert code == 0
    table = pd.read_csv(tmp_path / "r" / "search_baseline.csv")
    assert sorted(table["candidate"]) == ["shared", "short"] and table["chosen"].sum() == 1
    out = capsys.readouterr().out
    printed = yaml.safe_load(out.split("as a profile's sections")[1].split(":\n", 1)[1])
    assert printed["recipes"]["baseline"] == (chosen_overrides(space, "baseline", table) or None)
    assert "validation mean CCC" in (tmp_path / "r" / "search.md").read_text()
