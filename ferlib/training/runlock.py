"""One writer per run folder: a lock file holding the owner's PID, host and start time.

Two trainings into the same ``--out`` would overwrite each other's checkpoints and metrics, and
both exit 0. The second one now stops and names the process holding the folder. A lock left by
a process that no longer runs (``kill -9``, a crash, a reboot) is stale: it is replaced, with a
note, so an interrupted run resumes without manual clean-up.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from pathlib import Path

from ..errors import UserError

LOCK = ".lock"


class RunLockedError(UserError, RuntimeError):
    """Another live process is writing into the run folder; the message names it."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _owner(path: Path) -> dict | None:
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None


class RunLock:
    """``with RunLock(folder):`` hold ``folder/.lock`` for this process (re-entrant per PID)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder) / LOCK
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        fd, tmp = tempfile.mkstemp(prefix="tmp-", suffix=".lock", dir=self.path.parent)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(me))
        try:
            for _ in range(3):
                try:
                    os.link(tmp, self.path)  # atomic: fails if the lock exists, content complete
                    self.held = True
                    return
                except FileExistsError:
                    owner = _owner(self.path)
                    if owner and owner.get("pid") == me["pid"] and owner.get("host") == me["host"]:
                        return  # this process holds it already (a nested call)
                    if owner and (owner.get("host") != me["host"] or _alive(owner["pid"])):
                        since = time.strftime(
                            "%Y-%m-%d %H:%M:%S", time.localtime(owner.get("started", 0))
                        )
                        raise RunLockedError(
                            f"{self.path.parent} is in use by process {owner['pid']} on "
                            f"{owner.get('host')} (since {since}); wait for it to finish or "
                            f"choose another output folder (if no such process runs, delete "
                            f"{self.path})"
                        ) from None
                    # stale: its process is gone (or the file is unreadable): take it over
                    self.path.unlink(missing_ok=True)
            raise RunLockedError(f"{self.path}: could not take the run lock")
        finally:
            os.unlink(tmp)

    def release(self) -> None:
        if self.held:
            owner = _owner(self.path)
            if owner and owner.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
