"""A dataset's content fingerprint: which files, labels, identities and splits a run used.

A run is only the same run on the same data. Editing a label, adding an image or changing the
split rule gives a new fingerprint, so a finished run is never re-scored or re-used on data it
was not trained on. The fingerprint hashes the loaded rows (cheap: no pixels are read); image
content is covered by the tensor store's own key (file sizes and modification times).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd

from .records import FERData

PARTS: dict[str, tuple[str, ...]] = {
    "files": ("key",),
    "labels": ("key", "valence", "arousal", "expression"),
    "identities": ("key", "identity"),
    "splits": ("key", "split"),
}
"""What each part of the fingerprint covers, so a mismatch can say what changed."""


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


def data_fingerprint(data: FERData) -> dict[str, Any]:
    """``{"digest", "rows", "files", "labels", "identities", "splits"}`` of ``data``'s rows."""
    frame = data.frame.sort_values("key", kind="stable")
    out: dict[str, Any] = {"rows": len(frame)}
    for part, columns in PARTS.items():
        digest = hashlib.sha256()
        for row in frame[list(columns)].itertuples(index=False):
            digest.update(("\x1f".join(_text(v) for v in row) + "\n").encode())
        out[part] = digest.hexdigest()[:16]
    out["digest"] = hashlib.sha256("|".join(out[p] for p in PARTS).encode()).hexdigest()[:16]
    return out


def describe_difference(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """What differs between two fingerprints, in words ("labels, splits differ (900 rows then,
    895 now)")."""
    if not old:
        return "it records no data fingerprint (written by an older FER-Zoo)"
    changed = [part for part in PARTS if old.get(part) != new.get(part)] or ["data"]
    return f"{', '.join(changed)} differ ({old.get('rows')} rows then, {new.get('rows')} now)"
