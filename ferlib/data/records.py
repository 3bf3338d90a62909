"""One sample record and one table type for every data source.

Every loader (DiffusionFER folder, SyntheticFER, generic VA CSV, Hugging Face hub) returns an
``FERData``: a pandas frame with the columns in ``COLUMNS`` plus the ``DataReport``. Rows are the
usable, labelled samples; the report says what happened to everything else.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from ..emotions import EMOTIONS
from ..errors import UserError
from .report import DataReport, va_scale_cause
from .splits import SPELLINGS, SPLITS, assign_splits

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


class ColumnError(UserError):
    """A label file lacks a required column, or a column holds values it cannot take; the message
    names the column and the file."""


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
            raise UserError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}, all")
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


def read_sheet(path: Path) -> pd.DataFrame:
    """A label sheet (CSV) as strings, its column names stripped; a file pandas cannot read as
    CSV text (binary, empty, malformed) is a ``UserError`` with pandas' own message."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except ValueError as err:  # ParserError, EmptyDataError, UnicodeDecodeError
        raise UserError(str(err)) from err
    table.columns = [c.strip() for c in table.columns]
    return table


def require_columns(columns: list[str], required: tuple[str, ...], source: Path) -> None:
    """Raise ``ColumnError`` naming each missing column, with the closest existing one."""
    present = [c.strip() for c in columns]
    for name in required:
        if name not in present:
            close = difflib.get_close_matches(name, present, n=1, cutoff=0.6)
            hint = f" (found {close[0]!r}: misspelled?)" if close else f" (columns: {present})"
            raise ColumnError(f"{source}: missing required column {name!r}{hint}")


def given_splits(values: pd.Series, source: Path, column: str = "split") -> pd.Series:
    """A label file's split column as written: ``train``, ``val`` or ``test`` per row (spellings
    in ``splits.SPELLINGS``), or all None when the column is empty (the built-in rule applies).

    Raises ``ColumnError`` naming the file, the column and every other value with its count, or
    how many rows lack a split when only some have one: a half-filled column is never completed
    or replaced silently.
    """
    text = values.fillna("").astype(str).str.strip()
    named = text.str.lower().map(SPELLINGS)
    bad = text[(text != "") & named.isna()].value_counts()
    if len(bad):
        listed = ", ".join(f"{value!r} in {n} row{'s' * (n != 1)}" for value, n in bad.items())
        raise ColumnError(
            f"{source}: column {column!r} holds values that name no split: {listed}; "
            f"use {', '.join(SPELLINGS)} (any case)"
        )
    blank = int((text == "").sum())
    if blank == len(text):
        return pd.Series(None, index=values.index, dtype=object)
    if blank:
        raise ColumnError(
            f"{source}: column {column!r} is empty in {blank} of {len(text)} rows; give every row "
            "a split, or leave the column empty everywhere for the built-in split"
        )
    return named


LABEL_FIELDS = ("valence", "arousal", "expression", "identity", "split")
"""What two sheet rows for one image must agree on to be a plain duplicate."""

EMOTION_WORDS = frozenset(
    {*EMOTIONS, "happiness", "sadness", "anger", "surprised", "fearful", "disgusted", "contempt"}
)
"""Folder names that name an emotion, never a person (identity inference refuses them)."""

MIN_INFERRED_IDENTITIES = 3
"""Fewer inferred people than this cannot fill train, val and test with whole people."""


def _label_values(rec: dict) -> tuple:
    values = []
    for name in LABEL_FIELDS:
        text = str(rec.get(name) or "").strip()
        try:
            values.append(float(text) if name in ("valence", "arousal") else text)
        except ValueError:
            values.append(text)
    return tuple(values)


@dataclass
class DuplicateRows:
    """Second and later sheet rows for one image. Identical labels: a duplicate (the first row
    is kept). Different labels: a conflict, and every row of that image is dropped, because which
    one is right cannot be known; both cases are reported."""

    report: DataReport
    first: dict[str, tuple[tuple, str]] = field(default_factory=dict)
    conflicts: set[str] = field(default_factory=set)

    def seen(self, key: str, rec: dict, name: str) -> bool:
        """True (and the row reported) when ``key`` came before; else remember ``rec``."""
        labels = _label_values(rec)
        if key not in self.first:
            self.first[key] = (labels, name)
            return False
        if labels == self.first[key][0]:
            self.report.add("duplicate_row", name)
        else:
            if key not in self.conflicts:
                self.conflicts.add(key)
                self.report.add("conflicting_labels", self.first[key][1])
            self.report.add("conflicting_labels", name)
        return True

    def keep(self, rows: list[dict], key: str = "key") -> list[dict]:
        """``rows`` without the images whose rows conflict."""
        return [r for r in rows if r[key] not in self.conflicts]


def _derive_identities(frame: pd.DataFrame, report: DataReport) -> pd.Series:
    """The identity column after the inference rules; says in ``report.identities`` how.

    Identities guessed from folders (rows where ``identity_inferred``) are refused when the
    folders are emotion names or too few to split by person: a split by emotion folder would put
    all of one emotion into the test set. Two or more refused folders print a warning.
    """
    ident = frame["identity"].where(frame["identity"].astype(str).str.strip() != "")
    inferred = (
        frame["identity_inferred"].fillna(False).astype(bool)
        if "identity_inferred" in frame
        else pd.Series(False, index=frame.index)
    )
    guessed = sorted(set(ident[inferred].dropna().astype(str)))
    refused = ""
    if guessed:
        emotional = [g for g in guessed if g.strip().lower() in EMOTION_WORDS]
        if emotional:
            refused = (
                f"the first folders of the paths are emotion names ({', '.join(emotional[:4])}), "
                "not people"
            )
        elif len(guessed) == 1:
            refused = f"every path starts with the same folder {guessed[0]!r}"
        elif len(guessed) < MIN_INFERRED_IDENTITIES:
            refused = (
                f"the paths' first folders ({', '.join(guessed)}) are too few to split by person"
            )
        if refused:
            ident = ident.where(~inferred)
            if len(guessed) > 1:
                warnings.warn(
                    f"{report.source}: identities not inferred: {refused}; splitting without "
                    "identities (add an identity column to split by person)",
                    stacklevel=3,
                )
    people = ident.nunique(dropna=True)
    if people < 2:  # a single identity is none: splits fall back to file names
        why = refused or (
            "the identity column names one person" if people == 1 else "no identity column"
        )
        report.identities = f"none ({why}); splits stratified by emotion"
        return pd.Series(None, index=frame.index, dtype=object)
    from_folders = bool((inferred & ident.notna()).any())
    from_column = bool((~inferred & ident.notna()).any())
    how = (
        "the identity column, else the first folder of the path"
        if from_folders and from_column
        else "the first folder of each path (inferred)"
        if from_folders
        else "the identity column"
    )
    report.identities = f"{people} people, from {how}"
    return ident


def _drop_nameless(frame: pd.DataFrame, report: DataReport) -> pd.DataFrame:
    """``frame`` without the rows that name no person when the split goes by person (two or more
    people): such a row could be anyone, so no split can take it without risking a leak."""
    nameless = frame["identity"].isna()
    if frame["identity"].nunique(dropna=True) < 2 or not nameless.any():
        return frame
    for key in frame.loc[nameless, "key"]:
        report.add("no_identity", key)
    return frame[~nameless].copy()


def finalise(
    raw: pd.DataFrame, report: DataReport, name: str, root: Path, fractions=(0.7, 0.15, 0.15)
) -> FERData:
    """Shared last step of every loader: label checks, identity rule, splits.

    ``raw`` has the ``COLUMNS`` and one row per matched image; its ``split`` is the file's own
    (``given_splits``: every row has one) or all missing (the rule in ``splits``, after which the
    rows that name no person, when others do, are dropped as ``no_identity``).
    """
    frame = raw.copy()
    for col in ("valence", "arousal"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    bad_va = ~(frame["valence"].between(-1, 1) & frame["arousal"].between(-1, 1))
    for key in frame.loc[bad_va, "key"]:
        report.add("invalid_va", key)
    if bad_va.any():
        report.causes["invalid_va"] = va_scale_cause(raw)
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

    frame["identity"] = _derive_identities(frame, report)

    given = frame["split"] if "split" in frame else pd.Series(None, index=frame.index)
    if given.notna().any():  # the loaders checked it whole: every row names its split
        frame["split"] = given
    else:
        frame = _drop_nameless(frame, report)
        frame["split"] = assign_splits(frame, fractions)
    frame = frame.reset_index(drop=True)[list(COLUMNS)]
    return FERData(name=name, root=root, frame=frame, report=report)
