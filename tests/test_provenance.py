"""Provenance of the published recipes (``params/full.yaml``).

Every value of the profile ends with its source, a tag that its header explains: ``paper``,
``authors' code: REPO file:line``, ``toolbox: file:line`` or ``ours (why)``. These tests check
that no value is untagged, that each authors'-code or toolbox value carries the value and the
citation verified by hand in the authors' repositories (``VERIFIED`` below, not read from the
profile), that the README's recipe table gives the same values and sources, and that the method
notes' hyperparameter tables tag every row (docs/methods/README.md §6 is the rule behind it).
"""

from __future__ import annotations

import re

import pytest
import yaml

import ferlib.methods  # noqa: F401  (registers the methods whose recipes these tests read)
from ferlib.params import PARAMETERS, load_recipes, profile_path, resolve_config
from ferlib.paths import repo_root

ROOT = repo_root()
CITE = r"[\w./-]+\.\w+:\d+(?:-\d+)?"
REPO_OF = {"caf": "CAL-FER", "avce": "AVCE_FER", "elim": "ELIM_FER"}
TAG = re.compile(
    r"^(?:(?P<paper>paper)\b.*"
    r"|(?P<ours>ours) (?:\(.+\)|: .+)"
    rf"|(?P<code>authors' code): (?P<repo>CAL-FER|AVCE_FER|ELIM_FER) (?P<cite>{CITE})\b.*"
    rf"|(?P<toolbox>toolbox): (?P<tcite>{CITE})\b.*)$"
)
LINE = re.compile(r"^(?P<indent> *)(?P<key>\w+):(?P<value>[^#]*?)\s*(?:#\s*(?P<comment>.*))?$")
HEADER_REPO = re.compile(
    r"^#\s+(?P<tag>CAL-FER|AVCE_FER|ELIM_FER|toolbox)\s+\S+ (?P<commit>[0-9a-f]{7,40})\b"
)
# The commits whose lines the tags cite (the ones the provenance audit named).
COMMITS = {"CAL-FER": "bb9ec95", "AVCE_FER": "b47e9e7", "ELIM_FER": "fb1aa0d", "toolbox": "17d6d2d"}
CAF_STEPS = list(range(5000, 50001, 5000))  # StepLR(5000, 0.9) written out to 50k
# Each sourced value of full.yaml as read in the authors' repositories: (value, source as the tag
# must begin). None is the top level (the Baseline's recipe, shared by every method).
VERIFIED: dict[tuple[str | None, str], tuple[object, str]] = {
    (None, "image_size"): (224, "authors' code: ELIM_FER archs/elim.py:35"),
    (None, "backbone"): ("alexnet", "paper"),
    (None, "epochs"): (10, "toolbox: archs/fer.py:47"),
    (None, "batch_size"): (128, "toolbox: run.sh:8"),
    (None, "eval_batch_size"): (64, "toolbox: archs/fer.py:74"),
    (None, "lr"): (1e-4, "toolbox: archs/fer.py:68-69"),
    (None, "betas"): ([0.5, 0.99], "toolbox: archs/baseline.py:91-92"),
    (None, "milestones"): ([500, 1000, 2000, 5000, 10000], "toolbox: archs/baseline.py:103-104"),
    (None, "gamma"): (0.8, "toolbox: archs/baseline.py:103-104"),
    ("caf", "batch_size"): (256, "authors' code: CAL-FER src/main.py:402"),
    ("caf", "lr"): (1e-4, "authors' code: CAL-FER src/main.py:419-421"),
    ("caf", "caf_betas"): ([0.5, 0.9], "authors' code: CAL-FER src/main.py:419-421"),
    ("caf", "gamma"): (0.9, "authors' code: CAL-FER src/main.py:423-425"),
    ("caf", "milestones"): (CAF_STEPS, "authors' code: CAL-FER src/main.py:423-425"),
    ("caf", "epochs"): (131, "authors' code: CAL-FER src/main.py:436"),
    ("caf", "caf_aknn_c"): (0.7, "authors' code: CAL-FER src/main.py:171"),
    ("caf", "caf_adv_weight"): (0.1, "authors' code: CAL-FER src/main.py:232"),
    ("avce", "batch_size"): (256, "authors' code: AVCE_FER main.py:291"),
    ("avce", "lr"): (1e-4, "authors' code: AVCE_FER main.py:330-331"),
    ("avce", "avce_betas"): ([0.5, 0.9], "authors' code: AVCE_FER main.py:330-331"),
    ("avce", "avce_view_lr"): (0.01, "authors' code: AVCE_FER main.py:332-333"),
    ("avce", "avce_view_momentum"): (0.9, "authors' code: AVCE_FER main.py:332-333"),
    ("avce", "gamma"): (0.8, "authors' code: AVCE_FER main.py:335-338"),
    ("avce", "milestones"): (
        [5000, 25000, 45000, 65000, 85000],
        "authors' code: AVCE_FER main.py:335-338",
    ),
    ("avce", "epochs"): (100, "authors' code: AVCE_FER main.py:346"),
    ("avce", "avce_lambda"): (1e-4 * 256, "authors' code: AVCE_FER main.py:182"),
    ("elim", "batch_size"): (512, "authors' code: ELIM_FER run.sh:10"),
    ("elim", "elim_p"): (16, "ours"),
    ("elim", "elim_ids_per_step"): (10, "authors' code: ELIM_FER run.sh:6"),
    ("elim", "lr"): (5e-5, "authors' code: ELIM_FER run.sh:4-5"),
    ("elim", "elim_head_lr_scale"): (0.2, "authors' code: ELIM_FER archs/elim.py:81"),
    ("elim", "betas"): ([0.5, 0.99], "authors' code: ELIM_FER archs/elim.py:80-82"),
    ("elim", "gamma"): (0.8, "authors' code: ELIM_FER archs/elim.py:95-98"),
    ("elim", "milestones"): (
        [500, 2500, 5000, 7500, 10000],
        "authors' code: ELIM_FER archs/elim.py:95-98",
    ),
    ("elim", "epochs"): (50, "authors' code: ELIM_FER archs/fer.py:29"),
    ("elim", "elim_weight"): (0.5, "authors' code: ELIM_FER archs/elim.py:348"),
    ("elim", "elim_warmup_start"): (5, "authors' code: ELIM_FER run.sh:13"),
    ("elim", "elim_warmup_end"): (50, "authors' code: ELIM_FER run.sh:14"),
    ("elim", "elim_reg"): (1 / 5, "authors' code: ELIM_FER common/utils.py:114"),
}
NOTE_TABLES = {"baseline": "5", "caf": "5", "avce": "5", "elim": "6"}


def value_tags(text: str) -> dict[tuple[str | None, str], str | None]:
    """(method section or None, key) -> the comment ending that key's value line (None: none).

    Keys without a value (``recipes:``, ``caf:``) are headers, not values."""
    tags: dict[tuple[str | None, str], str | None] = {}
    section = None
    for line in text.splitlines():
        m = LINE.match(line)
        if m is None or line.lstrip().startswith("#"):
            continue
        depth = len(m["indent"])
        if not m["value"].strip():
            section = m["key"] if depth == 2 else None
            continue
        tags[(section if depth else None, m["key"])] = m["comment"]
    return tags


def tag_problem(section: str | None, comment: str | None) -> str | None:
    """Why ``comment`` is not a valid source for a value of ``section`` (None: it is)."""
    if not comment:
        return "no source"
    tag = TAG.match(comment)
    if tag is None:
        return f"not a source tag: {comment!r}"
    if tag["repo"] and section is not None and tag["repo"] != REPO_OF[section]:
        return f"{section}'s value cites {tag['repo']}"
    if tag["toolbox"] and section is not None:
        return "the toolbox is the Baseline's source, not a method's"
    return None


def problems(text: str) -> dict[tuple[str | None, str], str]:
    found = {key: tag_problem(key[0], comment) for key, comment in value_tags(text).items()}
    return {key: why for key, why in found.items() if why}


def full_text() -> str:
    return profile_path("full").read_text()


def leaves(data: dict) -> set[tuple[str | None, str]]:
    sections = data.get("recipes") or {}
    return {(None, k) for k in data if k != "recipes"} | {
        (m, k) for m, section in sections.items() for k in section
    }


def test_every_value_of_full_yaml_names_its_source():
    text = full_text()
    assert set(value_tags(text)) == leaves(yaml.safe_load(text))  # every value line is read
    assert problems(text) == {}


def test_the_header_names_the_commit_of_every_cited_repository():
    header = {m["tag"]: m["commit"] for m in map(HEADER_REPO.match, full_text().splitlines()) if m}
    assert header == COMMITS


def test_the_checker_catches_untagged_and_mis_sourced_values():
    text = (
        "lr: 0.1\n"
        "gamma: 0.5  # guess (no source)\n"
        "epochs: 10  # toolbox: archs/fer.py:47\n"
        "recipes:\n"
        "  caf:  # a section header is not a value\n"
        "    epochs: 3  # authors' code: ELIM_FER run.sh:1\n"
        "    lr: 0.1  # ours\n"
        "    batch_size: 8  # toolbox: run.sh:8\n"
        "    gamma: 0.9  # authors' code: CAL-FER src/main.py:423-425 (StepLR)\n"
        "    seed: 1  # ours (a reason)\n"
    )
    assert problems(text) == {
        (None, "lr"): "no source",
        (None, "gamma"): "not a source tag: 'guess (no source)'",
        ("caf", "epochs"): "caf's value cites ELIM_FER",
        ("caf", "lr"): "not a source tag: 'ours'",
        ("caf", "batch_size"): "the toolbox is the Baseline's source, not a method's",
    }


def configs() -> dict[str | None, dict]:
    return {None: resolve_config("full")} | {
        m: resolve_config("full", {"method": m}) for m in REPO_OF
    }


def test_sourced_values_are_the_ones_verified_in_the_authors_code():
    tags, runs = value_tags(full_text()), configs()
    sourced = {k for k, c in tags.items() if c and c.startswith(("authors' code", "toolbox"))}
    assert sourced <= set(VERIFIED), sourced - set(VERIFIED)  # no unverified citation
    for (section, key), (value, source) in VERIFIED.items():
        assert runs[section][key] == pytest.approx(value), (section, key)
        assert tags[(section, key)].startswith(source), (section, key, tags[(section, key)])


# --- the README's recipe table -----------------------------------------------------------------
def readme_rows() -> list[tuple[str, list[str], list, str]]:
    """(method, keys, values, source) of the "Parameter profiles" table of `full`."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("| method | setting | `full` | source |") + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        method, setting, full, source = (c.strip() for c in line.strip("|").split("|"))
        keys = re.findall(r"`(\w+)`", setting)
        values = [yaml.safe_load(v) for v in re.findall(r"`([^`]+)`", full)]
        rows.append((method, keys, values, source))
    return rows


def test_the_readme_recipe_table_gives_full_yaml_s_values_and_sources():
    tags, runs = value_tags(full_text()), configs()
    recipes = load_recipes("full")
    covered = set()
    for method, keys, values, source in readme_rows():
        assert len(keys) == len(values), (method, keys)
        name = None if method in ("all", "Baseline") else method.lower()
        for key, value in zip(keys, values, strict=True):
            section = name if key in recipes.get(name, {}) else None
            arms = runs.values() if method == "all" else [runs[name]]
            assert all(run[key] == value for run in arms), (method, key, value)
            tag = TAG.match(tags[(section, key)])
            kind = next(k for k in ("paper", "ours", "code", "toolbox") if tag[k])
            assert tag[kind] in source, (method, key, source)
            for cite in (tag["cite"], tag["tcite"], tag["repo"]):
                assert cite is None or cite in source, (method, key, cite)
            covered.add((section, key))
    recipe_keys = {
        k
        for k in leaves(yaml.safe_load(full_text()))
        if PARAMETERS[k[1]].group in ("training", "method")
        and k[1] not in ("seed", "device", "num_workers")
    }
    assert recipe_keys <= covered, recipe_keys - covered


# --- the method notes' hyperparameter tables ---------------------------------------------------
def note_table(note: str, section: str) -> list[dict[str, str]]:
    """The rows of the first table under ``## <section>.`` of docs/methods/<note>.md."""
    text = (ROOT / "docs" / "methods" / f"{note}.md").read_text()
    body = text.split(f"\n## {section}. ", 1)[1].split("\n## ", 1)[0]
    table = [line for line in body.splitlines() if line.startswith("|")]
    head = [c.strip() for c in table[0].strip("|").split("|")]
    return [
        dict(zip(head, (c.strip() for c in r.strip("|").split("|")), strict=True))
        for r in table[2:]
    ]


@pytest.mark.parametrize(("note", "section"), NOTE_TABLES.items())
def test_every_row_of_a_note_s_hyperparameter_table_names_its_source(note, section):
    rows = note_table(note, section)
    assert len(rows) >= 6 and all("source" in row for row in rows)
    for row in rows:
        source = row["source"]
        assert re.match(r"(paper\b|ours \(|authors' code: |toolbox: )", source), (note, row)
        if source.startswith(("authors' code", "toolbox")):
            assert re.search(CITE, source), (note, row)
