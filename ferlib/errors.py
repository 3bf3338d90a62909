"""The one base class of the errors a user can cause.

A ``UserError`` says what was wrong with what the user gave: a parameter, a file, a folder, the
data, a checkpoint. ``ferlib``'s command line prints it as one line and exits with code 2;
anything else is a bug and shows its traceback. It is a ``ValueError``, so ``except ValueError``
still catches it; the project's own errors (``params.ParameterError``, ``data.ColumnError``,
``atomic.DiskFullError``, ``training.checkpoint.CheckpointError``, …) derive from it.
"""

from __future__ import annotations


class UserError(ValueError):
    """A mistake in what the user gave (parameters, files, folders, data): one line, exit 2."""


class OfflineError(UserError, RuntimeError):
    """Something must be downloaded (the DiffusionFER release, ImageNet weights) but downloads
    are off here; the message says how to allow them or what to pass instead."""


__all__ = ["OfflineError", "UserError"]
