"""Public VA datasets (AffectNet, Aff-Wild, Aff-Wild2, AFEW-VA) through one documented CSV.

Prepare your copy once into this format (FER-Zoo never rescales labels during training)::

    path,valence,arousal[,expression][,identity][,split]
    subject01/frame_0001.png,0.35,-0.10,1,subject01,train

- ``path``: image path relative to the image root (default: the CSV's folder), or absolute.
- ``valence``, ``arousal``: floats in [-1, 1]. Rescale when preparing (AFEW-VA: divide by 10) and
  drop invalid markers (AffectNet: -2); rows outside [-1, 1] are dropped and reported.
- ``expression`` (optional): 0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 angry.
- ``identity`` (optional): person id. Without it, the first folder of ``path`` is the identity
  (one folder per video or subject, as Aff-Wild2 and AFEW-VA are usually laid out), unless those
  folders are emotion names or fewer than three: then there are none, with a warning. The data
  report says which.
- ``split`` (optional): train/val/test; otherwise the rule in ``ferlib.data.splits`` applies.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .images import is_image_file
from .records import COLUMNS, DuplicateRows, FERData, finalise, require_columns
from .report import DataReport

REQUIRED = ("path", "valence", "arousal")


def load_va_csv(
    csv_path: str | Path, image_root: str | Path | None = None, source: str = "csv"
) -> FERData:
    """Load a generic VA CSV (format in the module docstring)."""
    csv_path = Path(csv_path).expanduser()
    if csv_path.is_dir():
        candidates = sorted(csv_path.glob("*.csv"))
        if len(candidates) != 1:
            raise FileNotFoundError(
                f"{csv_path}: expected exactly one .csv file, found "
                f"{[c.name for c in candidates]}; pass the CSV itself"
            )
        csv_path = candidates[0]
    root = Path(image_root).expanduser() if image_root else csv_path.parent
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, skipinitialspace=True)
    table.columns = [c.strip() for c in table.columns]
    require_columns(list(table.columns), REQUIRED, csv_path)
    report = DataReport(source=source, root=str(root))
    report.rows = len(table)
    rows, duplicates = [], DuplicateRows(report)
    for rec in table.to_dict("records"):
        rel = rec["path"].strip().replace("\\", "/")
        path = Path(rel) if Path(rel).is_absolute() else root / rel
        if not path.is_file():
            report.add("missing_image", rel)
            continue
        if not is_image_file(path):
            report.add("not_an_image", rel)
            continue
        if duplicates.seen(rel, rec, rel):
            continue
        parts = Path(rel).parts
        folder = parts[0] if len(parts) > 1 and not Path(rel).is_absolute() else None
        rows.append(
            {
                "path": path,
                "key": rel,
                "valence": rec["valence"],
                "arousal": rec["arousal"],
                "expression": rec.get("expression") or None,
                "prompted": None,
                "identity": rec.get("identity") or folder,
                "identity_inferred": not rec.get("identity") and folder is not None,
                "prompt": rec.get("prompt") or None,
                "split": rec.get("split") or None,
            }
        )
    rows = duplicates.keep(rows)
    report.images_found = report.labelled = len(rows)
    raw = pd.DataFrame(rows, columns=[*COLUMNS, "identity_inferred"])
    return finalise(raw, report, name=source, root=root)
