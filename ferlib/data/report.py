"""The data report: what a loader found, and every file kept, fixed, dropped or skipped, by reason.

Real data is messy. Each case has one defined behaviour (the ``REASONS`` table) and is counted here
with the file names, so nothing is lost silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

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
    "duplicate_row": ("dropped", "second CSV row for the same image"),
    "invalid_va": ("dropped", "valence or arousal is missing, NaN or outside [-1, 1]"),
    "corrupt_image": ("dropped", "image file is truncated or cannot be decoded"),
    "not_an_image": ("skipped", "file in a class folder is not an image"),
    "empty_class_folder": ("reported", "class folder holds no images"),
    "unknown_class_folder": ("kept", "folder is not one of the 7 emotions; prompted emotion unset"),
}


@dataclass
class DataReport:
    """Counts and file names by reason for one loaded dataset."""

    source: str
    root: str
    images_found: int = 0
    rows: int = 0
    labelled: int = 0
    issues: dict[str, list[str]] = field(default_factory=dict)

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
            if REASONS[k][0] == "dropped" and k not in ("missing_image", "duplicate_row")
        )
        return self.labelled - dropped

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "root": self.root,
            "images_found": self.images_found,
            "rows": self.rows,
            "labelled": self.labelled,
            "unlabelled": self.unlabelled,
            "usable": self.usable,
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
        ]
        for reason, names in sorted(self.issues.items()):
            action, why = REASONS[reason]
            shown = ", ".join(sorted(names)[:max_names])
            more = f" (+{len(names) - max_names} more)" if len(names) > max_names else ""
            lines.append(f"  {reason:<31}{len(names):>5}  [{action}] {why}")
            lines.append(f"      {shown}{more}")
        return "\n".join(lines)
