"""Train/val/test splits that are identical on every machine.

A label file's own ``split`` column, when filled, is used as written (``records.given_splits``);
otherwise:

- With identities (two or more distinct): whole identities go to one split, so evaluation is on
  people the model never saw. Identities are ordered by a hash of their name and assigned in that
  order until each split holds its share of the images. A row that names no person could be
  anyone, so it joins no split: the loaders drop it and report it (``no_identity``).
- Without: a stratified split per prompted emotion (else per annotated expression), ordering the
  files of each class by a hash of the *file name* (not the path, which differs between copies).
"""

from __future__ import annotations

import hashlib

import pandas as pd

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
SPELLINGS = {"train": "train", "val": "val", "validation": "val", "test": "test"}
"""How a label file may name each split (any case, surrounding spaces ignored)."""


def stable_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _cut(n: int, fractions: tuple[float, float, float]) -> list[str]:
    n_train = round(fractions[0] * n)
    n_val = round((fractions[0] + fractions[1]) * n) - n_train
    return ["train"] * n_train + ["val"] * n_val + ["test"] * (n - n_train - n_val)


def identity_split(identity: pd.Series, fractions=DEFAULT_FRACTIONS) -> pd.Series:
    """Split label per row with whole identities kept together."""
    counts = identity.value_counts()
    order = sorted(counts.index, key=lambda name: stable_hash(str(name)))
    total, seen, assign = int(counts.sum()), 0, {}
    bounds = (fractions[0], fractions[0] + fractions[1])
    for k, name in enumerate(order):
        share = seen / total
        left = len(order) - k
        split = "train" if share < bounds[0] else "val" if share < bounds[1] else "test"
        # keep val and test non-empty when there are identities enough for them
        if left == 2 and "val" not in assign.values() and len(order) >= 3:
            split = "val"
        if left == 1 and "test" not in assign.values() and len(order) >= 3:
            split = "test"
        assign[name] = split
        seen += int(counts[name])
    return identity.map(assign)


def stratified_split(
    names: pd.Series, strata: pd.Series | None, fractions=DEFAULT_FRACTIONS
) -> pd.Series:
    """Split label per row, stratified by ``strata``, ordered by a hash of the file name."""
    out = pd.Series(index=names.index, dtype=object)
    groups = (
        strata.astype(object).fillna("?").astype(str)
        if strata is not None
        else pd.Series("all", names.index)
    )
    for _, idx in names.groupby(groups).groups.items():
        ordered = sorted(idx, key=lambda i: stable_hash(str(names[i])))
        out[ordered] = _cut(len(ordered), fractions)
    return out


def assign_splits(frame: pd.DataFrame, fractions=DEFAULT_FRACTIONS) -> pd.Series:
    """The split of each row of a loaded dataset frame (see the module docstring for the rule)."""
    if frame["identity"].notna().any() and frame["identity"].nunique() >= 2:
        return identity_split(frame["identity"], fractions)
    strata = frame["prompted"] if frame["prompted"].notna().any() else frame["expression"]
    names = frame["path"].map(lambda p: p.name)
    return stratified_split(names, strata, fractions)
