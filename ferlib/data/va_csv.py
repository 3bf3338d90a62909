"""Public VA datasets (AffectNet, Aff-Wild, Aff-Wild2, AFEW-VA) through one documented CSV.

Prepare your copy once into this format (FER-Zoo never rescales labels during training)::

    path,valence,arousal[,expression][,identity][,split]
    subject01/frame_0001.png,0.35,-0.10,1,subject01,train

- ``path``: image path relative to the image root (default: the CSV's folder), or absolute.
  Rows are matched by the file they name, whatever the spelling (``./s00/x.png``, ``s00//x.png``,
  the absolute path, a link): repeated rows with the same labels are one image, reported as
  ``duplicate_row``; with different labels, every row of that image is dropped
  (``conflicting_labels``).
- ``valence``, ``arousal``: floats in [-1, 1]. Rescale when preparing (AFEW-VA: divide by 10) and
  drop invalid markers (AffectNet: -2); rows outside [-1, 1] are dropped and reported.
- ``expression`` (optional): 0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 angry.
- ``identity`` (optional): person id. Without it, the first folder of ``path`` is the identity
  (one folder per video or subject, as Aff-Wild2 and AFEW-VA are usually laid out; an absolute
  path inside the image root counts from the root), unless those folders are emotion names or
  fewer than three: then there are none, with a warning. The data report says which. When the
  split goes by person, a row that names nobody (blank identity, no folder) joins no split: it is
  dropped and reported as ``no_identity``.
- ``split`` (optional): ``train``, ``val`` (or ``validation``) or ``test``, any case, used as
  written. Any other value, or a column filled for only some rows, is an error naming the values
  and their counts (or how many rows lack one). Left empty everywhere, the rule in
  ``ferlib.data.splits`` applies.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pandas as pd

from .images import is_image_file
from .records import (
    COLUMNS,
    DuplicateRows,
    FERData,
    finalise,
    given_splits,
    read_sheet,
    require_columns,
)
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
    table = read_sheet(csv_path)
    require_columns(list(table.columns), REQUIRED, csv_path)
    if "split" in table:
        table["split"] = given_splits(table["split"], csv_path)
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
        file = os.path.realpath(path)  # one name per file, however the row spells it
        if duplicates.seen(file, rec, rel):
            continue
        key = _key(path, root)
        parts = PurePosixPath(key).parts
        folder = parts[0] if len(parts) > 1 and not PurePosixPath(key).is_absolute() else None
        identity = (rec.get("identity") or "").strip()
        rows.append(
            {
                "path": path,
                "file": file,
                "key": key,
                "valence": rec["valence"],
                "arousal": rec["arousal"],
                "expression": rec.get("expression") or None,
                "prompted": None,
                "identity": identity or folder,
                "identity_inferred": not identity and folder is not None,
                "prompt": rec.get("prompt") or None,
                "split": rec.get("split") or None,
            }
        )
    rows = duplicates.keep(rows, key="file")
    report.images_found = len(duplicates.first)
    report.labelled = len(rows)
    raw = pd.DataFrame(rows, columns=[*COLUMNS, "identity_inferred"])
    return finalise(raw, report, name=source, root=root)


def _key(path: Path, root: Path) -> str:
    """The image's name in reports and the tensor store: its path relative to ``root``, written
    plainly (no ``./`` or ``//``), when inside it; else its absolute path."""
    absolute = os.path.abspath(path)
    inside = os.path.relpath(absolute, os.path.abspath(root))
    outside = inside == os.pardir or inside.startswith(os.pardir + os.sep)
    return Path(absolute if outside else inside).as_posix()
