"""The fault suite, runs part: parameters and seeds, checkpoints, interrupted and mistaken course
runs, and a full disk while training (issue 28, items 5-7).

Like ``test_faults.py``: each case asserts the message (one line naming the cause), the exit code
and that nothing already there was lost. Tiny data, 32 px, one epoch where a run is needed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import torch
import yaml

import ferlib.course.runner as runner
from ferlib.cli import main
from ferlib.params import ParameterError, load_profile, load_recipes, load_yaml, parse_set
from ferlib.paths import display_path
from ferlib.training import checkpoint as ckpt
from ferlib.training.runlock import LOCK
from ferlib.training.seeding import seed_everything
from tests.cli.test_faults import TRAIN, one_line_error, snapshot
from tests.course.test_notebook_runner import write_notebook

METHODS = ("baseline", "caf", "avce", "elim")
METHOD_SET = {"elim": ["elim_p=4"]}  # batches of 8: 4 people × 2 images


# --- 5. parameters and seeds -------------------------------------------------------------------
def test_floats_without_a_dot_are_numbers_in_set_profiles_and_search_spaces(tmp_path, capsys):
    assert load_yaml("1e-3") == 0.001 and load_yaml("1E-3") == 0.001 and load_yaml("-2e+1") == -20
    assert load_yaml("[1.0e3, .5e1]") == [1000.0, 5.0]
    assert load_yaml("1e-3x") == "1e-3x" and load_yaml("e5") == "e5"  # strings stay strings
    assert parse_set(["lr=1e-3", "gamma=1E-1", "caf_rho=2e-7"]) == {
        "lr": 0.001,
        "gamma": 0.1,
        "caf_rho": 2e-7,
    }
    profile = tmp_path / "mine.yaml"
    profile.write_text("lr: 1e-3\nrecipes:\n  caf:\n    lr: 5E-4\n    caf_rho: 1e-6\n")
    assert load_profile(profile) == {"lr": 0.001}
    assert load_recipes(profile) == {"caf": {"lr": 0.0005, "caf_rho": 1e-6}}
    from ferlib.runs.search import load_space

    space = tmp_path / "space.yaml"
    space.write_text("profile: quick\nseeds: [0]\nmethods:\n  baseline:\n    small: {lr: 3e-4}\n")
    assert load_space(space)["methods"]["baseline"]["small"] == {"lr": 0.0003}
    # read as a number, so its range is what is wrong (before: "should be a number")
    err = one_line_error(capsys, 2, ["train", "--set", "lr=-2e+1", "--out", str(tmp_path / "r")])
    assert "lr=-20.0: lr must be > 0" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("seed", ["4294967296", "123456789012345678901", "-1"])
def test_seeds_outside_32_bits_are_refused_in_one_line(seed, tmp_path, capsys):
    argv = ["train", "--set", f"seed={seed}", "--out", str(tmp_path / "r")]
    err = one_line_error(capsys, 2, argv)
    assert f"seed={seed}: seed must be in [0, 4294967296)" in err
    assert not (tmp_path / "r").exists()


def test_seed_range_in_profiles_and_in_seed_everything(tmp_path):
    assert parse_set(["seed=4294967295"]) == {"seed": 2**32 - 1}  # the largest one still runs
    profile = tmp_path / "mine.yaml"
    profile.write_text(yaml.safe_dump({"seeds": [0, 2**32]}))
    with pytest.raises(ParameterError, match=r"each item of seeds must be in \[0, 4294967296\)"):
        load_profile(profile)
    with pytest.raises(ValueError, match=r"seed=4294967296: a seed must be in \[0, 4294967296\)"):
        seed_everything(2**32)  # NumPy would have folded it onto seed 0
    seed_everything(2**32 - 1)
    assert torch.initial_seed() == 2**32 - 1


# --- 5. checkpoints ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tiny_synth, tmp_path_factory):
    """``trained(method)``: the folder of a finished one-epoch run of ``method`` (trained once)."""
    runs: dict[str, Path] = {}

    def run(method: str) -> Path:
        if method not in runs:
            out = tmp_path_factory.mktemp(method)
            argv = ["train", "--method", method, *TRAIN, f"data_dir={tiny_synth}"]
            assert main([*argv, *METHOD_SET.get(method, []), "--out", str(out)]) == 0
            runs[method] = out
        return runs[method]

    return run


def face(tiny_synth: Path) -> Path:
    return next((tiny_synth / "DiffusionEmotion_S" / "cropped").rglob("*.png"))


@pytest.mark.parametrize("method", METHODS)
def test_every_methods_resume_file_works_as_a_model(method, trained, tiny_synth, tmp_path, capsys):
    """``last.pt`` of every method scores and predicts like its ``checkpoint.pt`` (one epoch:
    last is best); so does a resume file written before ``last.pt`` recorded the model's shape
    (CAF's, AVCE's and ELIM's heads differ from the ``head`` parameter's)."""
    out = trained(method)
    capsys.readouterr()
    legacy = ckpt.load(out / ckpt.LAST)
    legacy.pop("model_config", None)
    torch.save(legacy, tmp_path / "legacy_last.pt")
    scored, predicted = [], []
    for path in (out / ckpt.BEST, out / ckpt.LAST, tmp_path / "legacy_last.pt"):
        assert (
            main(["evaluate", "--data-dir", str(tiny_synth), "--json", "--checkpoint", str(path)])
            == 0
        )
        scored.append(json.loads(capsys.readouterr().out))
        assert (
            main(["predict", "--checkpoint", str(path), "--no-detect", str(face(tiny_synth))]) == 0
        )
        predicted.append(capsys.readouterr().out)
    assert scored[0] == scored[1] == scored[2] and scored[0]["n"] > 0
    assert predicted[0] == predicted[1] == predicted[2] and "valence" in predicted[0]


def damaged(run: Path, tmp_path: Path, change) -> str:
    """A copy of ``run``'s best checkpoint with ``change`` applied to its content."""
    blob = ckpt.load(run / ckpt.BEST)
    change(blob)
    path = tmp_path / "damaged.pt"
    torch.save(blob, path)
    return str(path)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda b: b["config"].pop("image_size"), "its config has no 'image_size'"),
        (lambda b: b["config"].update(image_size="64"), "image_size='64' should be an integer"),
        (lambda b: b["config"].update(image_size=0), "image_size=0: image_size must be in [8"),
        (
            lambda b: (b.pop("model_config"), b["config"].pop("backbone")),
            "its config has no 'backbone'",
        ),
        (
            lambda b: b["model_config"].update(backbone="resnet99"),
            "model_config: unknown backbone 'resnet99'",
        ),
        (lambda b: b["model_config"].update(width="2"), "model_config: width='2' should be an"),
    ],
)
def test_a_checkpoint_with_a_bad_config_is_refused_naming_file_and_key(
    change, message, trained, tiny_synth, tmp_path, capsys
):
    path = damaged(trained("baseline"), tmp_path, change)
    for argv in (
        ["evaluate", "--data-dir", str(tiny_synth), "--checkpoint", path],
        ["predict", "--checkpoint", path, "--no-detect", str(face(tiny_synth))],
    ):
        err = one_line_error(capsys, 2, argv)
        assert f"{path}: " in err and message in err, err


def test_evaluate_needs_the_data_settings_the_checkpoint_was_trained_with(
    trained, tiny_synth, tmp_path, capsys
):
    path = damaged(trained("baseline"), tmp_path, lambda b: b["config"].pop("eval_batch_size"))
    err = one_line_error(capsys, 2, ["evaluate", "--checkpoint", path])
    assert f"{path}: its config has no 'eval_batch_size'" in err
    # predicting needs only the input size and the model
    assert main(["predict", "--checkpoint", path, "--no-detect", str(face(tiny_synth))]) == 0


# --- 6. mistaken and interrupted course runs ------------------------------------------------------
SLOW = """import os, pathlib, time
print('seed is', seed)
if os.environ.get('FERZOO_TEST_SLOW'):  # the interrupted run: say so, with the kernel's pid
    pathlib.Path(os.environ['FERZOO_TEST_SLOW']).write_text(str(os.getpid()))
    time.sleep(120)
"""


@pytest.fixture
def course(tmp_path, monkeypatch):
    """Three notebooks (the middle one sleeps when told to), a profile and an output folder."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "00_first.ipynb", "print('first', seed)")
    write_notebook(folder / "01_slow.ipynb", SLOW)
    write_notebook(folder / "02_last.ipynb", "print('last', seed)")
    monkeypatch.setattr(runner, "notebook_dir", lambda: folder)
    monkeypatch.setenv("FERZOO_OUTPUTS", str(tmp_path / "outputs"))
    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump({"seed": 5}))
    return folder, profile, tmp_path / "out"


def test_only_refuses_a_name_that_matches_no_notebook(course, capsys):
    folder, profile, out = course
    argv = ["notebooks", "--profile", str(profile), "--out", str(out), "--only", "zz", "00"]
    err = one_line_error(capsys, 2, argv)
    assert "--only 'zz' matches no notebook; have 00_first, 01_slow, 02_last" in err
    assert not out.exists()  # nothing ran: 00 matched, but the typo stops the run first
    err = one_line_error(capsys, 2, ["notebooks", "--refresh", "--only", "01", "zz"])
    assert "--only 'zz' matches no notebook" in err
    assert nbformat.read(folder / "01_slow.ipynb", as_version=4).cells[1].outputs == []  # not run


def fake_papermill(interrupt: str | None):
    """papermill.execute_notebook that writes a copy marked "run" (a partial one for
    ``interrupt``, which is then cut by Ctrl-C), as papermill writes as it goes."""

    def execute(source, output, parameters=None, **kwargs):
        nb = nbformat.read(source, as_version=4)
        done = Path(source).stem != interrupt
        nb.cells[1].outputs = [
            nbformat.v4.new_output("stream", text="complete" if done else "part")
        ]
        nbformat.write(nb, output)
        if not done:
            raise KeyboardInterrupt

    return execute


def test_ctrl_c_keeps_the_last_good_notebook_and_the_summary_says_so(course, capsys, monkeypatch):
    import papermill

    folder, profile, out = course
    argv = ["notebooks", "--profile", str(profile), "--out", str(out)]
    monkeypatch.setattr(papermill, "execute_notebook", fake_papermill(None))
    assert main(argv) == 0
    good = snapshot(out)
    capsys.readouterr()

    monkeypatch.setattr(papermill, "execute_notebook", fake_papermill("01_slow"))
    assert main(argv) == 130
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "ferlib notebooks: interrupted during 01_slow.ipynb (Ctrl-C; its earlier output" in err
    assert "[2/3] 01_slow … interrupted" in captured.out
    now = snapshot(out)
    for name in ("01_slow.ipynb", "02_last.ipynb"):
        assert now[name] == good[name]  # the last good outputs, untouched
    assert not [p for p in out.iterdir() if ".part" in p.name]  # the partial copy is gone
    assert (out / "00_first.ipynb").stat().st_mode & 0o777 == usual_mode()  # not mkstemp's 0600
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] == str(out / "01_slow.ipynb")
    assert [(n["status"], n["error"]) for n in summary["notebooks"]] == [
        ("ok", ""),
        ("interrupted", "Ctrl-C; its earlier output is kept"),
        ("not run", "the run was interrupted before it"),
    ]
    md = (out / "summary.md").read_text()
    assert "**Interrupted** during `01_slow.ipynb` (Ctrl-C; its earlier output is kept)" in md
    assert "| 01_slow.ipynb | 01_slow.ipynb | interrupted |" in md


def kernels_of_this_process() -> list[int]:
    """Live ipykernel processes whose parent is this process (Linux /proc)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and b"ipykernel" in cmdline:
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")
def test_ctrl_c_while_a_kernel_starts_leaves_no_kernel_behind(course, monkeypatch):
    """Ctrl-C before nbclient arms its own clean-up: the run stops the kernel it started (an
    orphan would print "Parent appears to have exited" after the run's last line)."""
    import nbclient

    folder, profile, out = course
    assert kernels_of_this_process() == []

    def ctrl_c(self, *args, **kwargs):  # the kernel runs; nbclient has no client for it yet
        raise KeyboardInterrupt

    monkeypatch.setattr(nbclient.NotebookClient, "start_new_kernel_client", ctrl_c)
    with pytest.raises(KeyboardInterrupt) as stopped:
        runner.run_notebooks(str(profile), out_dir=out, kernel="python3", log=lambda *a, **k: None)
    assert kernels_of_this_process() == []
    assert isinstance(stopped.value, runner.CourseInterrupted)
    assert "during 00_first.ipynb (Ctrl-C; no output written)" in str(stopped.value)
    assert json.loads((out / "summary.json").read_text())["interrupted"] == str(
        out / "00_first.ipynb"
    )


DRIVER = """import sys
from pathlib import Path
import ferlib.course.runner as runner
from ferlib.cli import main
runner.notebook_dir = lambda: Path(sys.argv[1])
sys.exit(main(["notebooks", "--profile", sys.argv[2], "--out", sys.argv[3]]))
"""


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
def test_sigint_during_a_real_notebook_keeps_the_good_one(course, tmp_path):
    """The real thing: SIGINT to ``ferlib notebooks`` while a kernel executes a cell."""
    folder, profile, out = course
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    argv = [sys.executable, str(driver), str(folder), str(profile), str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("FERZOO_TEST_SLOW", None)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    good = snapshot(out)
    assert "seed is 5" in good["01_slow.ipynb"].decode()
    executed = nbformat.read(out / "01_slow.ipynb", as_version=4)
    assert executed.metadata.papermill.output_path == str(out / "01_slow.ipynb")  # not the .part

    marker = tmp_path / "kernel.pid"
    proc = subprocess.Popen(
        argv,
        env={**env, "FERZOO_TEST_SLOW": str(marker)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as from a terminal
    )
    try:
        for _ in range(1200):  # until 01_slow's cell runs (at most 120 s)
            if marker.is_file() and marker.read_text() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.is_file(), proc.communicate()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == [
        "ferlib notebooks: interrupted during 01_slow.ipynb (Ctrl-C; its earlier output is "
        f"kept); {display_path(out / 'summary.md')} lists what ran"
    ]
    now = snapshot(out)
    assert (
        now["01_slow.ipynb"] == good["01_slow.ipynb"]
        and now["02_last.ipynb"] == good["02_last.ipynb"]
    )
    assert not [p for p in out.iterdir() if ".part" in p.name]
    assert json.loads(now["summary.json"])["interrupted"] == str(out / "01_slow.ipynb")
    kernel = int(marker.read_text())
    for _ in range(50):  # the kernel was shut down with the run
        try:
            os.kill(kernel, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"kernel {kernel} still runs")


# --- 7. a full disk while training ------------------------------------------------------------
FULL = Path("/dev/full")  # Linux: every write to it fails with ENOSPC


def full_disk_at_second_epoch(real_save):
    """torch.save whose disk is full for the second epoch's ``last.pt``: the same call writes to
    ``/dev/full`` instead (a path stays a path, a file a file), so torch and the system raise what
    they raise on a full disk."""

    def save(obj, f, *args, **kwargs):
        if not (isinstance(obj, dict) and obj.get("epoch") == 1 and "optimizers" in obj):
            return real_save(obj, f, *args, **kwargs)
        if isinstance(f, (str, os.PathLike)):  # torch's own writer: a RuntimeError
            return real_save(obj, FULL, *args, **kwargs)
        with open(FULL, "wb") as full:
            return real_save(obj, full, *args, **kwargs)

    return save


@pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full")
def test_a_full_disk_while_training_says_so_and_resume_stays_exact(
    tiny_synth, tmp_path, capsys, monkeypatch
):
    argv = ["train", *TRAIN, f"data_dir={tiny_synth}"]
    argv = [a if a != "epochs=1" else "epochs=3" for a in argv]
    straight, out = tmp_path / "straight", tmp_path / "full"
    assert main([*argv, "--out", str(straight)]) == 0

    monkeypatch.setattr(torch, "save", full_disk_at_second_epoch(torch.save))
    err = one_line_error(capsys, 2, [*argv, "--out", str(out)])
    assert err == (
        f"ferlib train: error: disk full while writing {out / ckpt.LAST}: No space left on device"
    )
    assert not [p.name for p in out.iterdir() if ".part" in p.name]  # nothing half-written
    assert not (out / LOCK).exists()
    assert ckpt.load(out / ckpt.LAST)["epoch"] == 0  # the first epoch's resume point, whole
    monkeypatch.undo()

    assert main([*argv, "--out", str(out)]) == 0
    assert "resuming from epoch 2 of 3" in capsys.readouterr().out
    ran, ref = (json.loads((d / "metrics.json").read_text()) for d in (out, straight))
    for key in ("final_weight_digests", "ccc_v", "ccc_a", "rmse_v", "rmse_a", "best_epoch"):
        assert ran[key] == ref[key], key
    timing = ("train_seconds", "images_per_s")
    rows = [
        [
            {k: v for k, v in r.items() if k not in timing}
            for r in ckpt.load(d / ckpt.LAST)["history"]
        ]
        for d in (out, straight)
    ]
    assert rows[0] == rows[1] and len(rows[0]) == 3
    lines = [(d / "history.csv").read_text().splitlines() for d in (out, straight)]
    assert len(lines[0]) == len(lines[1]) == 4
    for name in (ckpt.BEST, ckpt.LAST, "history.csv", "metrics.json"):
        assert (out / name).stat().st_mode & 0o777 == usual_mode(), name  # as open() gives


def usual_mode() -> int:
    """The permissions ``open`` gives a new file here (0o666 less the umask)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask
