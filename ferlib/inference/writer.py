"""Where ``ferlib predict`` puts its results, so that no run loses work or leaves a half-written
file.

- ``PredictionWriter`` (``--out``): the rows go to ``predictions.csv`` as each input finishes,
  flushed, under a ``.part`` name (``atomic.RecordFile``); at the end ``predictions.csv``,
  ``predictions.json`` and ``inputs.csv`` are renamed into place together
  (``atomic.staged_files``). A run that stops (a full disk, Ctrl-C) keeps the rows of its
  finished inputs in the ``.part`` file and leaves the three files as they were: each is always
  whole, never half-written.
- ``CsvStream``: the same rows on standard output, also flushed input by input.
- ``OutputNames``: the file names of an input's annotated pictures and video trace, taken from
  its path relative to the folder named on the command line (``a/clip.mp4`` →
  ``a__clip.mp4_va_trace.png``), so that ``a/clip.mp4`` and ``b/clip.mp4`` never share one;
  unique in the run and kept under the file system's 255 bytes by a short hash.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import TextIO

from ..atomic import RecordFile, staged_files
from .predict import NAME_MAX, ROW_FIELDS, InputStatus, Prediction, shown_name

BASE_BYTES = NAME_MAX - 32
"""Longest base name: room for ``_frame000000.jpg`` or ``_va_trace.png`` after it."""


class PredictionWriter:
    """``predictions.csv`` streamed into ``folder``, then the final tables in one commit."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        self.part = RecordFile(self.folder / "predictions.csv", newline="", header=1)
        self.rows = csv.DictWriter(self.part.file, fieldnames=ROW_FIELDS)
        try:
            with self.part.record():
                self.rows.writeheader()
        except BaseException:
            self.part.abandon()
            raise

    @property
    def finished(self) -> int:
        """Inputs whose rows are written (and flushed)."""
        return self.part.records - 1

    def add(self, rows: list[dict]) -> None:
        """One finished input's rows (maybe none), flushed."""
        with self.part.record():
            self.rows.writerows(rows)

    def finish(self, result: Prediction) -> None:
        """``predictions.json`` and ``inputs.csv`` written beside, then all three renamed into
        place together."""
        with staged_files() as stage:
            json_text = json.dumps(result.to_json(), indent=1) + "\n"
            stage.write_text(json_text, self.folder / "predictions.json")
            stage.write_text(inputs_csv(result.inputs), self.folder / "inputs.csv")
            stage.move(self.part.close(), self.folder / "predictions.csv")

    def abandon(self) -> Path | None:
        """After a failure: the ``.part`` file with the finished inputs' rows, or ``None``."""
        return self.part.abandon()


class CsvStream:
    """The rows as CSV on ``stream`` (standard output), flushed as each input finishes."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.rows = csv.DictWriter(stream, fieldnames=ROW_FIELDS)
        self.rows.writeheader()
        stream.flush()

    def add(self, rows: list[dict]) -> None:
        """One finished input's rows, flushed."""
        self.rows.writerows(rows)
        self.stream.flush()


def inputs_csv(inputs: list[InputStatus]) -> str:
    """``inputs.csv``: one line per input with its kind, status, reason, faces and frames."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=[f.name for f in fields(InputStatus)])
    writer.writeheader()
    writer.writerows(vars(s) for s in inputs)
    return text.getvalue()


class OutputNames:
    """File names for what ``ferlib predict`` saves per input (see the module doc)."""

    def __init__(self, roots: Sequence[str | os.PathLike[str]]):
        self.roots = [Path(r) for r in roots if os.path.isdir(r)]
        self.bases: dict[str, str] = {}  # source -> base name
        self.taken: set[str] = set()  # base names given, case-folded (macOS, Windows)

    def base(self, source: str) -> str:
        """``source``'s path relative to its folder argument, ``/`` as ``__``, capped at
        ``BASE_BYTES`` and made unique by a short hash of the whole path when needed."""
        if source not in self.bases:
            text = "__".join(shown_name(part) for part in self._relative(Path(source)).parts)
            name = _capped(text, source, force=False)
            if name.casefold() in self.taken:
                name = _capped(text, source, force=True)
            self.taken.add(name.casefold())
            self.bases[source] = name
        return self.bases[source]

    def annotation(self, source: str, frame: int | None) -> str:
        """The annotated picture of ``source`` (``frame`` of a video)."""
        base = self.base(source)
        return f"{base}.jpg" if frame is None else f"{base}_frame{frame:06d}.jpg"

    def trace(self, source: str) -> str:
        """The valence/arousal trace of the video ``source``."""
        return f"{self.base(source)}_va_trace.png"

    def _relative(self, path: Path) -> Path:
        for root in self.roots:
            if path.is_relative_to(root) and path != root:
                return path.relative_to(root)
        return Path(path.name)


def _capped(text: str, key: str, force: bool) -> str:
    """``text`` if it fits ``BASE_BYTES`` (and not ``force``), else its start and ``~`` with
    eight hex digits of the SHA-1 of ``key``."""
    data = text.encode()
    if len(data) <= BASE_BYTES and not force:
        return text
    tag = hashlib.sha1(os.fsencode(key), usedforsecurity=False).hexdigest()[:8]
    head = data[: BASE_BYTES - len(tag) - 1].decode("utf-8", "ignore")
    return f"{head}~{tag}"


__all__ = ["BASE_BYTES", "CsvStream", "OutputNames", "PredictionWriter", "inputs_csv"]
