"""DiffusionFER (and SyntheticFER, which writes the same layout) from a local folder.

Expected layout, as extracted from the release::

    <data_dir>/DiffusionEmotion_S/{cropped,original}/<prompted emotion>/<name>_<code>.png
    <data_dir>/DiffusionEmotion_S/dataset_sheet.csv   # subDirectory_filePath, valence, arousal,
                                                      # expression [, identity, prompt, split]

The sheet's paths carry a prefix that depends on who packed the copy
(``DiffusionFER/DiffusionEmotion_S/cropped/…`` in the release); rows are matched to files by their
``<class>/<file>`` tail, so any prefix works and the difference is reported; ``./`` and ``//`` in a
path are read as nothing. A ``split`` column is used as written, as for the generic CSV
(``records.given_splits``).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import pandas as pd

from ..emotions import EMOTIONS
from .images import is_image_file, png_text
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

SHEET = "dataset_sheet.csv"
REQUIRED = ("subDirectory_filePath", "valence", "arousal", "expression")
NAME_PATTERN = re.compile(r"^[a-z]{8}_(?P<code>[0-6])\.[a-z]+$")


def find_release_root(data_dir: str | Path) -> Path:
    """The ``DiffusionEmotion_S`` folder inside ``data_dir`` (or ``data_dir`` itself)."""
    base = Path(data_dir).expanduser()
    for cand in (base, base / "DiffusionEmotion_S", base / "DiffusionFER" / "DiffusionEmotion_S"):
        if (cand / SHEET).is_file():
            return cand
    raise FileNotFoundError(
        f"{base}: no DiffusionFER {SHEET} found (looked in it, in DiffusionEmotion_S/ and in "
        "DiffusionFER/DiffusionEmotion_S/). Extract the release there or pass the right --data-dir."
    )


def _scan_images(variant_dir: Path, report: DataReport) -> dict[tuple[str, str], Path]:
    """(class folder, file name) -> path for every image under ``variant_dir``."""
    found: dict[tuple[str, str], Path] = {}
    for folder in sorted(p for p in variant_dir.iterdir() if p.is_dir()):
        images = 0
        for path in sorted(folder.iterdir()):
            if not path.is_file():
                continue
            if not is_image_file(path):
                report.add("not_an_image", f"{folder.name}/{path.name}")
                continue
            found[(folder.name, path.name)] = path
            images += 1
        if images == 0:
            report.add("empty_class_folder", folder.name)
        elif folder.name not in EMOTIONS:
            report.add("unknown_class_folder", folder.name)
    return found


def load_diffusionfer(
    data_dir: str | Path,
    variant: str = "cropped",
    read_prompts: bool = True,
    source: str = "diffusionfer",
) -> FERData:
    """Load a local DiffusionFER-style folder; see the module docstring for the layout."""
    root = find_release_root(data_dir)
    variant_dir = root / variant
    if not variant_dir.is_dir():
        raise FileNotFoundError(f"{root}: no '{variant}' folder (expected {variant_dir})")
    report = DataReport(source=source, root=str(root))
    disk = _scan_images(variant_dir, report)
    report.images_found = len(disk)

    sheet_path = root / SHEET
    sheet = read_sheet(sheet_path)
    require_columns(list(sheet.columns), REQUIRED, sheet_path)
    if "split" in sheet:
        sheet["split"] = given_splits(sheet["split"], sheet_path)
    report.rows = len(sheet)

    rows, prefixes, duplicates = [], set(), DuplicateRows(report)
    for rec in sheet.to_dict("records"):
        rel = posixpath.normpath(rec["subDirectory_filePath"].strip().replace("\\", "/"))
        parts = rel.split("/")
        key = tuple(parts[-2:]) if len(parts) >= 2 else ("", parts[-1])
        name = "/".join(key)
        if key not in disk:
            report.add("missing_image", rel)
            continue
        if duplicates.seen(name, rec, rel):
            continue
        on_disk = f"{root.name}/{variant}/{name}"
        prefix = rel[: -len(name)].rstrip("/")
        if rel != on_disk and prefix not in prefixes:
            prefixes.add(prefix)
            report.add("prefix_remapped", f"{prefix or '(none)'} -> {root.name}/{variant}")
        folder, fname = key
        m = NAME_PATTERN.match(fname)
        if not m:
            report.add("odd_filename", name)
        elif folder in EMOTIONS and EMOTIONS[int(m["code"])] != folder:
            report.add("code_differs_from_folder", name)
        prompt = rec.get("prompt") or None
        if prompt is None and read_prompts:
            prompt = _prompt_from_png(disk[key])
        inferred = None if rec.get("identity") else parts[0] if len(parts) > 2 else None
        rows.append(
            {
                "path": disk[key],
                "key": name,
                "valence": rec["valence"],
                "arousal": rec["arousal"],
                "expression": rec["expression"] if rec["expression"] != "" else None,
                "prompted": folder if folder in EMOTIONS else None,
                # the folder above <variant>/<class>/; a bare "<class>/<file>" names no person
                "identity": rec.get("identity") or inferred,
                "identity_inferred": inferred is not None,
                "prompt": prompt,
                "split": rec.get("split") or None,
            }
        )
    matched = {tuple(name.split("/")) for name in duplicates.first}
    for key in sorted(set(disk) - matched):
        report.add("unlabelled_image", "/".join(key))
    rows = duplicates.keep(rows)
    report.labelled = len(rows)
    raw = pd.DataFrame(rows, columns=[*COLUMNS, "identity_inferred"])
    return finalise(raw, report, name=source, root=root)


def _prompt_from_png(path: Path) -> str | None:
    from ..synthetic.prompts import parse_webui_parameters

    text = png_text(path)
    return parse_webui_parameters(text)["prompt"] or None if text else None
