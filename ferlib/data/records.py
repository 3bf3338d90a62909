"""One sample record and one table type for every data source.

Every loader (DiffusionFER folder, SyntheticFER, generic VA CSV, Hugging Face hub) returns an
``FERData``: a pandas frame with the columns in ``COLUMNS`` plus the ``DataReport``. Rows are the
usable, labelled samples; the report says what happened to everything else.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..emotions import EMOTIONS
from .report import DataReport
from .splits import SPLITS, assign_splits

COLUMNS = (
    "path",
    "key",
    "valence",
    "arousal",
    "expression",
    "prompted",
    "identity",
    "prompt",
    "split",
)


class ColumnError(ValueError):
    """A label file lacks a required column; the message names the column and the file."""


@dataclass(frozen=True)
class Sample:
    """One labelled image. Missing fields are None (not every source has every field)."""

    path: Path
    valence: float
    arousal: float
    expression: int | None
    prompted: str | None
    identity: str | None
    prompt: str | None
    split: str


@dataclass
class FERData:
    """A loaded dataset: the sample frame (``COLUMNS``) and its data report."""

    name: str
    root: Path
    frame: pd.DataFrame
    report: DataReport
    images: torch.Tensor | None = None  # N×3×S×S uint8, rows aligned with frame (see cache.py)

    def __len__(self) -> int:
        return len(self.frame)

    def sample(self, i: int) -> Sample:
        row = self.frame.iloc[i]

        def opt(v):
            return None if pd.isna(v) else v

        expr = opt(row["expression"])
        return Sample(
            path=row["path"],
            valence=float(row["valence"]),
            arousal=float(row["arousal"]),
            expression=None if expr is None else int(expr),
            prompted=opt(row["prompted"]),
            identity=opt(row["identity"]),
            prompt=opt(row["prompt"]),
            split=row["split"],
        )

    def subset(self, split: str) -> FERData:
        """Rows of one split (``all`` keeps every row)."""
        if split == "all":
            return self
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}, all")
        mask = (self.frame["split"] == split).to_numpy()
        images = None if self.images is None else self.images[torch.from_numpy(mask)]
        return FERData(
            self.name, self.root, self.frame[mask].reset_index(drop=True), self.report, images
        )

    @property
    def has_identities(self) -> bool:
        return bool(self.frame["identity"].notna().any())

    def summary(self) -> str:
        """One line a chapter prints first: "2100 images of 60 people; train/val/test =
        1470/315/315" (the people only where the data has identities)."""
        counts = self.frame["split"].value_counts()
        people = f" of {self.frame['identity'].nunique()} people" if self.has_identities else ""
        sizes = "/".join(str(int(counts.get(s, 0))) for s in SPLITS)
        return f"{len(self)} images{people}; {'/'.join(SPLITS)} = {sizes}"


def require_columns(columns: list[str], required: tuple[str, ...], source: Path) -> None:
    """Raise ``ColumnError`` naming each missing column, with the closest existing one."""
    present = [c.strip() for c in columns]
    for name in required:
        if name not in present:
            close = difflib.get_close_matches(name, present, n=1, cutoff=0.6)
            hint = f" (found {close[0]!r}: misspelled?)" if close else f" (columns: {present})"
            raise ColumnError(f"{source}: missing required column {name!r}{hint}")


def finalise(
    raw: pd.DataFrame, report: DataReport, name: str, root: Path, fractions=(0.7, 0.15, 0.15)
) -> FERData:
    """Shared last step of every loader: label checks, identity rule, splits.

    ``raw`` has the ``COLUMNS`` (``split`` may be all missing) and one row per matched image.
    """
    frame = raw.copy()
    for col in ("valence", "arousal"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    bad_va = ~(frame["valence"].between(-1, 1) & frame["arousal"].between(-1, 1))
    for key in frame.loc[bad_va, "key"]:
        report.add("invalid_va", key)
    frame = frame[~bad_va]

    expr = pd.to_numeric(frame["expression"], errors="coerce")
    unknown = expr.notna() & ~expr.isin(range(len(EMOTIONS)))
    unknown |= frame["expression"].notna() & expr.isna()
    for key in frame.loc[unknown, "key"]:
        report.add("unknown_expression", key)
    frame["expression"] = expr.where(~unknown).astype("Int64")

    known_folder = frame["prompted"].notna() & frame["expression"].notna()
    differs = known_folder & (
        frame["prompted"].map(lambda p: EMOTIONS.index(p) if p in EMOTIONS else -1)
        != frame["expression"]
    )
    for key in frame.loc[differs, "key"]:
        report.add("folder_differs_from_expression", key)

    # a dataset that resolves to a single identity has none (its splits fall back to file names)
    ident = frame["identity"].where(frame["identity"].astype(str).str.strip() != "")
    if ident.nunique(dropna=True) < 2:
        ident = pd.Series(None, index=frame.index, dtype=object)
    frame["identity"] = ident

    given = frame["split"] if "split" in frame else pd.Series(np.nan, index=frame.index)
    if given.notna().all() and given.isin(SPLITS).all() and len(frame):
        frame["split"] = given
    else:
        frame["split"] = assign_splits(frame, fractions)
    frame = frame.reset_index(drop=True)[list(COLUMNS)]
    return FERData(name=name, root=root, frame=frame, report=report)
