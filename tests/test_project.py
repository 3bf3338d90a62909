"""The set-up files agree with each other: pyproject, environment.yml, the lock, CI and README."""

import re

import tomllib
import yaml
from packaging.requirements import Requirement

from ferlib.paths import repo_root

ROOT = repo_root()


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_reqs = {
        Requirement(r).name.lower(): str(Requirement(r).specifier)
        for r in pip
        if not r.startswith("-")
    }
    for raw in _pyproject()["project"]["dependencies"]:
        req = Requirement(raw)
        assert req.name.lower() in env_reqs, f"{req.name} missing from environment.yml"
        assert env_reqs[req.name.lower()] == str(req.specifier), req.name
    assert any(r.startswith("-e .") for r in pip), "environment.yml must install the project"


def test_lock_pins_every_dependency_within_its_range():
    pins = {}
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    project = _pyproject()["project"]
    for raw in project["dependencies"] + project["optional-dependencies"]["test"]:
        req = Requirement(raw)
        key = req.name.lower().replace("_", "-")
        assert key in pins, f"{req.name} not pinned in requirements/lock.txt"
        assert req.specifier.contains(pins[key], prereleases=True), (req.name, pins[key])


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^\./run_all\.sh[^\n]*", readme, flags=re.M)
    assert commands[:2] == ["./run_all.sh", "./run_all.sh test"]
    assert "exec ./run_all.sh test\n" in (ROOT / ".ci" / "run").read_text()


def test_generated_folders_are_ignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    for folder in ("/data/", "/outputs/", ".venv/"):
        assert folder in ignored
