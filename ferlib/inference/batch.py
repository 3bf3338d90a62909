"""``ferlib predict`` on a batch of inputs: its numbers checked, its output folders made, every
input's rows written as it finishes, and the annotated pictures and video traces saved.

- ``predict_settings``: ``predict.Settings`` from the options, each number checked against
  ``PREDICT_LIMITS`` before any work;
- ``output_dir``: an ``--out``/``--annotate`` folder checked, created and marked with
  ``predict.OUTPUT_MARKER`` (walking the inputs leaves it out, in later runs too);
- ``run_predict``: the whole command: the checkpoint loaded, each input predicted in turn, its
  rows streamed (``--out``: the ``.part`` CSV, else CSV on standard output), the final files
  written together at the end (``writer.PredictionWriter``); a run that stops keeps the finished
  inputs' rows and says where.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..atomic import naming_a_full_disk, staged_files
from ..errors import UserError
from ..paths import check_writable_dir, display_path
from . import predict as P
from .shipped import default_checkpoint
from .writer import CsvStream, OutputNames, PredictionWriter

PREDICT_LIMITS: dict[str, tuple[float, float]] = {
    "fps": (0.0, 1000.0),  # 0: every frame
    "margin": (-0.25, 2.0),  # the crop side is (1 + 2·margin) × the measured crop frame
    "min_face": (0, 100_000),  # pixels
    "smooth": (0.0, 3600.0),  # seconds, 0: none
}
"""``ferlib predict``'s numeric options and their ranges, checked before any work."""


@dataclass(frozen=True)
class Outputs:
    """Where ``run_predict`` puts what it finds: ``out`` (tables and video traces smoothed over
    ``smooth`` seconds) and ``annotate`` (pictures) folders; without ``out``, standard output
    in ``fmt`` (``csv``, streamed, or ``json``)."""

    out: str | None = None
    annotate: str | None = None
    fmt: str = "csv"
    smooth: float = 1.0


def limits_text(name: str) -> str:
    """``PREDICT_LIMITS[name]`` as ``low to high`` (for messages and help)."""
    low, high = PREDICT_LIMITS[name]
    return f"{low:g} to {high:g}"


def predict_settings(
    fps: float, margin: float, min_face: int, smooth: float, detect: bool, detector: str
) -> P.Settings:
    """``predict.Settings`` from the options; ``UserError`` naming the first number that is not
    finite or out of its range (``PREDICT_LIMITS``)."""
    given = {"fps": fps, "margin": margin, "min_face": min_face, "smooth": smooth}
    for name in PREDICT_LIMITS:
        low, high = PREDICT_LIMITS[name]
        value = given[name]
        if not (math.isfinite(value) and low <= value <= high):
            option = "--" + name.replace("_", "-")
            raise UserError(f"{option} must be a number from {limits_text(name)}, got {value}")
    return P.Settings(
        detect=detect, detector=detector, margin=margin, min_face=min_face, fps=fps or None
    )


def output_dir(path: str | None, what: str, inputs: list[str]) -> Path | None:
    """``path`` checked (``paths.check_writable_dir``, and not one of the ``inputs`` folders,
    whose walk would read its pictures back), created, and marked with
    ``predict.OUTPUT_MARKER`` so that walking inputs leaves it out, in later runs too."""
    if path is None:
        return None
    folder = check_writable_dir(path, what)
    for raw in inputs:
        if os.path.isdir(raw) and folder.resolve() == Path(raw).resolve():
            raise UserError(
                f"{what} {path} is the input folder {raw}: its pictures would be read as "
                "inputs in the next run (give another folder, or a subfolder)"
            )
    with naming_a_full_disk(folder / P.OUTPUT_MARKER):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / P.OUTPUT_MARKER).touch()
    return folder


def annotator(folder: Path, names: OutputNames) -> P.OnPicture:
    """A callback that saves each picture with its boxes and V/A drawn on it, whole or not at
    all, named by ``names`` (``writer.OutputNames``)."""
    from ..figures.faces import annotate

    def save(source: str, frame, image, rows) -> None:
        with staged_files() as stage:
            target = stage.path(folder / names.annotation(source, frame))
            annotate(image, rows).save(target, quality=90)

    return save


def save_traces(result: P.Prediction, folder: Path, names: OutputNames, seconds: float) -> None:
    """The trace of each video with a predicted face, named by ``names.trace``."""
    for status in result.inputs:
        if status.kind == "video" and status.faces:
            target = folder / names.trace(status.source)
            save_trace(result.rows, status.source, target, seconds)


def save_trace(rows: list[dict], source: str, target: Path, seconds: float) -> None:
    """The valence/arousal trace of the video ``source`` saved as ``target`` (whole or not)."""
    from ..figures.faces import va_trace_figure

    trace = P.main_face_trace(rows, source)
    smoothed = {d: P.smooth(trace["time"], trace[d], seconds) for d in ("valence", "arousal")}
    fig = va_trace_figure(
        trace["time"], trace, smoothed if seconds > 0 else None, title=Path(source).name
    )
    with staged_files() as stage:
        fig.savefig(stage.path(target), dpi=120)


def run_predict(
    paths: list[str],
    checkpoint: str | None,
    settings: P.Settings,
    outputs: Outputs = Outputs(),
    progress: bool = False,
    say: Callable[[str], None] | None = None,
    stdout: TextIO | None = None,
) -> P.Prediction:
    """``ferlib predict``: every input's rows and status, written as each input finishes.

    ``checkpoint`` (default: the shipped model) is loaded after the output folders are checked;
    ``say`` (default: standard error) gets the lines about the run (the model, each input that
    is not ``ok``, what a stopped run kept, the summary). Without ``outputs.out`` the rows go to
    ``stdout`` (default: standard output) as CSV, input by input, or as JSON at the end.
    """
    stdout = stdout or sys.stdout
    say = say or (lambda text: print(text, file=sys.stderr))  # the rows may be on stdout
    checkpoint_path = checkpoint or default_checkpoint()
    names = OutputNames(paths)
    annotate_dir = output_dir(outputs.annotate, "--annotate folder", paths)
    out_dir = output_dir(outputs.out, "--out folder", paths)
    on_picture = annotator(annotate_dir, names) if annotate_dir else None
    predictor = P.FacePredictor(checkpoint_path, settings)  # a bad checkpoint fails here
    which = "the shipped model" if checkpoint is None else "checkpoint"
    say(f"{which} {display_path(checkpoint_path)}")
    stream = CsvStream(stdout) if out_dir is None and outputs.fmt == "csv" else None
    result = _predict_and_write(
        predictor, paths, on_picture, out_dir, names, stream, outputs.smooth, progress, say
    )
    if out_dir is None and outputs.fmt == "json":
        print(json.dumps(result.to_json(), indent=1), file=stdout)
    say(result.summary() + (f" -> {display_path(out_dir)}" if out_dir else ""))
    return result


def _predict_and_write(
    predictor: P.FacePredictor,
    paths: list[str],
    on_picture: P.OnPicture | None,
    out_dir: Path | None,
    names: OutputNames,
    stream: CsvStream | None,
    smooth: float,
    progress: bool,
    say: Callable[[str], None],
) -> P.Prediction:
    """Every input's rows and status; rows written as each input finishes (``out_dir``: the
    ``.part`` CSV, else ``stream``), the final files at the end (``writer``)."""
    result = P.Prediction()
    sink = PredictionWriter(out_dir) if out_dir else None
    try:
        for rows, status in P.iter_predictions(predictor, paths, on_picture, progress):
            for target in (sink, stream):
                if target is not None:
                    target.add(rows)
            result.add(rows, status)
            if status.status != "ok":
                reason = f" ({status.reason})" if status.reason else ""
                say(f"{status.source}: {status.status}{reason}")
        if sink is not None:
            save_traces(result, out_dir, names, smooth)
            sink.finish(result)
    except BaseException as err:
        if sink is not None:
            _say_what_is_kept(err, sink, say)
        raise
    return result


def _say_what_is_kept(
    err: BaseException, sink: PredictionWriter, say: Callable[[str], None]
) -> None:
    """After a run stopped: the ``.part`` file with the finished inputs' rows named in the
    error's one line (an ``OSError``: a full disk, say), or on a line of its own."""
    finished, part = sink.finished, sink.abandon()
    if part is None:
        return
    kept = f"the rows of the {finished} finished inputs are kept in {display_path(part)}"
    if isinstance(err, OSError):
        raise OSError(f"{err}; {kept}") from err
    say(kept)


__all__ = [
    "PREDICT_LIMITS",
    "Outputs",
    "annotator",
    "limits_text",
    "output_dir",
    "predict_settings",
    "run_predict",
    "save_trace",
    "save_traces",
]
