import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml

import ferlib.course.runner as runner
from ferlib.cli import main
from ferlib.params import ParameterError


def write_notebook(path, body):
    """A two-cell notebook: a `parameters` cell (seed = 0), then `body`."""
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("seed = 0", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell(body),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


@pytest.fixture
def course(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "00_first.ipynb", "print('seed is', seed)")
    write_notebook(folder / "01_broken.ipynb", "raise RuntimeError('boom')")
    write_notebook(folder / "02_last.ipynb", "print('last', seed * 2)")
    monkeypatch.setattr(runner, "notebook_dir", lambda: folder)
    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump({"seed": 5}))
    return tmp_path, profile


@pytest.mark.slow
def test_one_failure_does_not_stop_the_others(course):
    tmp_path, profile = course
    results = runner.run_notebooks(str(profile), out_dir=tmp_path / "out", kernel="python3")
    assert [(r.notebook, r.status) for r in results] == [
        ("00_first.ipynb", "ok"),
        ("01_broken.ipynb", "failed"),
        ("02_last.ipynb", "ok"),
    ]
    assert results[1].error == "RuntimeError: boom"  # the notebook's exception, not papermill's
    first = (tmp_path / "out" / "00_first.ipynb").read_text()
    assert "seed is 5" in first
    assert "last 10" in (tmp_path / "out" / "02_last.ipynb").read_text()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [s["status"] for s in summary["notebooks"]] == ["ok", "failed", "ok"]
    assert summary["total_seconds"] >= sum(s["seconds"] for s in summary["notebooks"])
    assert "| 01_broken.ipynb | 01_broken.ipynb | failed |" in (
        (tmp_path / "out" / "summary.md").read_text()
    )
    assert "RuntimeError: boom" in (tmp_path / "out" / "summary.md").read_text()
    table = runner.format_status(results)
    assert "01_broken.ipynb  failed" in table and "3 notebooks, 1 failed" in table


@pytest.mark.slow
def test_cli_exit_code_reflects_failures(course, capsys):
    tmp_path, profile = course
    assert (
        main(
            [
                "notebooks",
                "--profile",
                str(profile),
                "--only",
                "00",
                "02",
                "--out",
                str(tmp_path / "o1"),
            ]
        )
        == 0
    )
    assert (
        main(
            ["notebooks", "--profile", str(profile), "--only", "01", "--out", str(tmp_path / "o2")]
        )
        == 1
    )
    assert "failed" in capsys.readouterr().out


def test_profile_key_no_notebook_declares_is_an_error(course):
    tmp_path, _ = course
    stale = tmp_path / "stale.yaml"
    stale.write_text(yaml.safe_dump({"seed": 1, "image_size": 64}))
    with pytest.raises(ParameterError, match=r"\['image_size'\] not declared by any notebook"):
        runner.run_notebooks(str(stale), out_dir=tmp_path / "out", kernel="python3")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_override_for_an_undeclared_parameter_is_an_error(course):
    tmp_path, profile = course
    with pytest.raises(ParameterError, match="unknown parameter 'sed'"):
        runner.run_notebooks(str(profile), overrides={"sed": 1}, out_dir=tmp_path / "o")


def test_course_notebooks_are_in_course_order():
    names = [nb.name for nb in runner.course_notebooks()]
    assert names and names == sorted(names) and names[0] == "00_explore_data.ipynb"
    for nb in runner.course_notebooks():
        assert runner.declared_parameters(nb), f"{nb.name} has no parameters cell"


def test_override_no_chosen_notebook_declares_is_an_error(course):
    tmp_path, profile = course
    with pytest.raises(ParameterError, match=r"--set: \['lr'\] not declared"):
        runner.run_notebooks(
            str(profile), only=["00"], overrides={"lr": 0.1}, out_dir=tmp_path / "o"
        )


@pytest.mark.slow
def test_explore_notebook_runs_under_papermill_from_any_folder(tmp_path, monkeypatch):
    """The real 00 notebook with the CI profile, started from an unrelated working directory."""
    monkeypatch.chdir(tmp_path)
    results = runner.run_notebooks("ci", only=["00"], out_dir=tmp_path / "out")
    assert [r.status for r in results] == ["ok"], results[0].error
    executed = nbformat.read(tmp_path / "out" / "00_explore_data.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "168 labelled images" in text  # 7 x 24, the ci profile's size
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert 'profile = "ci"' in injected[0].source  # the rest comes from params/ci.yaml


def test_course_plan_orders_methods_evaluation_and_per_method_runs():
    notebooks = runner.course_notebooks()
    steps = runner.plan_course(notebooks, ["baseline", "elim"], {"elim": "no identities"})
    outputs = [s.output for s in steps]
    assert outputs[0] == "00_explore_data.ipynb"
    assert "11_caf.ipynb" not in outputs  # not a chosen method
    assert outputs.index("10_baseline.ipynb") < outputs.index("13_elim.ipynb")
    assert outputs.index("13_elim.ipynb") < outputs.index("14_elim_training.ipynb")
    assert outputs.index("14_elim_training.ipynb") < outputs.index("20_evaluate_va.ipynb")
    evaluate = steps[outputs.index("20_evaluate_va.ipynb")]
    assert evaluate.parameters == {"methods": ["baseline"]} and not evaluate.skip
    per_method = [s for s in steps if s.notebook.stem.startswith("30")]
    assert [s.output for s in per_method] == [
        "30_prompt_vs_expression-baseline.ipynb",
        "30_prompt_vs_expression-elim.ipynb",
    ]
    assert [s.parameters for s in per_method] == [{"method": "baseline"}, {"method": "elim"}]
    assert steps[outputs.index("13_elim.ipynb")].skip == "no identities"
    assert steps[outputs.index("14_elim_training.ipynb")].skip == "no identities"
    assert per_method[1].skip == "no identities"
    assert [runner.method_of(nb) for nb in notebooks if nb.stem.startswith("1")] == [
        "baseline",
        "caf",
        "avce",
        "elim",
        "elim",
    ]


@pytest.mark.slow
def test_skipped_steps_are_reported_not_run(course, monkeypatch):
    tmp_path, profile = course
    monkeypatch.setattr(
        runner,
        "plan_course",
        lambda notebooks, methods, cannot_run, *recipes: [
            runner.Step(notebooks[0], "00_first.ipynb"),
            runner.Step(notebooks[2], "02_last.ipynb", {}, "needs identities"),
        ],
    )
    results = runner.run_notebooks(str(profile), out_dir=tmp_path / "out", kernel="python3")
    assert [(r.status, r.error) for r in results] == [("ok", ""), ("skipped", "needs identities")]
    assert not (tmp_path / "out" / "02_last.ipynb").exists()
    assert "1 skipped" in runner.format_status(results)


def test_unknown_method_is_an_error(course):
    tmp_path, profile = course
    with pytest.raises(ParameterError, match="unknown methods"):
        runner.run_notebooks(str(profile), out_dir=tmp_path / "o", methods=["cfa"])


def test_every_chapter_opens_with_goals_and_closes_with_exercises():
    """Course quality: goals and prerequisites first; key takeaways, then exercises with hints and
    collapsed solution sketches, last."""
    for nb in runner.course_notebooks():
        cells = nbformat.read(nb, as_version=4).cells
        opening, closing = cells[0].source, cells[-1].source
        assert cells[0].cell_type == "markdown" and "**What you will learn**" in opening, nb.name
        assert "**Prerequisites**" in opening, nb.name
        assert cells[-1].cell_type == "markdown" and "## Exercises" in closing, nb.name
        exercises = [line for line in closing.splitlines() if re.match(r"\d+\. ", line)]
        assert len(exercises) >= 3, nb.name
        assert closing.count("*Hint") >= len(exercises) - 1, nb.name
        # takeaways before the exercises, and a collapsed solution sketch for every exercise
        assert "## Key takeaways" in closing.split("## Exercises")[0], nb.name
        assert closing.count("<details>") >= len(exercises), nb.name
        assert closing.count("<details>") == closing.count("</details>"), nb.name


@pytest.mark.slow
def test_prompt_chapter_runs_on_the_real_dev_set(dev_set, tmp_path, monkeypatch):
    """30 on real DiffusionFER-S (no prompt text): the prompt parts say so, run on SyntheticFER."""
    monkeypatch.setenv("FERZOO_OUTPUTS", str(tmp_path / "outputs"))  # the kernel inherits it
    results = runner.run_notebooks(
        "diffusionfer",
        only=["30"],
        overrides={"data_dir": str(dev_set), "epochs": 2},  # the plumbing, not the model
        out_dir=tmp_path / "out",
        methods=["baseline"],
    )
    assert [(r.output.rsplit("/", 1)[-1], r.status) for r in results] == [
        ("30_prompt_vs_expression-baseline.ipynb", "ok")
    ], results[0].error
    executed = nbformat.read(results[0].output, as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "has no prompt text" in text
    assert "Least faithful:" in text and "unfaithful test images are predicted nearer" in text


@pytest.mark.slow
def test_course_run_end_to_end_on_the_ci_profile(tmp_path, monkeypatch):
    """The batch run as a user starts it, on a tiny SyntheticFER with per-method recipes: plan,
    executed notebooks, figures and the summary. One course trains each (method, configuration,
    seed) once: every chapter that reads a method's model reads it through the method's recipe,
    so the summary lists exactly the recipes' runs (plus the variant 14 trains on purpose), and
    chapter 40's "loaded from chapter 10" is true."""
    monkeypatch.setenv("FERZOO_OUTPUTS", str(tmp_path / "outputs"))
    profile = tmp_path / "ci.yaml"
    recipes = {
        "baseline": {"dropout": 0.25},
        "caf": {"caf_adv_weight": 0.03},
        "elim": {"dropout": 0.25, "elim_warmup_end": 5},
    }
    profile.write_text(
        (runner.repo_root() / "params" / "ci.yaml").read_text()
        + yaml.safe_dump({"recipes": recipes})
    )
    results = runner.run_notebooks(str(profile), methods=["baseline", "caf", "elim"])
    assert [(Path(r.output).name, r.status) for r in results] == [
        ("00_explore_data.ipynb", "ok"),
        ("10_baseline.ipynb", "ok"),
        ("11_caf.ipynb", "ok"),
        ("13_elim.ipynb", "ok"),
        ("14_elim_training.ipynb", "ok"),
        ("20_evaluate_va.ipynb", "ok"),
        ("21_regimes.ipynb", "ok"),
        ("30_prompt_vs_expression-baseline.ipynb", "ok"),
        ("30_prompt_vs_expression-caf.ipynb", "ok"),
        ("30_prompt_vs_expression-elim.ipynb", "ok"),
        ("40_real_faces.ipynb", "ok"),
    ], [r.error for r in results]
    out = tmp_path / "outputs" / "ci"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["methods"] == ["baseline", "caf", "elim"] and summary["dataset"] == "synthetic"
    # every run the course trained, one row per configuration: each method's recipe over three
    # seeds (11 and 40 read the Baseline through its recipe: no second Baseline), and
    # 14_elim_training's BatchNorm comparison run (the recipe with the other elim_bn_stats)
    rows = sorted((r["method"], r["recipe"], r["n_seeds"]) for r in summary["results"])
    counts = sorted((m, n) for m, _, n in rows)
    assert counts == [("baseline", 3), ("caf", 3), ("elim", 1), ("elim", 3)], rows
    for method, recipe, _ in rows:
        assert all(f"{k}={v}" in recipe for k, v in recipes[method].items()), (method, recipe)
    assert all(r["figures"] for r in summary["notebooks"])
    assert all(Path(f).is_file() for r in summary["notebooks"] for f in r["figures"])
    table = (out / "summary.md").read_text()
    assert re.search(r"^\| elim \| synthetic \| small_cnn \| [^\n]*\| 3 \|", table, re.MULTILINE)
    real_faces = nbformat.read(out / "40_real_faces.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in real_faces.cells for o in c.get("outputs", []))
    assert "SyntheticFER Baseline: loaded from chapter 10" in printed


@pytest.mark.slow
def test_the_run_talks_and_estimates_from_the_last_run(course):
    tmp_path, profile = course
    lines: list[str] = []

    def log(text, end="\n"):
        lines.append(text + end)

    out = tmp_path / "talk"
    runner.run_notebooks(str(profile), ["00", "02"], out_dir=out, kernel="python3", log=log)
    said = "".join(lines)
    assert said.startswith("FER-Zoo course, profile p: 2 notebooks -> ")
    assert "(about" not in said.splitlines()[0]  # no earlier run, no estimate
    assert re.search(r"\[1/2\] 00_first … ok \d+ s  \(total \d+ s\)\n", said)
    assert re.search(r"\[2/2\] 02_last … ok \d+ s  \(total \d+ s\)\n", said)
    assert re.search(r"done in \d+ s: 2 ok, 0 skipped, 0 failed -> .*summary\.md\n$", said)
    timings = json.loads((out / runner.TIMINGS).read_text())
    assert set(timings) == {"00_first.ipynb", "02_last.ipynb"}

    lines.clear()
    runner.run_notebooks(str(profile), ["00", "02"], out_dir=out, kernel="python3", log=log)
    said = "".join(lines)
    assert re.search(r"2 notebooks -> .* \(about \d+ s, from the last run\)", said)
    assert re.search(r"\[1/2\] 00_first … ok \d+ s  \(total \d+ s, about \d+ s left\)", said)


def test_time_left_needs_every_remaining_notebook_timed():
    steps = [
        runner.Step(Path("a.ipynb"), "a.ipynb"),
        runner.Step(Path("b.ipynb"), "b.ipynb", skip="needs identities"),
        runner.Step(Path("c.ipynb"), "c.ipynb"),
    ]
    assert runner.time_left(steps, 0, {"a.ipynb": 10.0, "c.ipynb": 5.0}) == 15.0
    assert runner.time_left(steps, 1, {"a.ipynb": 10.0, "c.ipynb": 5.0}) == 5.0
    assert runner.time_left(steps, 0, {"a.ipynb": 10.0}) is None
    assert runner.minutes(42.4) == "42 s" and runner.minutes(210) == "3.5 min"


@pytest.mark.slow
def test_check_env_first_in_the_same_process_and_a_fail_does_not_stop_the_run(
    course, capsys, monkeypatch
):
    import ferlib.course.envcheck as envcheck

    tmp_path, profile = course

    def failing_check() -> int:
        print("[FAIL] something")
        return 1

    monkeypatch.setattr(envcheck, "main", failing_check)
    args = ["notebooks", "--check-env", "--profile", str(profile), "--only", "00"]
    assert main([*args, "--out", str(tmp_path / "o3")]) == 0
    out = capsys.readouterr().out
    assert out.index("[FAIL] something") < out.index("running anyway") < out.index("00_first")
