import ast

import pytest
import yaml

import ferlib.methods  # noqa: F401  (registers the methods: the names the parameters check)
from ferlib.course.runner import (
    check_profile_against_course,
    course_notebooks,
    declared_parameters,
    reads,
)
from ferlib.params import (
    PARAMETERS,
    ParameterError,
    available_profiles,
    load_profile,
    parameters_for,
    parse_set,
)


def test_every_shipped_profile_is_valid():
    assert {"quick", "full", "ci", "diffusionfer"} <= set(available_profiles())
    for name in available_profiles():
        profile = load_profile(name)
        check_profile_against_course(profile, course_notebooks(), name)


def test_unknown_or_misspelled_key_is_an_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"dataset": "synthetic", "imgae_size": 64}))
    with pytest.raises(ParameterError, match="imgae_size.*valid: .*image_size"):
        load_profile(bad)


def test_wrong_type_is_an_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("image_size: sixty-four\n")
    with pytest.raises(ParameterError, match="image_size"):
        load_profile(bad)


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(ParameterError, match="available: .*quick"):
        load_profile("quik")


def test_registered_key_no_notebook_takes_is_an_error():
    regimes = [nb for nb in course_notebooks() if nb.stem.startswith("21")]
    assert "lr" in PARAMETERS and "lr" not in reads(regimes[0])  # 21 reads committed tables
    with pytest.raises(ParameterError, match=r"\['lr'\] not declared by any notebook"):
        check_profile_against_course({"lr": 0.1}, regimes, "p")


def test_every_registered_parameter_is_read_by_some_notebook():
    taken = set().union(*(reads(nb) for nb in course_notebooks()))
    assert sorted(set(PARAMETERS) - taken) == []


def test_a_chapter_with_a_profile_reads_every_run_parameter_through_it():
    for nb in course_notebooks():
        declared = declared_parameters(nb)
        if "profile" in declared:
            assert "overrides" in declared, nb.name  # and can change any of them
            assert {k for k, p in PARAMETERS.items() if p.run} <= reads(nb), nb.name


def test_override_must_be_declared_by_its_notebook():
    declared = {"dataset": "synthetic", "seed": 0}
    with pytest.raises(ParameterError, match="does not declare"):
        parameters_for(declared, {}, {"lr": 0.1}, "00_explore_data.ipynb")
    chosen = parameters_for(declared, {"dataset": "csv", "lr": 0.1}, {"seed": 3})
    assert chosen == {"dataset": "csv", "seed": 3}


def test_set_values_are_typed():
    assert parse_set(["image_size=112", "data_dir=null", "lr=0.01"]) == {
        "image_size": 112,
        "data_dir": None,
        "lr": 0.01,
    }
    with pytest.raises(ParameterError, match="key=value"):
        parse_set(["image_size"])


def test_notebooks_declare_only_registered_parameters_with_matching_defaults():
    notebooks = course_notebooks()
    assert notebooks, "no course notebooks found"
    for nb in notebooks:
        declared = declared_parameters(nb)
        assert set(declared) <= set(PARAMETERS), nb.name
        for name, default in declared.items():
            assert ast.literal_eval(default) == PARAMETERS[name].default, (nb.name, name)


def test_booleans_are_not_numbers_and_unions_accept_each_member():
    from ferlib.params import validate

    with pytest.raises(ParameterError, match="image_size"):
        validate({"image_size": True})
    assert validate({"pretrained": False, "lr": 1}) == {"pretrained": False, "lr": 1}
    assert validate({"pretrained": "weights/alexnet.pth"})["pretrained"].endswith(".pth")


def test_a_run_config_holds_only_its_own_method_settings():
    from ferlib.params import resolve_config

    baseline = resolve_config("quick")
    assert not any(k.startswith(("caf_", "avce_", "elim_")) for k in baseline)
    caf = resolve_config("quick", {"method": "caf"})
    assert "caf_grouping" in caf and not any(k.startswith(("avce_", "elim_")) for k in caf)
    assert "methods" not in caf and "n_boot" not in caf  # notebook-only settings


def test_every_parameter_has_a_group_and_method_parameters_are_named_for_their_method():
    from ferlib.methods import METHODS
    from ferlib.params import DATA_KEYS, GROUPS, PARAMETERS, keys_in

    assert all(p.group in GROUPS for p in PARAMETERS.values())
    prefixes = tuple(f"{name}_" for name in METHODS if name != "baseline")
    for key, p in PARAMETERS.items():
        assert (p.group == "method") == key.startswith(prefixes), key
        assert p.run == (p.group != "course"), key
    assert DATA_KEYS == keys_in("data")
    assert {"dataset", "data_dir", "image_size", "identity_bias"} <= set(DATA_KEYS)
    assert "seed" not in DATA_KEYS  # the training seed changes weights, not images
    with pytest.raises(ValueError, match="unknown parameter group"):
        keys_in("model")


def test_every_numeric_parameter_has_a_range_and_defaults_lie_in_it():
    from ferlib.params import check_value

    for key, p in PARAMETERS.items():
        kinds = p.kind if isinstance(p.kind, tuple) else (p.kind,)
        numeric = (int in kinds or float in kinds) and bool not in kinds
        numeric_list = isinstance(p.default, list) and all(
            isinstance(v, (int, float)) for v in p.default
        )
        assert (p.bounds is not None) == (numeric or numeric_list), key
        check_value(key, p.default, "defaults")  # raises when a default breaks its own range


def test_out_of_range_and_ill_typed_values_name_the_range_or_the_type():
    from ferlib.params import resolve_config

    for item, message in (
        ("epochs=0", "epochs must be ≥ 1"),
        ("batch_size=0", "batch_size must be ≥ 1"),
        ("lr=0", "lr must be > 0"),
        ("lr=-0.1", "lr must be > 0"),
        ("dropout=1.5", r"dropout must be in \[0, 1\)"),
        ("betas=[0.5, 1.2]", r"each item of betas must be in \[0, 1\)"),
        ("epochs=ten", "should be an integer"),
        ("lr=fast", "should be a number"),
        ("milestones=[a]", "should be a list of numbers"),
    ):
        with pytest.raises(ParameterError, match=message):
            parse_set([item])
    with pytest.raises(ParameterError, match="too small for backbone 'alexnet'.*63"):
        resolve_config(None, {"backbone": "alexnet", "image_size": 32})


def test_malformed_yaml_names_the_key_and_the_yaml_error(tmp_path):
    with pytest.raises(ParameterError, match=r"--set lr: '\[0.1' is not valid YAML \(expected"):
        parse_set(["lr=[0.1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 0\nmilestones: [500, 750\nlr: 0.1\n")
    with pytest.raises(ParameterError, match=r"not valid YAML at line 2 \('milestones: \[500"):
        load_profile(bad)
