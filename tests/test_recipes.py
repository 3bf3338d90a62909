"""Per-method recipes in a profile (``recipes:``): precedence, validation, the course plan, and
that profiles without them resolve exactly as before."""

from __future__ import annotations

import pytest
import yaml

from ferlib.course import runner
from ferlib.methods import METHODS
from ferlib.params import (
    DATA_KEYS,
    PARAMETERS,
    RECIPES,
    ParameterError,
    available_profiles,
    config_from,
    defaults,
    load_profile,
    load_recipes,
    recipe_keys,
    recipes_from,
    resolve_config,
    validate,
)


def _profile(tmp_path, data) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _before(profile, overrides):
    """``resolve_config`` as it was before recipes: defaults < profile < overrides."""
    config = {**defaults(), **load_profile(profile), **validate(dict(overrides))}
    own = f"{config['method']}_"
    return {
        k: v
        for k, v in config.items()
        if PARAMETERS[k].run and (PARAMETERS[k].group != "method" or k.startswith(own))
    }


SECTIONS = {"caf": {"lr": 0.002, "caf_aknn_c": 1.2}, "elim": {"batch_size": 32, "elim_p": 4}}


def test_method_section_sits_between_the_profile_and_explicit_overrides(tmp_path):
    profile = _profile(tmp_path, {"lr": 0.01, "epochs": 3, RECIPES: SECTIONS})
    caf = resolve_config(profile, {"method": "caf"})
    assert (caf["lr"], caf["caf_aknn_c"], caf["epochs"]) == (0.002, 1.2, 3)
    assert resolve_config(profile, {"method": "caf", "lr": 0.5})["lr"] == 0.5  # --set wins
    baseline = resolve_config(profile)  # no section: the top level, and no other method's keys
    assert baseline["lr"] == 0.01 and not any(k.startswith("caf_") for k in baseline)
    assert resolve_config(profile, {"method": "avce"})["lr"] == 0.01
    elim = resolve_config(profile, {"method": "elim"})
    assert (elim["batch_size"], elim["elim_p"], elim["lr"]) == (32, 4, 0.01)
    # a profile that picks its method at the top level gets that method's section
    picked = _profile(tmp_path, {"method": "caf", "lr": 0.01, RECIPES: SECTIONS})
    assert resolve_config(picked)["lr"] == 0.002


def test_a_mapping_in_hand_resolves_like_the_file(tmp_path):
    top = {"lr": 0.01, "epochs": 3}
    profile = _profile(tmp_path, {**top, RECIPES: SECTIONS})
    for method in METHODS:
        assert resolve_config({**top, RECIPES: SECTIONS}, {"method": method}) == resolve_config(
            profile, {"method": method}
        )
    # another method's run from shared settings: its section, nothing of the first method's
    shared = {k: v for k, v in resolve_config(profile).items() if k != "method"}
    elim = resolve_config({**shared, RECIPES: SECTIONS}, {"method": "elim", "seed": 2})
    assert elim == {**resolve_config(profile, {"method": "elim"}), "seed": 2}


@pytest.mark.parametrize(
    "recipes, message",
    [
        ({"cafe": {"lr": 0.1}}, r"unknown method 'cafe' in recipes; choose one of: baseline, caf"),
        (
            {"caf": {"identities": 10}},
            r"recipes\.caf: 'identities' cannot be set per method: a data",
        ),
        ({"caf": {"elim_p": 4}}, r"recipes\.caf: 'elim_p' cannot be set per method: it belongs"),
        ({"caf": {"n_boot": 10}}, r"'n_boot' cannot be set per method: a notebook-only"),
        ({"caf": {"seed": 1}}, r"'seed' cannot be set per method: it picks the run"),
        ({"caf": {"method": "elim"}}, r"'method' cannot be set per method"),
        ({"caf": {"lrr": 0.1}}, r"recipes\.caf: unknown parameter 'lrr'; a method's section may"),
        ({"caf": {"lr": "fast"}}, r"recipes\.caf: lr='fast' should be a number"),
        ({"caf": {"lr": 0}}, r"recipes\.caf: lr=0: lr must be > 0"),
        ({"caf": [1, 2]}, r"recipes\.caf is a mapping of name: value"),
        (["caf"], r"recipes is a mapping of method"),
    ],
)
def test_invalid_sections_are_one_line_errors(tmp_path, recipes, message):
    profile = _profile(tmp_path, {"lr": 0.01, RECIPES: recipes})
    with pytest.raises(ParameterError, match=message):
        resolve_config(profile)
    with pytest.raises(ParameterError, match=message):
        load_recipes(profile)


def test_profiles_without_recipes_resolve_exactly_as_before():
    plain = [p for p in available_profiles() if not load_recipes(p)]
    assert {"diffusionfer", "ci", "robust"} <= set(plain)
    for profile in plain:
        for method in METHODS:
            got = resolve_config(profile, {"method": method})
            assert got == _before(profile, {"method": method}), (profile, method)
    # full's Baseline has no section: its run folders do not move either
    assert "baseline" not in load_recipes("full")
    assert resolve_config("full") == _before("full", {})


def test_full_gives_each_method_its_own_section_on_the_same_data():
    """Each method runs its own section over the shared top level, on one data set; the values
    and their sources are checked against the authors' code in tests/test_provenance.py."""
    recipes = load_recipes("full")
    assert set(recipes) == {"caf", "avce", "elim"}
    configs = {m: resolve_config("full", {"method": m}) for m in METHODS}
    for key in DATA_KEYS:  # one data set and split for every arm
        assert len({repr(c[key]) for c in configs.values()}) == 1, key
    for method, section in recipes.items():
        assert {k: configs[method][k] for k in section} == section, method
    elim = configs["elim"]
    assert elim["batch_size"] % elim["elim_p"] == 0  # P x K


def test_every_method_chapter_reads_its_whole_section_through_its_profile():
    for nb in runner.course_notebooks():
        method = runner.method_of(nb)
        if method is not None:
            assert set(recipe_keys(method)) <= runner.reads(nb), nb.name


def test_a_chapter_builds_from_what_the_plan_gives_it_the_run_the_cli_builds():
    """What the plan injects, read as the chapter reads it (``config_from``), is the run
    ``ferlib train --params full --set method=<m> --set lr=0.5`` makes: the method's section over
    the profile, ``--set`` over both."""
    profile, recipes = load_profile("full"), load_recipes("full")
    steps = runner.plan_course(runner.course_notebooks(), list(METHODS), {}, recipes)
    by_output = {s.output: s for s in steps}
    assert by_output["12_avce.ipynb"].recipe == recipes["avce"]
    assert by_output["10_baseline.ipynb"].recipe == {}
    checked = 0
    for step in steps:
        method = runner.method_of(step.notebook) or step.parameters.get("method")
        if method is None:
            continue
        injected = runner.step_parameters(step, profile, {"lr": 0.5}, "full")
        assert injected["profile"] == "full" and injected["overrides"] == {"lr": 0.5}
        got = config_from(injected, method=method)
        assert got == resolve_config("full", {"method": method, "lr": 0.5}), step.output
        checked += 1
    assert checked >= len(METHODS) * 2  # each method's chapter(s) and its run of chapter 30
    injected = runner.step_parameters(by_output["12_avce.ipynb"], profile, None, "full")
    avce = config_from(injected, method="avce")
    assert (avce["batch_size"], avce["lr"], avce["image_size"]) == (256, 1e-4, 224)
    assert avce["avce_view_lr"] == 0.01 and "elim_p" not in avce


def test_the_evaluation_chapter_reads_the_sections_of_the_methods_it_compares():
    profile, recipes = load_profile("full"), load_recipes("full")
    notebooks = runner.course_notebooks()
    steps = runner.plan_course(notebooks, list(METHODS), {"elim": "no identities"}, recipes)
    twenty = next(s for s in steps if s.output == "20_evaluate_va.ipynb")
    assert recipes_from(runner.step_parameters(twenty, profile, None, "full")) == recipes
    # a method that cannot run is not compared
    assert twenty.parameters["methods"] == ["baseline", "caf", "avce"]


def test_overrides_are_checked_like_parameters():
    assert validate({"overrides": {"lr": 0.01}})
    with pytest.raises(ParameterError, match="overrides: unknown parameter 'lrr'"):
        validate({"overrides": {"lrr": 0.01}})


def test_a_plan_injects_the_profile_its_declared_keys_and_the_rest_as_overrides():
    profile = load_profile("quick")
    for step in runner.plan_course(runner.course_notebooks(), list(METHODS)):
        assert step.recipe == {}
        declared = runner.declared_parameters(step.notebook)
        expected = {k: v for k, v in profile.items() if k in declared}
        if "profile" in declared:
            expected["profile"] = "quick"
        if "epochs" in declared:
            expected["epochs"] = 2
        elif "overrides" in declared:
            expected["overrides"] = {"epochs": 2}
        expected.update(step.parameters)
        got = runner.step_parameters(step, profile, {"epochs": 2}, "quick")
        assert got == expected, step.output


def test_a_profile_outside_params_is_passed_by_its_absolute_path(tmp_path, monkeypatch):
    path = _profile(tmp_path, {"epochs": 3})
    monkeypatch.chdir(tmp_path)
    assert runner.profile_reference("p.yaml") == path
    assert runner.profile_reference("quick") == "quick"
    assert config_from({"profile": path, "overrides": {}})["epochs"] == 3


def test_without_its_recipe_a_chapter_s_configuration_holds_only_the_shared_values(tmp_path):
    """What chapter 20 hands ``seed_runs``: the profile's top level, so that no method's section
    (here the Baseline's dropout) leaks into the other methods' runs."""
    path = _profile(tmp_path, {"epochs": 3, RECIPES: {"baseline": {"dropout": 0.25}}})
    chapter = {"profile": path, "overrides": {"lr": 0.01}}
    shared = config_from(chapter, recipe=False)
    assert shared["dropout"] == PARAMETERS["dropout"].default and shared["lr"] == 0.01
    assert config_from(chapter)["dropout"] == 0.25  # the Baseline's own run
    assert config_from(chapter, method="caf")["dropout"] == PARAMETERS["dropout"].default
