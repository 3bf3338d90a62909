"""The fault suite for what ``ferlib predict`` writes: its outputs never lose work.

Each case asserts the message (one line that names the cause), the exit code and that nothing
already there was lost, overwritten or left half-written. The README's "What happens when…"
table lists the same cases. Inputs: a photo and three one-second clips (4 fps, sampled at 2),
two of them named ``clip.mp4`` in different folders.
"""

from __future__ import annotations

import builtins
import csv
import errno
import os
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from ferlib import atomic
from ferlib.cli import main
from ferlib.inference import predict as P
from ferlib.inference.video import write_video
from ferlib.inference.writer import OutputNames
from ferlib.synthetic.clip import ClipConfig, render_clip
from tests.cli.test_faults import one_line_error, snapshot

FPS = ["--fps", "2", "--no-progress"]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """``face.png``, ``a/clip.mp4``, ``b/clip.mp4`` and ``clip.avi`` (each with a face)."""
    folder = tmp_path_factory.mktemp("media")
    clip = ClipConfig(seconds=1.0, fps=4)
    frames = [f for _, f, _ in render_clip(clip)]
    for name in ("a/clip.mp4", "b/clip.mp4", "clip.avi"):
        (folder / name).parent.mkdir(exist_ok=True)
        write_video(frames, folder / name, clip.fps)
    Image.fromarray(frames[0]).save(folder / "face.png")
    return folder


@pytest.fixture
def inputs(media, tmp_path) -> Path:
    """A fresh copy of ``media`` to write into."""
    return Path(shutil.copytree(media, tmp_path / "in"))


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:  # strict UTF-8: a bad byte fails
        return list(csv.DictReader(f))


def statuses(out: Path) -> dict[str, str]:
    return {row["source"]: row["status"] for row in read_csv(out / "inputs.csv")}


def finished(files: dict[str, bytes]) -> dict[str, bytes]:
    """``snapshot`` less the ``.part`` files a stopped run keeps."""
    return {name: data for name, data in files.items() if ".part" not in name}


# --- 1. names of traces and annotations -----------------------------------------------------
@pytest.mark.slow
def test_same_named_videos_get_a_trace_each(inputs, tmp_path, capsys):
    out, ann = tmp_path / "out", tmp_path / "ann"
    assert main(["predict", str(inputs), "--out", str(out), "--annotate", str(ann), *FPS]) == 0
    traces = sorted(p.name for p in out.glob("*_va_trace.png"))
    assert traces == [f"{base}_va_trace.png" for base in ("a__clip.mp4", "b__clip.mp4", "clip.avi")]
    pictures = {p.name for p in ann.glob("*.jpg")}
    for base in ("a__clip.mp4", "b__clip.mp4", "clip.avi"):
        assert f"{base}_frame000000.jpg" in pictures and f"{base}_frame000002.jpg" in pictures
    assert "face.png.jpg" in pictures


def test_output_names_are_unique_and_fit_the_file_system(tmp_path):
    names = OutputNames([tmp_path, tmp_path / "missing"])
    sources = [
        tmp_path / "a" / "clip.mp4",
        tmp_path / "a__clip.mp4",  # would read like a/clip.mp4
        tmp_path / "clip.avi",
        Path("/elsewhere/clip.avi"),  # a file argument: its name alone, taken already
        tmp_path / ("é" * 200 + ".mp4"),  # 404 bytes
        tmp_path / ("é" * 200 + ".avi"),  # the same first 223 bytes
    ]
    bases = [names.base(str(s)) for s in sources]
    assert bases[0] == "a__clip.mp4" and bases[2] == "clip.avi"
    assert bases[1].startswith("a__clip.mp4~") and bases[3].startswith("clip.avi~")
    assert len({b.casefold() for b in bases}) == len(bases)
    for source in map(str, sources):
        for name in (names.trace(source), names.annotation(source, 123456)):
            assert len(name.encode()) <= P.NAME_MAX
    assert names.base(str(sources[4])) == bases[4]  # one name per input, every frame


# --- 2. output folders inside the inputs -----------------------------------------------------
@pytest.mark.slow
def test_output_folders_inside_the_inputs_are_never_read_back(inputs, capsys):
    out, ann = inputs / "out", inputs / "ann"
    argv = ["predict", str(inputs), "--out", str(out), "--annotate", str(ann), *FPS]
    assert main(argv) == 0
    first = {s: v for s, v in statuses(out).items() if v != P.SKIPPED}
    assert len(first) == 4 and len(list(ann.glob("*.jpg"))) == 7
    assert main(argv) == 0  # the second run: the annotated pictures are not new photos
    second = statuses(out)
    assert {s: v for s, v in second.items() if v != P.SKIPPED} == first
    assert second[str(out)] == second[str(ann)] == P.SKIPPED
    sources = {r["source"] for r in read_csv(out / "predictions.csv")}
    assert not any(s.startswith((str(out), str(ann))) for s in sources)
    capsys.readouterr()
    assert main(["predict", str(inputs), *FPS]) == 0  # a later run without the options too
    err = capsys.readouterr().err
    assert f"{ann}: skipped (holds ferlib predict's outputs" in err and "6 inputs: 4 ok" in err


def test_an_output_folder_that_is_an_input_folder_is_refused(inputs, capsys):
    before = snapshot(inputs)
    err = one_line_error(capsys, 2, ["predict", str(inputs), "--annotate", str(inputs), *FPS])
    assert f"--annotate folder {inputs} is the input folder" in err
    assert snapshot(inputs) == before


# --- 3. numeric options ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "option, value",
    [
        ("--fps", "inf"),  # was: one frame of a 3 s clip, exit 0
        ("--fps", "nan"),  # was: "cannot convert float NaN to integer"
        ("--fps", "-1"),
        ("--margin", "nan"),
        ("--margin", "inf"),  # was: a traceback
        ("--margin", "-1"),  # was: every face "cut by border"
        ("--margin", "3"),
        ("--min-face", "-1"),
        ("--smooth", "nan"),
        ("--smooth", "-inf"),
        ("--smooth", "1e999"),  # inf by another name
    ],
)
def test_numbers_are_checked_before_any_work(option, value, media, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["predict", str(media / "a"), "--out", str(out), f"{option}={value}"]
    err = one_line_error(capsys, 2, argv)
    shown = int(value) if option == "--min-face" else float(value)
    assert f"error: {option} must be a number from " in err and err.endswith(f", got {shown}")
    assert not out.exists()


# --- 4. names the file system or UTF-8 cannot carry --------------------------------------------
def test_a_name_that_is_not_utf8_is_a_status_not_an_abort(media, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(media / "face.png", folder / "face.png")
    try:
        Path(os.fsdecode(os.fsencode(folder) + b"/caf\xe9.png")).write_bytes(
            (media / "face.png").read_bytes()
        )
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--out", str(out), *FPS]) == 0
    rows = {r["source"]: r for r in read_csv(out / "inputs.csv")}
    bad = rows[f"{folder}/caf\\xe9.png"]
    assert bad["status"] == P.BAD_NAME and "not valid UTF-8" in bad["reason"]
    assert rows[str(folder / "face.png")]["status"] == "ok"
    assert {r["source"] for r in read_csv(out / "predictions.csv")} == {str(folder / "face.png")}
    assert "caf\\xe9.png: bad file name" in capsys.readouterr().err


def test_over_long_names_never_abort_the_batch(media, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    long_video = folder / ("v" * 245 + ".mp4")  # 249 characters: its trace's name would be 258
    shutil.copy(media / "a" / "clip.mp4", long_video)
    shutil.copy(media / "face.png", folder / "face.png")
    too_long = tmp_path / ("y" * 300 + ".png")  # no file system takes it
    out, ann = tmp_path / "out", tmp_path / "ann"
    argv = ["predict", str(folder), str(too_long), "--out", str(out), "--annotate", str(ann)]
    assert main([*argv, *FPS]) == 0
    found = {r["source"]: r for r in read_csv(out / "inputs.csv")}
    assert found[str(long_video)]["status"] == found[str(folder / "face.png")]["status"] == "ok"
    assert found[str(too_long)]["status"] == P.BAD_NAME
    assert "a name of 304 bytes" in found[str(too_long)]["reason"]
    assert len(list(out.glob("v*_va_trace.png"))) == 1 and len(list(ann.glob("v*.jpg"))) == 2
    for path in [*out.iterdir(), *ann.iterdir()]:
        assert len(path.name.encode()) <= P.NAME_MAX


# --- 5. rows as they come, final files whole or absent ----------------------------------------
def three_inputs(media: Path) -> list[str]:
    return [str(media / "face.png"), str(media / "a" / "clip.mp4"), str(media / "b" / "clip.mp4")]


@pytest.fixture
def earlier_run(media, tmp_path):
    """``--out`` holding a finished run on the three inputs; its ``predictions.csv`` lines."""
    out = tmp_path / "out"
    assert main(["predict", *three_inputs(media), "--out", str(out), *FPS]) == 0
    lines = (out / "predictions.csv").read_text().splitlines(keepends=True)
    return out, snapshot(out), lines


def lines_of(lines: list[str], sources: int, media: Path) -> str:
    """The header and rows of the first ``sources`` of ``three_inputs``."""
    keep = tuple(three_inputs(media)[:sources])
    return "".join([lines[0], *(line for line in lines[1:] if line.startswith(keep))])


@pytest.mark.slow
def test_a_stopped_run_keeps_its_finished_inputs_and_the_earlier_outputs(
    media, earlier_run, capsys, monkeypatch
):
    out, before, lines = earlier_run
    predict_picture = P.FacePredictor.predict_picture

    def fails_on_b(self, image, source, *args, **kwargs):
        if Path(source).parent.name == "b":
            raise RuntimeError("the model fell over")
        return predict_picture(self, image, source, *args, **kwargs)

    monkeypatch.setattr(P.FacePredictor, "predict_picture", fails_on_b)
    capsys.readouterr()
    with pytest.raises(RuntimeError, match="the model fell over"):  # a bug: its traceback shows
        main(["predict", *three_inputs(media), "--out", str(out), *FPS])
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("ferlib predict: the rows of the 2 finished inputs are kept in ")
    after = snapshot(out)
    assert finished(after) == before  # the earlier run's files, untouched
    [part] = [name for name in after if ".part" in name]
    assert part.startswith("predictions.") and part.endswith(".part.csv")
    assert (out / part).read_text() == lines_of(lines, 2, media)
    # without --out the rows go to stdout as each input finishes, so they are kept too
    with pytest.raises(RuntimeError, match="the model fell over"):
        main(["predict", *three_inputs(media), *FPS])
    assert capsys.readouterr().out.replace("\r\n", "\n") == lines_of(lines, 2, media)


class FillsUp:
    """A file on a disk with ``room`` bytes left: the write that overflows puts what fits,
    then fails as a full disk does."""

    def __init__(self, file, room: int):
        self.file, self.room = file, room

    def write(self, text: str) -> int:
        data = text.encode()
        if len(data) > self.room:
            self.file.write(data[: self.room].decode(errors="ignore"))
            self.file.flush()
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.file.write(text)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()


def disk_fills_in(monkeypatch, suffix: str, room: int) -> None:
    """Writes through ``ferlib.atomic`` to files ending in ``suffix`` fill the disk after
    ``room`` bytes."""

    def opener(path, mode="r", *args, **kwargs):
        file = builtins.open(path, mode, *args, **kwargs)
        return FillsUp(file, room) if str(path).endswith(suffix) and "w" in mode else file

    monkeypatch.setattr(atomic, "open", opener, raising=False)


@pytest.mark.slow
def test_a_full_disk_while_streaming_rows_says_so_and_keeps_whole_rows(
    media, earlier_run, capsys, monkeypatch
):
    out, before, lines = earlier_run
    room = len(lines_of(lines, 1, media).encode()) + 40  # full part-way through a/clip.mp4
    disk_fills_in(monkeypatch, ".part.csv", room)
    capsys.readouterr()
    assert main(["predict", *three_inputs(media), "--out", str(out), *FPS]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(
        f"ferlib predict: error: disk full while writing {out / 'predictions.csv'}: "
        "No space left on device; the rows of the 1 finished inputs are kept in "
    )
    after = snapshot(out)
    assert finished(after) == before
    [part] = [name for name in after if ".part" in name]
    assert (out / part).read_text() == lines_of(lines, 1, media)  # the broken row cut off


@pytest.mark.slow
def test_a_full_disk_while_writing_the_json_leaves_no_half_file(
    media, earlier_run, capsys, monkeypatch
):
    out, before, lines = earlier_run
    disk_fills_in(monkeypatch, ".part.json", 100)  # was: a 0-byte predictions.json
    capsys.readouterr()
    assert main(["predict", *three_inputs(media), "--out", str(out), *FPS]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"disk full while writing {out / 'predictions.json'}: No space left" in err
    assert "the rows of the 3 finished inputs are kept in " in err
    after = snapshot(out)
    assert finished(after) == before  # no tmp-*.part.json left, nothing replaced
    [part] = [name for name in after if ".part" in name]
    assert (out / part).read_text() == "".join(lines)


def test_a_full_disk_while_annotating_names_the_picture(media, tmp_path, capsys, monkeypatch):
    save = Image.Image.save

    def fills_up(self, fp, *args, **kwargs):
        save(self, fp, *args, **kwargs)
        Path(fp).write_bytes(Path(fp).read_bytes()[:100])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", fills_up)
    ann = tmp_path / "ann"
    argv = ["predict", str(media / "face.png"), "--annotate", str(ann), *FPS]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"ferlib predict: error: disk full while writing {ann / 'face.png.jpg'}: "
        "No space left on device"
    )
    assert [p.name for p in ann.iterdir()] == [P.OUTPUT_MARKER]  # no half picture


def test_the_atomic_writers_name_a_full_disk_and_leave_nothing(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("the earlier, whole file")
    disk_fills_in(monkeypatch, ".part.json", 5)
    message = re.escape(f"disk full while writing {target}: No space left on device")
    with pytest.raises(atomic.DiskFullError, match=message):
        atomic.atomic_write_text('{"ccc": 0.5}', target)
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    assert target.read_text() == "the earlier, whole file"
