"""Write files so that a crash never leaves a half-written one where a reader would trust it.

Two ways, one rule: a file appears under its own name only once it is whole.

- ``staged_files``: write one or several files beside their targets, then rename them all over
  their targets together when the block ends without error (removed when it fails).
  ``atomic_write_text`` and ``atomic_torch_save`` are its one-file forms.
- ``RecordFile``: a file written as it goes, in whole records (a CSV row group, say), each
  flushed when its block ends. An abort leaves only whole records, in ``<stem>.XXXX.part<suffix>``
  beside the target, and never under the target's name.

A full disk (``ENOSPC``) while writing becomes a ``DiskFullError`` that says so and names the
file: "disk full while writing PATH: No space left on device".
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch

from .errors import UserError


class DiskFullError(UserError, OSError):
    """The disk filled up while writing ``target``; the message says so in one line."""

    def __init__(self, target: str | os.PathLike[str], err: OSError):
        super().__init__(f"disk full while writing {target}: {err.strerror or err}")
        self.errno = errno.ENOSPC


def _as_disk_full(err: BaseException, target: Path | None) -> DiskFullError | None:
    full = isinstance(err, OSError) and err.errno == errno.ENOSPC
    if not full or isinstance(err, DiskFullError) or target is None:
        return None
    return DiskFullError(target, err)  # type: ignore[arg-type]


@contextmanager
def naming_a_full_disk(target: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an ``ENOSPC`` ``OSError`` raised in the block into a ``DiskFullError`` naming
    ``target``; every other error passes unchanged."""
    try:
        yield
    except OSError as err:
        full = _as_disk_full(err, Path(target))
        if full is None:
            raise
        raise full from err


def temporary_beside(target: str | os.PathLike[str], prefix: str = "tmp-") -> Path:
    """A new empty file in ``target``'s folder (created if need be), named
    ``<prefix>XXXX.part<target's suffix>`` so that writers that go by the suffix still can,
    with the permissions ``open`` would give ``target`` (``mkstemp`` alone gives 0600)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with naming_a_full_disk(target):
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".part" + target.suffix, dir=target.parent)
    umask = os.umask(0o022)  # read it (there is no other way) and put it back
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    os.close(fd)
    return Path(tmp)


class Stage:
    """Files written beside their targets, renamed over them at ``commit`` (``staged_files``)."""

    def __init__(self) -> None:
        self.moves: list[tuple[Path, Path, bool]] = []  # (written file, target, ours to remove)
        self.current: Path | None = None  # the target being written (named by a full disk)

    def path(self, target: str | os.PathLike[str]) -> Path:
        """A temporary path beside ``target`` to write ``target``'s content into."""
        self.current = Path(target)
        tmp = temporary_beside(self.current)
        self.moves.append((tmp, self.current, True))
        return tmp

    def write_text(self, text: str, target: str | os.PathLike[str]) -> None:
        """``text`` (UTF-8) as ``target``'s content."""
        with open(self.path(target), "w", encoding="utf-8") as fh:
            fh.write(text)

    def move(self, done: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        """Rename the finished file ``done`` over ``target`` at commit (kept if the stage fails)."""
        self.moves.append((Path(done), Path(target), False))

    def commit(self) -> None:
        """Rename every file over its target (renames take no space: they cannot fill a disk)."""
        for tmp, target, _ in self.moves:
            os.replace(tmp, target)
        self.moves.clear()

    def discard(self) -> None:
        """Remove the temporary files (a finished file given to ``move`` stays)."""
        for tmp, _, ours in self.moves:
            if ours:
                tmp.unlink(missing_ok=True)
        self.moves.clear()


@contextmanager
def staged_files() -> Iterator[Stage]:
    """Write files through the yielded ``Stage``: all of them replace their targets when the
    block ends without error, none does when it fails (its temporary files are removed)."""
    stage = Stage()
    try:
        yield stage
    except BaseException as err:
        stage.discard()
        full = _as_disk_full(err, stage.current)
        if full is None:
            raise
        raise full from err
    stage.commit()


def atomic_torch_save(obj: Any, target: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``target``.

    It writes through a Python file, so that a full disk fails with ``ENOSPC`` (a
    ``DiskFullError``); given a path, torch's own writer only says "[enforce fail at
    inline_container.cc] … unexpected pos" or "iostream error".
    """
    with staged_files() as stage, open(stage.path(target), "wb") as fh:
        torch.save(obj, fh)


def atomic_write_text(text: str, target: str | os.PathLike[str]) -> None:
    """Text equivalent of ``atomic_torch_save`` (metrics.json, history.csv)."""
    with staged_files() as stage:
        stage.write_text(text, target)


class RecordFile:
    """``target`` written as it goes, in whole records, under a ``.part`` name until it is done.

    Write each record inside ``with f.record() as fh:``; it is flushed when the block ends.
    ``close`` gives the finished file (rename it over ``target``, e.g. with ``Stage.move``);
    ``abandon`` cuts the file back to its last whole record and keeps it, or removes it when it
    holds no more than its first ``header`` records.
    """

    def __init__(self, target: str | os.PathLike[str], newline: str | None = None, header: int = 0):
        self.target = Path(target)
        self.path = temporary_beside(self.target, prefix=f"{self.target.stem}.")
        self.header = header
        self.file: IO[str] = open(  # noqa: SIM115 (closed by close or abandon)
            self.path, "w", encoding="utf-8", newline=newline, errors="backslashreplace"
        )
        self.records = 0  # whole records written
        self.kept = 0  # bytes they take

    @contextmanager
    def record(self) -> Iterator[IO[str]]:
        """One record: written to the yielded file, flushed when the block ends."""
        with naming_a_full_disk(self.target):
            yield self.file
            self.file.flush()
        self.kept = os.fstat(self.file.fileno()).st_size
        self.records += 1

    def close(self) -> Path:
        """Flush and close; the finished file's path."""
        with naming_a_full_disk(self.target):
            self.file.close()
        return self.path

    def abandon(self) -> Path | None:
        """Close after a failure; the kept ``.part`` file (whole records only), or ``None``."""
        try:
            self.file.close()  # may flush the start of a broken record: cut below
        except OSError:
            pass
        if self.records > self.header:
            os.truncate(self.path, self.kept)
            return self.path
        self.path.unlink(missing_ok=True)
        return None
