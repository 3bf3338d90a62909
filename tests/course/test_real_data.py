"""The chapters whose committed outputs are real DiffusionFER-S: they say so, and their numbers
are the data's (checked against the data when it is present)."""

from __future__ import annotations

import nbformat
import pytest

from ferlib.course import runner
from ferlib.data import load_dataset
from ferlib.params import ParameterError
from ferlib.paths import repo_root

NOTEBOOKS = repo_root() / "notebooks"


def injected(stem: str) -> dict:
    """What the chapter's committed outputs were made with (its metadata record)."""
    return runner.committed_record(NOTEBOOKS / f"{stem}.ipynb")


def output_text(stem: str) -> str:
    nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    return "".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "")
        for c in nb.cells
        for o in c.get("outputs", [])
    )


@pytest.mark.parametrize("stem", sorted(runner.COMMITTED_PROFILES))
def test_real_data_chapters_commit_real_data_outputs_and_say_so(stem):
    params = injected(stem)
    config = runner.record_config(params)
    assert config["dataset"] == "diffusionfer" and config["data_dir"] == "data/diffusionfer"
    opening = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4).cells[0].source
    assert "real DiffusionFER-S" in opening


def test_every_chapter_commits_what_the_course_run_gives_it_and_none_runs_other_data_when_opened():
    """The record of each chapter's committed outputs is what the refresh would inject now (the
    course run's parameters, the method's recipe included): a profile or recipe change that is
    not refreshed fails here, and the refresh checks every claim on the new numbers."""
    for nb in runner.course_notebooks():
        assert injected(nb.stem) == runner.refresh_parameters(nb), (
            f"{nb.name} was committed with other parameters than the course now gives it: "
            f"refresh it (`ferlib notebooks --refresh --only {nb.stem[:2]}`)"
        )
        record = injected(nb.stem)
        if "profile" in record:  # and what that profile held then is what it holds now
            assert runner.committed_profile(nb) == runner.profile_contents(record["profile"]), (
                f"params/{record['profile']}.yaml changed since {nb.name} was committed: refresh "
                f"it (`ferlib notebooks --refresh --only {nb.stem[:2]}`)"
            )
        cells = nbformat.read(nb, as_version=4).cells
        # no injected-parameters cell: a reader who runs a chapter gets its own defaults
        assert not [c for c in cells if "injected-parameters" in c.metadata.get("tags", [])]


def test_committed_numbers_are_the_dev_sets(dev_set):
    """What 00 and 10 print about the data is the data's own (counts and split sizes)."""
    data = load_dataset("diffusionfer", dev_set)
    explore = output_text("00_explore_data")
    assert f"{len(data)} labelled images" in explore
    assert f"images found on disk : {data.report.images_found}" in explore
    assert data.summary() in output_text("10_baseline")


def test_refresh_refuses_a_real_data_chapter_without_its_data(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "repo_root", lambda: tmp_path)
    with pytest.raises(ParameterError, match="not at .*data/diffusionfer.*ln -s"):
        runner.committed_parameters(NOTEBOOKS / "00_explore_data.ipynb")
    assert runner.committed_parameters(NOTEBOOKS / "40_real_faces.ipynb")["profile"] == "quick"
