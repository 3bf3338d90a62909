import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ferlib.course.envcheck as envcheck
from ferlib import cli
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


def test_bench_reports_loader_and_model_figures(tiny_synth, capsys):
    argv = [
        "bench",
        "--params",
        "ci",
        "--dataset",
        "synthetic",
        "--data-dir",
        str(tiny_synth),
        "--set",
        "batch_size=4",
        "--steps",
        "2",
        "--json",
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["loader_cached_images_per_s"] > 0 and result["loader_decode_images_per_s"] > 0
    figures = result["backbones"]["small_cnn"]
    assert figures["train_images_per_s_loader"] > 0 and figures["inference_images_per_s"] > 0
    assert figures["loader_share_of_prestaged"] == pytest.approx(
        figures["train_images_per_s_loader"] / figures["train_images_per_s_prestaged"], rel=0.05
    )
    assert result["peak_rss_mib"] > 0


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_a_user_error_is_one_line_and_a_bug_shows_its_traceback(monkeypatch, tmp_path, capsys):
    """``UserError`` (and ``OSError``) end in one line and exit 2; any other exception, a bare
    ``RuntimeError`` included, is a bug: ``main`` lets it through, so Python shows its
    traceback."""
    from ferlib.errors import UserError

    def body(message: str, kind: type[Exception]):
        def command(args):
            raise kind(message)

        return command

    argv = ["synth", "--out", str(tmp_path)]
    monkeypatch.setitem(cli.BODIES, "synth", body("a mistake\nof the user's", UserError))
    assert main(argv) == 2
    assert capsys.readouterr().err == "ferlib synth: error: a mistake of the user's\n"
    monkeypatch.setitem(cli.BODIES, "synth", body("no such folder", FileNotFoundError))
    assert main(argv) == 2
    assert capsys.readouterr().err == "ferlib synth: error: no such folder\n"
    for kind in (RuntimeError, ValueError, KeyError):
        monkeypatch.setitem(cli.BODIES, "synth", body("a bug", kind))
        with pytest.raises(kind, match="a bug"):
            main(argv)
        assert capsys.readouterr().err == ""  # nothing said in its place


@pytest.fixture
def trained(tiny_synth, tmp_path_factory):
    """A two-epoch Baseline on the tiny SyntheticFER, through the CLI."""
    out = tmp_path_factory.mktemp("run")
    argv = [
        "train",
        "--params",
        "ci",
        "--set",
        f"data_dir={tiny_synth}",
        "epochs=2",
        "batch_size=8",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    return out, tiny_synth


def test_train_writes_checkpoint_metrics_and_history(trained):
    out, _ = trained
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("rmse_v", "rmse_a", "pcc_v", "pcc_a", "ccc_v", "ccc_a", "sagr_v", "sagr_a"):
        assert isinstance(metrics[key], float)
    assert metrics["train_seconds"] > 0 and metrics["images_per_s"] > 0
    assert (out / "checkpoint.pt").is_file() and (out / "history.csv").is_file()


def test_evaluate_reproduces_the_training_test_metrics(trained, capsys):
    out, data_dir = trained
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    trained_metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ccc_v"] == pytest.approx(trained_metrics["ccc_v"], abs=1e-12)
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(out / "checkpoint.pt"),
                "--split",
                "all",
                "--dataset",
                "synthetic",
                "--data-dir",
                str(data_dir),
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["n"] == 42
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt")]) == 0
    assert re.search(r"valence +RMSE [\d.]+ +PCC", capsys.readouterr().out)


def test_predict_reports_and_skips_non_images(trained, tmp_path, capsys):
    out, data_dir = trained
    folder = data_dir / "DiffusionEmotion_S" / "cropped" / "happy"
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    capsys.readouterr()
    code = main(
        [
            "predict",
            "--checkpoint",
            str(out / "checkpoint.pt"),
            "--no-detect",
            str(folder),
            str(tmp_path / "notes.txt"),
            str(tmp_path / "broken.png"),
            "--format",
            "json",
        ]
    )
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    rows = result["rows"]
    assert code == 0 and len(rows) == len(list(folder.glob("*.png")))
    assert all(r["status"] == "ok" and -1.5 < r["valence"] < 1.5 for r in rows)
    statuses = {Path(s["source"]).name: s["status"] for s in result["inputs"]}
    assert statuses["notes.txt"] == "not an image or video"
    assert statuses["broken.png"] == "unreadable"
    assert "notes.txt: not an image or video" in captured.err and "broken.png" in captured.err


def test_results_table_from_runs(trained, capsys):
    out, _ = trained
    capsys.readouterr()
    assert main(["results", "--root", str(out)]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| method") and "| baseline |" in table


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "--method", "nope", "--out", "x"],
            "unknown method 'nope'; choose from baseline",
        ),
        (["train", "--set", "backbone=vgg", "--out", "x"], "unknown backbone 'vgg'; choose one of"),
        (["train", "--set", "lrate=0.1", "--out", "x"], "unknown parameter 'lrate'; valid:"),
    ],
)
def test_train_rejects_unknown_choices_in_one_line(argv, message, capsys, tmp_path):
    argv = [a if a != "x" else str(tmp_path / "x") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_bench_times_the_layout_it_is_asked_for(tiny_synth, capsys, monkeypatch):
    import ferlib.course.bench as bench

    layouts = []
    real_build = bench.build_method

    def recording(config):
        method = real_build(config)
        original = method.to

        def to(device, channels_last=False):
            layouts.append(channels_last)
            return original(device, channels_last=channels_last)

        method.to = to
        return method

    monkeypatch.setattr(bench, "build_method", recording)
    base = ["bench", "--params", "ci", "--dataset", "synthetic", "--data-dir", str(tiny_synth)]
    base += ["--set", "batch_size=4", "--steps", "1", "--json"]
    for layout in ("contiguous", "channels_last", "auto"):
        assert main([*base, "--layout", layout]) == 0
    capsys.readouterr()
    assert layouts == [False, True, True]  # auto: the trainer's choice, channels-last on the CPU


def test_augmented_training_and_the_robustness_table(tiny_synth, tmp_path, capsys):
    """``--set aug_*`` trains with augmentation; ``evaluate --shift`` scores clean and shifted."""
    out = tmp_path / "run"
    argv = ["train", "--params", "ci", "--set", f"data_dir={tiny_synth}", "epochs=1"]
    argv += ["batch_size=8", "aug_greyscale_p=0.5", "aug_jitter=0.3", "aug_rotate=10"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    checkpoint = str(out / "checkpoint.pt")
    assert json.loads((out / "metrics.json").read_text())["config"]["aug_greyscale_p"] == 0.5
    capsys.readouterr()
    shift = ["evaluate", "--checkpoint", checkpoint, "--shift", "greyscale,hflip"]
    assert main([*shift, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["shift"] for r in rows] == ["clean", "greyscale", "hflip"]
    assert main([*shift, "--shift-seed", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == rows  # neither shift is random
    assert main([*shift, "--markdown"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| shift | mean CCC") and table[3].startswith("| greyscale |")
    assert main(["evaluate", "--checkpoint", checkpoint, "--shift", "sepia"]) == 2
    assert "unknown shift 'sepia'" in capsys.readouterr().err


@pytest.mark.slow
def test_ship_model_builds_an_ensemble_bit_for_bit_and_rewrites_its_card(
    tiny_synth, tmp_path, monkeypatch, capsys
):
    """Two members with flip TTA in one file, scored as ``evaluate`` scores it; a rebuild from
    an empty run store gives the same weights; ``--card-only`` rewrites the card alone."""
    from ferlib.inference.shipped import weight_digest
    from ferlib.models import Ensemble
    from ferlib.training.checkpoint import load_model

    argv = ["ship-model", "--params", "ci", "--data-dir", str(tiny_synth), "--members", "2"]
    argv += ["--hflip", "--set", "epochs=1", "batch_size=8"]
    digests = []
    for build in ("a", "b"):
        monkeypatch.setenv("FERZOO_OUTPUTS", str(tmp_path / f"outputs_{build}"))
        assert main([*argv, "--out", str(tmp_path / build)]) == 0
        digests.append(weight_digest(tmp_path / build / "model.pt"))
    assert digests[0] == digests[1]
    model, config = load_model(tmp_path / "a" / "model.pt")
    assert isinstance(model, Ensemble) and len(model.members) == 2 and model.hflip
    facts = json.loads((tmp_path / "a" / "card.json").read_text())
    assert facts["seeds"] == [0, 1] and "--members 2 --hflip" in facts["command"]
    capsys.readouterr()
    scored = ["evaluate", "--checkpoint", str(tmp_path / "a" / "model.pt")]
    assert main([*scored, "--data-dir", str(tiny_synth), "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)
    assert measured["ccc_mean"] == pytest.approx(facts["test_metrics"]["ccc_mean"], abs=1e-6)
    card = tmp_path / "a" / "MODEL_CARD.md"
    card.write_text("stale")
    assert main(["ship-model", "--card-only", "--out", str(tmp_path / "a")]) == 0
    assert "an ensemble of 2 runs" in card.read_text()


def test_ship_model_refuses_a_bad_member_count_and_a_missing_data_dir(capsys, tmp_path):
    assert main(["ship-model", "--data-dir", str(tmp_path), "--members", "0"]) == 2
    assert "--members must be 1 to" in capsys.readouterr().err
    assert main(["ship-model"]) == 2
    assert "needs --data-dir" in capsys.readouterr().err
    assert main(["ship-model", "--card-only", "--out", str(tmp_path)]) == 2
    assert "no card facts" in capsys.readouterr().err
