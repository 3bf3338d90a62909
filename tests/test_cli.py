import json
import re
import subprocess
import sys

import pytest

import ferlib.envcheck as envcheck
from ferlib.cli import main


def test_synth_command(tmp_path, capsys):
    assert (
        main(
            [
                "synth",
                "--out",
                str(tmp_path),
                "--identities",
                "4",
                "--per-class",
                "2",
                "--size",
                "48",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert "14 images of 48px" in capsys.readouterr().out
    assert len(list((tmp_path / "DiffusionEmotion_S" / "cropped").rglob("*.png"))) == 14


def test_data_report_on_the_shared_dev_set(dev_set, capsys):
    assert (
        main(["data-report", "--dataset", "diffusionfer", "--data-dir", str(dev_set), "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert (report["images_found"], report["labelled"], report["unlabelled"]) == (895, 894, 1)
    assert report["issues"]["unlabelled_image"]["files"] == ["fear/ammtdcie_4.png"]
    assert main(["data-report", "--dataset", "diffusionfer", "--data-dir", str(dev_set)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"images found on disk : 895", text)
    assert re.search(r"unlabelled_image\s+1\s+\[skipped\]", text)
    assert "fear/ammtdcie_4.png" in text


def test_data_report_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["data-report", "--dataset", "diffusionfer", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "dataset_sheet.csv" in err


def test_bench_reports_loader_figures(tiny_synth, capsys):
    assert (
        main(
            [
                "bench",
                "--dataset",
                "synthetic",
                "--data-dir",
                str(tiny_synth),
                "--batch-size",
                "4",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["loader_cached_images_per_s"] > 0 and result["loader_decode_images_per_s"] > 0
    assert result["peak_rss_mib"] > 0


def test_check_env_prints_one_status_line_per_requirement():
    proc = subprocess.run(
        [sys.executable, "-m", "ferlib", "check-env"], capture_output=True, text=True, timeout=120
    )
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == len(envcheck.CHECKS)
    assert all(re.match(r"^\[(OK|FAIL)\] ", line) for line in lines), lines
    assert proc.returncode == (1 if any(line.startswith("[FAIL]") for line in lines) else 0)
    assert any("torchvision" in line and "compiled ops work" in line for line in lines)


def test_check_env_fails_on_any_fail(monkeypatch, capsys):
    monkeypatch.setattr(
        envcheck,
        "CHECKS",
        [
            ("ok", lambda: (True, "fine")),
            ("bad", lambda: (False, "broken")),
            ("crash", lambda: 1 / 0),
        ],
    )
    assert envcheck.main() == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "[OK] fine",
        "[FAIL] broken",
        "[FAIL] crash: ZeroDivisionError: division by zero",
    ]


def test_python_dash_m_matches_the_console_script():
    proc = subprocess.run(
        [sys.executable, "-m", "ferlib", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    for command in ("synth", "data-report", "bench", "notebooks", "check-env"):
        assert command in proc.stdout


@pytest.mark.parametrize("argv", [["data-report", "--dataset", "affectnet"], ["frobnicate"]])
def test_unknown_choices_list_the_valid_ones(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "choose from" in capsys.readouterr().err
