"""The data report: what a loader found, and every file kept, fixed, dropped or skipped, by reason.

Real data is messy. Each case has one defined behaviour (the ``REASONS`` table) and is counted here
with the file names, so nothing is lost silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from ..errors import UserError
from ..paths import display_path

# reason -> (what the loader does, explanation)
REASONS: dict[str, tuple[str, str]] = {
    "prefix_remapped": (
        "kept",
        "CSV path prefix differs from the folder on disk; matched by <class>/<file> tail",
    ),
    "folder_differs_from_expression": (
        "kept",
        "prompted folder differs from the annotated "
        "expression (normal for DiffusionFER; both kept)",
    ),
    "odd_filename": ("kept", "file name is not <8 lowercase letters>_<code 0-6>.<ext>"),
    "code_differs_from_folder": (
        "kept",
        "the file's _<code> suffix names another emotion than its folder",
    ),
    "converted_mode": ("kept", "image was not RGB (RGBA, greyscale, palette…); converted"),
    "unknown_expression": ("kept", "expression code outside 0–6; stored as missing"),
    "unlabelled_image": ("skipped", "image on disk with no CSV row"),
    "missing_image": ("dropped", "CSV row whose image file does not exist"),
    "duplicate_row": ("dropped", "second CSV row for the same image, with the same labels"),
    "conflicting_labels": (
        "dropped",
        "CSV rows for the same image disagree on its labels; every such row dropped",
    ),
    "invalid_va": ("dropped", "valence or arousal is missing, NaN or outside [-1, 1]"),
    "no_identity": (
        "dropped",
        "the splits keep each person whole, but this row names nobody (blank identity, no folder "
        "to infer one from): it could be anyone, so it joins no split",
    ),
    "corrupt_image": (
        "dropped",
        "image file is truncated, cannot be decoded or is too large (decompression-bomb guard)",
    ),
    "not_an_image": ("skipped", "file in a class folder is not an image"),
    "empty_class_folder": ("reported", "class folder holds no images"),
    "unknown_class_folder": ("kept", "folder is not one of the 7 emotions; prompted emotion unset"),
}

NOT_LABELLED = ("missing_image", "duplicate_row", "conflicting_labels")
"""Dropped before matching, so never counted among the labelled images."""

WARN_SHARE = 0.05
"""``ferlib train`` warns when more than this share of the rows is dropped …"""
STOP_SHARE = 0.5
"""… and stops when more than this share is (the data is most likely prepared wrongly)."""


class DataDroppedError(UserError):
    """Most (or all) rows were dropped; the message gives the counts, the likely cause and the
    command that lists every file."""


def va_scale_cause(values: pd.DataFrame) -> str:
    """The likely reason labels are invalid, read from the ``valence`` and ``arousal`` values of
    every row (not only the dropped ones): a ±10 or ±100 scale, AffectNet's -2, or text."""
    raw = values[["valence", "arousal"]]
    numbers = raw.apply(pd.to_numeric, errors="coerce")
    top = float(numbers.abs().max().max()) if numbers.notna().any().any() else 0.0
    if (numbers == -2).any().any() and top <= 2:
        return "-2 marks uncoded images (AffectNet): drop those rows when preparing the CSV"
    for scale, example in ((10, "AFEW-VA"), (100, "a percentage scale")):
        if 1 < top <= scale:
            return (
                f"valence or arousal outside [-1, 1] (largest |value| {top:g}): a ±{scale} "
                f"scale? rescale by 1/{scale} ({example}) when preparing the CSV"
            )
    text = raw.where(numbers.isna()).stack().astype(str).str.strip()
    text = text[(text != "") & (text.str.lower() != "nan")]
    if len(text):
        return f"valence or arousal is not a number (e.g. {text.iloc[0]!r})"
    return "valence or arousal missing, NaN or outside [-1, 1]"


@dataclass
class DataReport:
    """Counts and file names by reason for one loaded dataset."""

    source: str
    root: str
    images_found: int = 0
    rows: int = 0
    labelled: int = 0
    issues: dict[str, list[str]] = field(default_factory=dict)
    identities: str = ""  # how the identities were derived (column, folders, or none and why)
    causes: dict[str, str] = field(default_factory=dict)  # reason -> likely cause, when known

    def add(self, reason: str, name: str) -> None:
        if reason not in REASONS:
            raise KeyError(f"unknown data-report reason {reason!r}")
        self.issues.setdefault(reason, []).append(name)

    def count(self, reason: str) -> int:
        return len(self.issues.get(reason, []))

    @property
    def unlabelled(self) -> int:
        return self.count("unlabelled_image")

    @property
    def usable(self) -> int:
        """Labelled images that survive every drop rule (corrupt files are found at decode time)."""
        dropped = sum(
            len(v)
            for k, v in self.issues.items()
            if REASONS[k][0] == "dropped" and k not in NOT_LABELLED
        )
        return self.labelled - dropped

    def dropped(self) -> dict[str, int]:
        """Dropped rows by reason (largest first)."""
        counts = {k: len(v) for k, v in self.issues.items() if REASONS[k][0] == "dropped"}
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def summary(self) -> str:
        """One line: rows, usable, dropped by reason, and where the identities came from."""
        dropped = self.dropped()
        total = sum(dropped.values())
        why = ", ".join(f"{k} {n}" for k, n in dropped.items())
        return (
            f"{self.source} at {display_path(self.root)}: {self.rows} rows, {self.usable} usable, "
            f"{total} dropped" + (f" ({why})" if why else "") + f"; identities: {self.identities}"
        )

    def check_drops(self, warn: float = WARN_SHARE, stop: float = STOP_SHARE) -> str | None:
        """None when (almost) nothing was dropped; a warning line when more than ``warn`` of the
        rows were; raises ``DataDroppedError`` when more than ``stop`` were, or nothing is left."""
        dropped = self.dropped()
        total, rows = sum(dropped.values()), max(self.rows, self.labelled, 1)
        share = total / rows
        if not total and self.usable <= 0:
            raise DataDroppedError(
                f"{self.source} at {display_path(self.root)} holds no labelled images "
                f"({self.rows} rows, {self.images_found} images found)"
            )
        if not total or (share <= warn and self.usable > 0):
            return None
        top = next(iter(dropped))
        cause = self.causes.get(top, REASONS[top][1])
        text = (
            f"{total} of {rows} rows ({share:.0%}) dropped, most as {top} ({dropped[top]}): {cause}"
        )
        if self.usable <= 0 or share > stop:
            raise DataDroppedError(
                f"{text}; nothing to train on. Every file and reason: ferlib data-report "
                f"--dataset {self.source} --data-dir {display_path(self.root)}"
            )
        return f"warning: {text}"

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "root": self.root,
            "images_found": self.images_found,
            "rows": self.rows,
            "labelled": self.labelled,
            "unlabelled": self.unlabelled,
            "usable": self.usable,
            "identities": self.identities,
            "causes": dict(sorted(self.causes.items())),
            "issues": {
                k: {"action": REASONS[k][0], "count": len(v), "files": sorted(v)}
                for k, v in sorted(self.issues.items())
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def format(self, max_names: int = 5) -> str:
        """Plain-text report for terminals and notebooks."""
        lines = [
            f"Data report: {self.source} at {display_path(self.root)}",
            f"  images found on disk : {self.images_found}",
            f"  CSV rows             : {self.rows}",
            f"  labelled images      : {self.labelled}",
            f"  unlabelled images    : {self.unlabelled}",
            f"  usable samples       : {self.usable}",
            f"  identities           : {self.identities}",
        ]
        for reason, names in sorted(self.issues.items()):
            action, why = REASONS[reason]
            shown = ", ".join(sorted(names)[:max_names])
            more = f" (+{len(names) - max_names} more)" if len(names) > max_names else ""
            lines.append(f"  {reason:<31}{len(names):>5}  [{action}] {why}")
            if reason in self.causes:
                lines.append(f"      likely cause: {self.causes[reason]}")
            lines.append(f"      {shown}{more}")
        return "\n".join(lines)
