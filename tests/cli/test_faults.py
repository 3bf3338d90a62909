"""The fault suite: each way a hostile or clumsy user can hurt a run, and its defined outcome.

Every case asserts three things: the message (one line on stderr that names the cause), the
exit code (2 for a user error) and that nothing already there was lost or overwritten. The
README's "What happens when…" table lists the same cases. Tiny data, 32 px, one epoch: the
module stays fast.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

from ferlib.cli import main
from ferlib.data import cache_images, load_va_csv
from ferlib.training import checkpoint as ckpt
from ferlib.training.runlock import LOCK, RunLock

TRAIN = ["--params", "ci", "--no-progress", "--set", "epochs=1", "batch_size=8", "image_size=32"]


def one_line_error(capsys, code: int, argv: list[str]) -> str:
    """Run ``ferlib argv``; assert exit ``code`` and exactly one line on stderr; return it."""
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes under ``folder`` (to show nothing was lost or overwritten)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def va_csv(tiny_synth, tmp_path):
    """The tiny SyntheticFER as a generic VA CSV (``<emotion>/<file>`` paths, identity column)."""
    folder = tmp_path / "faces"
    shutil.copytree(tiny_synth / "DiffusionEmotion_S" / "cropped", folder)
    sheet = pd.read_csv(tiny_synth / "DiffusionEmotion_S" / "dataset_sheet.csv")
    table = pd.DataFrame(
        {
            "path": sheet["subDirectory_filePath"].str.split("/").str[-2:].str.join("/"),
            "valence": sheet["valence"],
            "arousal": sheet["arousal"],
            "identity": sheet["identity"],
        }
    )
    table.to_csv(folder / "va.csv", index=False)
    return folder / "va.csv", table


def data_set(csv: Path) -> list[str]:
    return ["dataset=csv", f"data_dir={csv}"]


@pytest.fixture(scope="module")
def finished_run(tiny_synth, tmp_path_factory):
    """A finished one-epoch run (``checkpoint.pt``, ``last.pt``, metrics) through the CLI."""
    out = tmp_path_factory.mktemp("run")
    assert main(["train", *TRAIN, f"data_dir={tiny_synth}", "--out", str(out)]) == 0
    return out, tiny_synth


# --- 1. silent wrong results ------------------------------------------------------------------
def test_changed_labels_never_reuse_a_run(va_csv, tmp_path, capsys, monkeypatch):
    """Edited labels: a new run folder by default; a given folder holding the old run refused.
    A few dropped rows: the summary line and a warning naming the likely cause."""
    csv, table = va_csv
    monkeypatch.setenv("FERZOO_OUTPUTS", str(tmp_path / "outputs"))
    table.loc[:2, "valence"] = 5.0  # 3 of 42 rows on a ±10 scale: dropped, with a warning
    table.to_csv(csv, index=False)
    assert main(["train", *TRAIN, *data_set(csv)]) == 0
    out, err = capsys.readouterr()
    assert "42 rows, 39 usable, 3 dropped (invalid_va 3); identities: 6 people" in out
    assert "warning: 3 of 42 rows (7%) dropped" in err and "rescale by 1/10" in err
    first = next((tmp_path / "outputs" / "runs").rglob("metrics.json")).parent
    before = snapshot(first)

    table.loc[10, "valence"] = -table.loc[10, "valence"] + 0.01  # one label edited
    table.to_csv(csv, index=False)
    assert main(["train", *TRAIN, *data_set(csv)]) == 0
    runs = sorted(p.parent for p in (tmp_path / "outputs" / "runs").rglob("metrics.json"))
    assert len(runs) == 2 and first in runs  # a new folder; the old run untouched
    assert snapshot(first) == before
    capsys.readouterr()

    assert main(["train", *TRAIN, *data_set(csv), "--out", str(first)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("ferlib train: warning: 3 of 42 rows")
    assert "trained on other data: labels differ (39 rows then, 39 now)" in err[1]
    assert snapshot(first) == before

    from ferlib.params import resolve_config
    from ferlib.runs.store import fit_or_load

    config = resolve_config(
        "ci",
        {"epochs": 1, "batch_size": 8, "image_size": 32, "dataset": "csv", "data_dir": str(csv)},
    )
    with pytest.raises(ValueError, match="holds a run of this configuration on other data"):
        fit_or_load(config, first)
    assert snapshot(first) == before


def test_emotion_folders_are_not_taken_for_people(va_csv, capsys):
    csv, table = va_csv
    table.drop(columns="identity").to_csv(csv, index=False)
    with pytest.warns(UserWarning, match="emotion names"):
        assert main(["data-report", "--dataset", "csv", "--data-dir", str(csv), "--no-decode"]) == 0
    out = capsys.readouterr().out
    assert "identities           : none (the first folders of the paths are emotion names" in out


def test_mostly_dropped_data_stops_training_with_the_likely_cause(va_csv, tmp_path, capsys):
    csv, table = va_csv
    table.assign(valence=table["valence"] * 10, arousal=table["arousal"] * 10).to_csv(
        csv, index=False
    )
    err = one_line_error(capsys, 2, ["train", *TRAIN, *data_set(csv), "--out", str(tmp_path / "r")])
    assert "rows" in err and "dropped, most as invalid_va" in err
    assert "a ±10 scale? rescale by 1/10 (AFEW-VA)" in err and "ferlib data-report" in err
    assert not (tmp_path / "r").exists()


def test_nothing_left_after_filtering_says_why_and_where_to_look(va_csv, tmp_path, capsys):
    csv, table = va_csv
    table.assign(valence="n/a").to_csv(csv, index=False)
    err = one_line_error(capsys, 2, ["train", *TRAIN, *data_set(csv), "--out", str(tmp_path / "r")])
    assert "42 of 42 rows (100%) dropped" in err and "nothing to train on" in err
    assert "not a number (e.g. 'n/a')" in err and "ferlib data-report --dataset csv" in err


def test_a_second_writer_is_refused_and_a_stale_lock_is_taken_over(finished_run, capsys):
    out, synth = finished_run
    before = snapshot(out)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK).write_text(f'{{"pid": {holder.pid}, "host": "{os.uname().nodename}"}}')
        argv = ["train", *TRAIN, f"data_dir={synth}", "--out", str(out)]
        err = one_line_error(capsys, 2, argv)
        assert f"is in use by process {holder.pid}" in err
        assert {k: v for k, v in snapshot(out).items() if k != LOCK} == before
    finally:
        holder.kill()
        holder.wait()
    with RunLock(out):  # the holder is gone: its lock is stale and taken over
        assert f'"pid": {os.getpid()}' in (out / LOCK).read_text()
    assert not (out / LOCK).exists()


def test_resume_says_where_it_resumes(tiny_synth, tmp_path, capsys):
    from ferlib.params import resolve_config
    from ferlib.training.trainer import train

    config = resolve_config(
        "ci", {"data_dir": str(tiny_synth), "epochs": 2, "batch_size": 8, "image_size": 32}
    )

    def stop(epoch, row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path, progress=False, callbacks=[stop])
    assert not (tmp_path / LOCK).exists()  # released on the way out
    train(config, tmp_path, progress=False)
    assert "resuming from epoch 2 of 2" in capsys.readouterr().out
    train(config, tmp_path, progress=False)
    assert "all 2 epochs trained already" in capsys.readouterr().out


# --- 2. errors a user can provoke: one line, exit code 2 ---------------------------------------
def test_decompression_bombs_are_reported_like_undecodable_images(
    finished_run, va_csv, tmp_path, capsys, monkeypatch
):
    csv, table = va_csv
    bomb = csv.parent / table.loc[0, "path"]
    Image.new("RGB", (400, 400)).save(bomb)  # 160 000 pixels, > 2 × the limit below
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)
    data = cache_images(load_va_csv(csv), 32, cache_dir=tmp_path / "cache")
    assert data.report.issues["corrupt_image"] == [table.loc[0, "path"]]
    assert len(data) == 41

    out, _ = finished_run
    good = csv.parent / table.loc[1, "path"]
    assert main(["predict", "--checkpoint", str(out / ckpt.BEST), str(bomb), str(good)]) == 0
    captured = capsys.readouterr()
    assert str(good) in captured.out and str(bomb) not in captured.out
    assert "too large to decode safely" in captured.err and str(bomb) in captured.err


def test_a_file_where_a_folder_should_be_is_refused_before_training(
    tiny_synth, tmp_path, capsys, monkeypatch
):
    import ferlib.paths

    blocker = tmp_path / "blocker"
    blocker.write_text("keep me")
    argv = ["train", *TRAIN, f"data_dir={tiny_synth}"]
    err = one_line_error(capsys, 2, [*argv, "--out", str(blocker / "run")])
    assert f"output folder {blocker} is a file, not a folder" in err
    monkeypatch.setenv("FERZOO_OUTPUTS", str(blocker))
    assert "is a file, not a folder" in one_line_error(capsys, 2, argv)
    monkeypatch.delenv("FERZOO_OUTPUTS")
    monkeypatch.setattr(ferlib.paths, "data_home", lambda: blocker)
    err = one_line_error(capsys, 2, [*argv, "--out", str(tmp_path / "run")])
    assert f"data folder (generated data and tensor store) {blocker} is a file" in err
    assert blocker.read_text() == "keep me" and not (tmp_path / "run").exists()
    err = one_line_error(capsys, 2, ["synth", "--out", str(blocker), "--workers", "1"])
    assert "is a file, not a folder" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_output_folder_is_refused_before_training(tiny_synth, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    argv = ["train", *TRAIN, f"data_dir={tiny_synth}", "--out", str(locked / "run")]
    assert "is not writable (permission denied)" in one_line_error(capsys, 2, argv)


@pytest.mark.parametrize(
    "setting, message",
    [
        ("epochs=0", "epochs must be ≥ 1"),
        ("batch_size=0", "batch_size must be ≥ 1"),
        ("lr=0", "lr must be > 0"),
        ("dropout=2", r"dropout must be in [0, 1)"),
        ("epochs=ten", "should be an integer"),
        ("lr=[0.1", "--set lr: '[0.1' is not valid YAML (expected ',' or ']'"),
    ],
)
def test_bad_parameters_are_one_line(setting, message, tmp_path, capsys):
    err = one_line_error(capsys, 2, ["train", "--set", setting, "--out", str(tmp_path / "r")])
    assert message in err
    assert not (tmp_path / "r").exists()


def test_image_size_the_backbone_cannot_take_and_malformed_profiles(tmp_path, capsys):
    argv = ["train", "--set", "backbone=alexnet", "image_size=32", "--out", str(tmp_path / "r")]
    assert "too small for backbone 'alexnet': it needs at least 63 px" in one_line_error(
        capsys, 2, argv
    )
    profile = tmp_path / "mine.yaml"
    profile.write_text("epochs: 3\nlr: [0.1\n")
    err = one_line_error(capsys, 2, ["train", "--params", str(profile)])
    assert "not valid YAML at line 2 ('lr: [0.1')" in err


def test_backbone_input_sizes_are_measured_not_guessed():
    from ferlib.models.backbones import build_backbone
    from ferlib.params import MIN_IMAGE_SIZE

    for name in ("small_cnn", "alexnet"):
        trunk, smallest = build_backbone(name).eval(), MIN_IMAGE_SIZE[name]
        with torch.no_grad():
            trunk(torch.zeros(1, 3, smallest, smallest))
            with pytest.raises(RuntimeError):
                trunk(torch.zeros(1, 3, smallest - 1, smallest - 1))


def test_a_resume_file_works_as_a_model_and_a_foreign_one_is_one_line(
    finished_run, tmp_path, capsys
):
    out, synth = finished_run
    argv = ["evaluate", "--data-dir", str(synth), "--json", "--checkpoint"]
    assert main([*argv, str(out / ckpt.LAST)]) == 0
    from_last = capsys.readouterr().out
    assert main([*argv, str(out / ckpt.BEST)]) == 0
    assert from_last == capsys.readouterr().out  # one epoch: last is best

    blob = torch.load(out / ckpt.BEST, weights_only=True)
    blob["modules"]["model"] = {k: v[:1] for k, v in blob["modules"]["model"].items()}
    torch.save(blob, tmp_path / "foreign.pt")
    err = one_line_error(capsys, 2, [*argv, str(tmp_path / "foreign.pt")])
    assert "its weights do not fit the model it describes" in err and "size mismatch" in err
    torch.save({"format": 1, "weights": 0}, tmp_path / "other.pt")
    assert "holds no trained model" in one_line_error(
        capsys, 2, [*argv, str(tmp_path / "other.pt")]
    )


def test_a_truncated_or_foreign_tensor_store_is_named_and_rebuilt(tiny_synth, tmp_path):
    from ferlib.data import load_dataset

    fresh = cache_images(load_dataset("synthetic", tiny_synth), 32, cache_dir=tmp_path)
    (store,) = tmp_path.glob("*.pt")
    blob = torch.load(store, weights_only=True)
    for fault, damage in (
        ("is unreadable", lambda: store.write_bytes(store.read_bytes()[:1000])),
        ("is not a FER-Zoo tensor store", lambda: torch.save({"images": 0}, store)),
        ("does not match the dataset", lambda: torch.save({**blob, "keys": []}, store)),
    ):
        damage()
        with pytest.warns(UserWarning, match=f"tensor store {store}.*{fault}.*rebuilding it"):
            again = cache_images(load_dataset("synthetic", tiny_synth), 32, cache_dir=tmp_path)
        assert torch.equal(again.images, fresh.images)
        assert torch.equal(torch.load(store, weights_only=True)["images"], fresh.images)


def test_conflicting_duplicate_rows_are_reported_not_resolved(va_csv, capsys):
    csv, table = va_csv
    twin = table.iloc[[5, 6]].assign(valence=[0.9, table.loc[6, "valence"]])
    pd.concat([table, twin]).to_csv(csv, index=False)
    assert main(["data-report", "--dataset", "csv", "--data-dir", str(csv), "--no-decode"]) == 0
    out = capsys.readouterr().out
    assert "conflicting_labels                 2  [dropped]" in out
    assert "duplicate_row                      1  [dropped]" in out


def test_a_failing_notebook_reports_its_own_exception():
    from papermill.exceptions import PapermillExecutionError

    from ferlib.course.runner import failure_line

    err = PapermillExecutionError(3, 4, "In [4]", "ValueError", "lr must be > 0\nmore", ["tb"])
    assert str(err).splitlines()[1].startswith("----")  # papermill's own text says nothing
    assert failure_line(err) == "ValueError: lr must be > 0"


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["data-report", "--dataset", "csv", "--data-dir", "/nonexistent/va.csv"], 2, "va.csv"),
        (["evaluate", "--checkpoint", "/nonexistent/checkpoint.pt"], 2, "no such checkpoint"),
        (["evaluate", "--checkpoint", __file__], 2, "not a readable FER-Zoo checkpoint"),
        (["predict", "--checkpoint", "/nonexistent/checkpoint.pt", "x.png"], 2, "no such"),
        (["results", "--root", "/nonexistent"], 1, "no metrics.json"),
        (["bench", "--set", "epochs=0"], 2, "epochs must be ≥ 1"),
        (["notebooks", "--profile", "nope"], 2, "no params profile 'nope'"),
        (["train", "--method", "nope", "--out", "/nonexistent/r"], 2, "unknown method 'nope'"),
    ],
)
def test_every_command_answers_bad_input_in_one_line(argv, code, message, capsys):
    assert message in one_line_error(capsys, code, argv)


# --- cases that already behaved well, kept that way ----------------------------------------------
def test_crlf_and_bom_sheets_and_unicode_paths_load(va_csv):
    csv, table = va_csv
    person = csv.parent / "Zoë ünïcode"
    person.mkdir()
    shutil.copy(csv.parent / table.loc[0, "path"], person / "gesicht ä.png")
    table.loc[0, "path"] = "Zoë ünïcode/gesicht ä.png"
    text = table.to_csv(index=False, lineterminator="\r\n")
    csv.write_bytes("\ufeff".encode() + text.encode("utf-8"))
    data = load_va_csv(csv)
    assert len(data) == 42 and "Zoë ünïcode/gesicht ä.png" in set(data.frame["key"])
    assert data.report.issues == {}


@pytest.mark.slow
def test_kill_9_mid_run_resumes_and_takes_over_the_stale_lock(tiny_synth, tmp_path):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "ferlib", "train", *TRAIN, f"data_dir={tiny_synth}"]
    argv = [a if a != "epochs=1" else "epochs=12" for a in argv] + ["--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):  # until the first epoch is written (at most 60 s)
            if (out / ckpt.LAST).is_file() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert (out / ckpt.LAST).is_file(), proc.stderr.read().decode()
        assert (out / LOCK).is_file()
    finally:
        proc.kill()  # SIGKILL: no clean-up runs, the lock stays behind
        proc.wait()
    assert (out / LOCK).is_file()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert re.search(r"resuming from epoch ([2-9]|1[0-2]) of 12", done.stdout), done.stdout
    assert (out / "metrics.json").is_file()
    assert not (out / LOCK).exists()
