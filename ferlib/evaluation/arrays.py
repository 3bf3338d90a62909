"""Arrays from whatever a notebook holds: tensors (on any device), numpy arrays or lists.

Numbers and figures both take predictions and labels in any of these forms; this is the one place
that turns them into numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def as_numpy(x: Any) -> np.ndarray:
    """A float64 array from a tensor (detached, on the CPU), an array or a sequence."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def va_array(x: Any, name: str = "values") -> np.ndarray:
    """An ``(N, 2)`` float64 array of ``[valence, arousal]`` rows; a clear error for any other
    shape, naming the argument (``name``)."""
    a = as_numpy(x)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) [valence, arousal], got {a.shape}")
    return a


__all__ = ["as_numpy", "va_array"]
