"""ferlib.reporting.anchors: the published numbers of docs/methods/metrics.md §7, shown apart."""

from __future__ import annotations

import pytest

from ferlib.cli import main
from ferlib.paths import repo_root
from ferlib.reporting.anchors import PUBLISHED, anchors_markdown

METRICS_MD = repo_root().parent / "shared" / "methods" / "metrics.md"


def test_every_anchor_row_is_in_the_course_s_table():
    if not METRICS_MD.is_file():
        pytest.skip(f"course material not found at {METRICS_MD}")
    rows = [line for line in METRICS_MD.read_text().splitlines() if line.startswith("|")]
    for anchor in PUBLISHED:
        values = [v for v in (anchor.rmse, anchor.pcc, anchor.ccc, anchor.sagr) if v]
        assert any(all(v in row for v in values) for row in rows), anchor


def test_markdown_lists_each_anchor_once_and_the_claims():
    text = anchors_markdown()
    assert text.count("\n| ") == len(PUBLISHED)  # one line per anchor after the header
    assert "| AVCE | Aff-Wild test | AlexNet | 0.154 / 0.154 | – | 0.682 / 0.594 |" in text
    assert "ELIM" in text and "no ELIM numbers" in text


def test_results_command_prints_anchors_apart(tmp_path, capsys):
    run = tmp_path / "synthetic" / "baseline" / "abc" / "seed0"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text('{"ccc_v": 0.5, "config": {"method": "baseline"}}')
    assert main(["results", "--root", str(tmp_path), "--anchors"]) == 0
    out = capsys.readouterr().out
    ours, _, published = out.partition("Published anchors")
    assert "| baseline |" in ours and "0.682 / 0.594" in published and "0.682" not in ours
