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
    defaults,
    load_profile,
    load_recipes,
    recipe_keys,
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


def test_every_method_chapter_declares_every_key_its_section_may_set_but_augmentation():
    # augmentation is chapter 10's alone: a section setting it for another method is refused
    # by the plan (the last test), never silently dropped
    for nb in runner.course_notebooks():
        method = runner.method_of(nb)
        if method is not None:
            missing = set(recipe_keys(method)) - set(runner.declared_parameters(nb))
            assert all(k.startswith("aug_") for k in missing), (nb.name, missing)


def test_the_course_plan_gives_each_method_chapter_its_section():
    notebooks = runner.course_notebooks()
    profile, recipes = load_profile("full"), load_recipes("full")
    steps = {s.output: s for s in runner.plan_course(notebooks, list(METHODS), {}, recipes)}
    assert steps["10_baseline.ipynb"].recipe == {}
    assert steps["12_avce.ipynb"].recipe == recipes["avce"]
    avce = runner.step_parameters(steps["12_avce.ipynb"], profile)
    assert (avce["batch_size"], avce["lr"], avce["image_size"]) == (256, 1e-4, 224)
    assert avce["avce_view_lr"] == 0.01 and "elim_p" not in avce
    assert runner.step_parameters(steps["12_avce.ipynb"], profile, {"lr": 0.5})["lr"] == 0.5
    assert runner.step_parameters(steps["10_baseline.ipynb"], profile)["batch_size"] == 128
    # a per-method run gets the keys of its section that the notebook declares (30 declares the
    # training recipe, not ELIM's own keys)
    thirty = steps["30_prompt_vs_expression-elim.ipynb"]
    declared = runner.declared_parameters(thirty.notebook)
    assert thirty.recipe == {k: v for k, v in recipes["elim"].items() if k in declared}
    assert thirty.recipe["batch_size"] == recipes["elim"]["batch_size"]
    assert "elim_p" in recipes["elim"] and "elim_p" not in thirty.recipe
    chosen = runner.step_parameters(thirty, profile)
    assert chosen["method"] == "elim" and chosen["batch_size"] == recipes["elim"]["batch_size"]
    # ... and the whole section as method_recipes, so that the run it loads is the method's own
    # (the one its chapter trained), ELIM's own keys included
    assert thirty.parameters["method_recipes"] == {"elim": recipes["elim"]}
    assert chosen["method_recipes"] == {"elim": recipes["elim"]}


def test_the_evaluation_chapter_receives_the_sections_of_the_methods_it_compares():
    notebooks = runner.course_notebooks()
    recipes = load_recipes("full")
    steps = {s.output: s for s in runner.plan_course(notebooks, list(METHODS), {}, recipes)}
    twenty = steps["20_evaluate_va.ipynb"]
    assert twenty.parameters["method_recipes"] == {m: recipes[m] for m in METHODS if recipes.get(m)}
    # a method that cannot run is neither compared nor given a section
    steps = runner.plan_course(notebooks, list(METHODS), {"elim": "no identities"}, recipes)
    twenty = next(s for s in steps if s.output == "20_evaluate_va.ipynb")
    assert "elim" not in twenty.parameters["method_recipes"]
    assert twenty.parameters["methods"] == ["baseline", "caf", "avce"]


def test_method_recipes_are_checked_like_a_profile_s_sections():
    from ferlib.params import ParameterError, validate

    assert validate({"method_recipes": {"caf": {"lr": 0.01}}})
    with pytest.raises(ParameterError, match="method_recipes"):
        validate({"method_recipes": {"caf": {"elim_p": 4}}})


def test_a_plan_without_recipes_injects_what_it_did_before():
    notebooks = runner.course_notebooks()
    profile = load_profile("quick")
    overrides = {"epochs": 2}
    for step in runner.plan_course(notebooks, list(METHODS)):
        assert step.recipe == {}
        declared = runner.declared_parameters(step.notebook)
        extra = {k: v for k, v in overrides.items() if k in declared}
        before = {k: v for k, v in profile.items() if k in declared} | extra | step.parameters
        assert runner.step_parameters(step, profile, overrides) == before, step.output


def test_a_section_key_its_chapter_does_not_declare_is_an_error(tmp_path):
    profile = _profile(tmp_path, {RECIPES: {"caf": {"aug_rotate": 10}}})
    # a valid training key, but chapter 11 does not take it
    assert load_recipes(profile) == {"caf": {"aug_rotate": 10}}
    with pytest.raises(
        ParameterError, match=r"recipes\.caf: \['aug_rotate'\] not declared by 11_caf"
    ):
        runner.plan_course(runner.course_notebooks(), ["caf"], {}, load_recipes(profile))
