"""One registry of methods and choices: a method registered with ``register_method`` (its class
and its own parameters) is found by the command line, the parameters, the results tables and the
course plan without any other edit; every switch's values live in its parameter's ``choices``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ferlib.cli import main
from ferlib.course import runner
from ferlib.methods import METHODS, build_method, register_method
from ferlib.methods.baseline import Baseline
from ferlib.params import (
    METHOD_NAMES,
    PARAMETERS,
    Parameter,
    ParameterError,
    add_method,
    describe,
    resolve_config,
    validate,
    validate_recipes,
)
from ferlib.paths import repo_root
from ferlib.reporting.runs import METHOD_ORDER, RUN_COLUMNS, results_markdown, summarize_runs


class Toy(Baseline):
    """The Baseline under another name, with one switch of its own."""

    name = "toy"

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        self.x = self.option("toy_x")


TOY_X = Parameter("a", str, "the toy's switch", group="method", choices=("a", "b"))


@pytest.fixture
def toy():
    """``Toy`` registered the public way; the registries as they were afterwards."""
    saved = dict(METHODS), list(METHOD_NAMES), dict(PARAMETERS)
    register_method(Toy, {"toy_x": TOY_X})
    yield Toy
    METHODS.clear()
    METHODS.update(saved[0])
    METHOD_NAMES[:] = saved[1]
    PARAMETERS.clear()
    PARAMETERS.update(saved[2])


def test_the_registry_is_the_one_list_of_methods():
    assert list(METHODS) == METHOD_NAMES == ["baseline", "caf", "avce", "elim"]
    assert tuple(METHOD_ORDER) == tuple(METHODS)
    assert PARAMETERS["method"].choices is METHOD_NAMES
    assert PARAMETERS["methods"].default is METHOD_NAMES  # the course compares every method


def test_the_params_validation_knows_the_toy(toy):
    assert validate({"method": "toy", "toy_x": "b"}) == {"method": "toy", "toy_x": "b"}
    config = resolve_config("ci", {"method": "toy", "toy_x": "b"})
    assert config["toy_x"] == "b" and "caf_grouping" not in config
    assert "toy_x" not in resolve_config("ci", {"method": "caf"})  # other methods never see it
    assert build_method({**config, "batch_size": 8}).x == "b"
    assert validate_recipes({"toy": {"toy_x": "b", "lr": 0.01}}) == {
        "toy": {"toy_x": "b", "lr": 0.01}
    }
    with pytest.raises(ParameterError, match=r"--set: unknown toy_x 'c'; choose one of: a, b"):
        validate({"toy_x": "c"}, "--set")
    with pytest.raises(ParameterError, match=r"recipes\.caf: 'toy_x' cannot be set per method"):
        validate_recipes({"caf": {"toy_x": "b"}})
    assert describe("toy_x") == "the toy's switch; one of: a | b"
    assert Toy.switches() == ("toy_x",)


def test_the_command_line_lists_trains_and_refuses_for_the_toy(toy, tiny_synth, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "baseline | caf | avce | elim | toy" in " ".join(capsys.readouterr().out.split())
    common = ["--params", "ci", "--set", f"data_dir={tiny_synth}", "epochs=1", "batch_size=8"]
    bad = ["train", "--method", "toy", *common, "toy_x=c", "--out", str(tmp_path / "x")]
    assert main(bad) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown toy_x 'c'; choose one of: a, b" in err and len(err.splitlines()) == 1
    out = tmp_path / "runs" / "toy"
    argv = ["train", "--method", "toy", *common, "toy_x=b", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    config = json.loads((out / "metrics.json").read_text())["config"]
    assert config["method"] == "toy" and config["toy_x"] == "b"
    capsys.readouterr()
    assert main(["results", "--root", str(tmp_path / "runs")]) == 0
    assert "| toy |" in capsys.readouterr().out


def test_the_results_tables_order_the_toy_as_registered(toy):
    rows = [
        {**dict.fromkeys(RUN_COLUMNS), "dataset": "synthetic", "method": m, "seed": 0}
        for m in ("aaa", "toy", "baseline")  # "aaa" is no registered method: it comes last
    ]
    summary = summarize_runs(pd.DataFrame(rows, columns=list(RUN_COLUMNS)))
    assert list(summary["method"]) == ["baseline", "toy", "aaa"]
    assert "| toy |" in results_markdown(summary)


def test_the_course_plans_the_toy(toy, tiny_synth):
    plan = runner.plan_run("ci", only=["20"], overrides={"data_dir": str(tiny_synth)})
    assert plan.methods == [*METHOD_NAMES]
    (step,) = plan.steps
    assert step.parameters["methods"][-1] == "toy"  # 20_evaluate_va declares ``methods``
    assert runner.method_of(Path("notebooks/14_toy.ipynb")) == "toy"  # its chapter, by name


def test_registering_refuses_a_clash_or_a_foreign_parameter(toy):
    with pytest.raises(ValueError, match="registered already"):
        register_method(Toy)
    with pytest.raises(ValueError, match="no underscore"):
        add_method("toy_two")
    with pytest.raises(ValueError, match="named other_"):
        add_method("other", {"toy_y": TOY_X})
    with pytest.raises(ValueError, match="'lr' is registered already"):
        add_method("other", {"lr": TOY_X})
    assert "other" not in METHOD_NAMES


def test_every_choice_is_its_parameter_s_default_first_and_documented():
    """A switch's values live once, in its parameter (the method classes hold none); the first is
    the default, and the method's note or the switch table of docs/methods/README.md §6 names
    each."""
    notes = repo_root() / "docs" / "methods"
    table = (notes / "README.md").read_text()
    for key, par in PARAMETERS.items():
        if par.choices is None or par.choices is METHOD_NAMES:
            continue
        assert par.default == par.choices[0], key
        if par.group == "method":
            note = (notes / f"{key.split('_')[0]}.md").read_text() + table
            for value in par.choices:
                assert f'"{value}"' in note, f"docs/methods: {key}={value!r} is not described"
    for cls in METHODS.values():
        assert not hasattr(cls, "choices"), cls.__name__
