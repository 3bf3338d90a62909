"""Identity-aware P×K batches for ELIM: P identities × K images.

Spec: ``docs/methods/elim.md`` (§ numbers below refer to it), §3.

ELIM matches the latents of one identity to another's inside a batch, so every batch must hold
several samples of several identities; plain shuffling rarely gives that. The sampler draws only
from the ``torch.Generator`` it is given, the one the loader exposes as ``loader.generator``:
the trainer checkpoints that generator, so a resumed run draws the same batches. Under DDP every
rank builds the same epoch plan (same seed, same draws) and keeps every ``world_size``-th batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Sampler

from ..errors import UserError
from .augment import Augmentation
from .records import FERData
from .torch_data import CachedVADataset, already_batched

logger = logging.getLogger(__name__)


def identity_codes(frame: pd.DataFrame) -> np.ndarray:
    """One integer per row from the ``identity`` column (codes follow sorted names; -1: none).

    Raises ``ValueError`` when fewer than two identities are present: ELIM has nothing to match.
    """
    ident = frame["identity"] if "identity" in frame else pd.Series(None, index=frame.index)
    ident = ident.where(ident.notna() & (ident.astype(str).str.strip() != ""))
    codes, names = pd.factorize(ident, sort=True)
    if len(names) < 2:
        raise UserError(
            f"ELIM needs identity labels, but the training split has {len(names)} identities: "
            "give the data an 'identity' column (otherwise the first folder of each image path "
            "is used, and a dataset whose paths all share one folder has no identities), or use "
            "a dataset with identities such as 'synthetic'"
        )
    return codes.astype(np.int64)


class PKSampler(Sampler[list[int]]):
    """Batches of ``p`` distinct identities × ``k`` rows each (§3), for ``batch_sampler=``.

    - Identities with fewer than 2 rows (and rows without identity) are dropped and counted in
      ``dropped``; each epoch has ⌊N_eligible / (p·k)⌋ batches (``drop_last``), split over ranks.
    - Each identity's rows are shuffled and cut into chunks of k; a last partial chunk is filled
      with other rows of the same identity, and an identity with fewer than k rows repeats rows
      (with replacement), so every image can be drawn.
    - Each batch takes one chunk from the p identities with the most chunks left (random
      tie-break): it spreads large identities over the epoch and uses every chunk when possible.
      An identity runs dry only when it must be reused (too few identities left); it is then
      refilled with a fresh shuffle.
    """

    def __init__(
        self,
        identities: Sequence[int] | np.ndarray | torch.Tensor,
        p: int,
        k: int,
        generator: torch.Generator,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if p < 1 or k < 1:
            raise ValueError(f"P and K must be at least 1, got P={p}, K={k}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        codes = torch.as_tensor(np.asarray(identities), dtype=torch.long)
        ordered, rows = torch.sort(codes, stable=True)  # one pass, not one scan per identity
        names, counts = torch.unique_consecutive(ordered, return_counts=True)
        groups = zip(names.tolist(), rows.split(counts.tolist()), strict=True)
        self.groups = [g for name, g in groups if name >= 0 and len(g) >= 2]
        eligible = sum(len(g) for g in self.groups)
        self.dropped = len(codes) - eligible
        if self.dropped:
            logger.warning(
                "P×K sampler: %d of %d images dropped (identity with a single image, or none)",
                self.dropped,
                len(codes),
            )
        if len(self.groups) < max(p, 2):
            raise UserError(
                f"P×K sampler: {len(self.groups)} identities have at least 2 images; "
                f"need at least max(P, 2) = {max(p, 2)}"
            )
        self.p, self.k, self.generator = p, k, generator
        self.rank, self.world_size = rank, world_size
        self.batches_per_epoch = eligible // (p * k)  # every rank together
        if self.batches_per_epoch < world_size:
            raise UserError(
                f"P×K sampler: {eligible} eligible images give {self.batches_per_epoch} batches "
                f"of P×K = {p}×{k}, fewer than one per rank ({world_size})"
            )
        self.epoch = 0

    def __len__(self) -> int:
        return self.batches_per_epoch // self.world_size

    def set_epoch(self, epoch: int) -> None:
        """Recorded only: each epoch already differs because it draws on from the generator."""
        self.epoch = epoch

    def _chunks(self, rows: torch.Tensor) -> list[torch.Tensor]:
        g, k, n = self.generator, self.k, len(rows)
        perm = rows[torch.randperm(n, generator=g)]
        if n < k:  # §3: with replacement, after every row once
            return [torch.cat([perm, perm[torch.randint(n, (k - n,), generator=g)]])]
        full, rest = divmod(n, k)
        chunks = list(perm[: full * k].split(k))
        if rest:  # fill with distinct rows of the same identity
            fill = perm[torch.randperm(full * k, generator=g)[: k - rest]]
            chunks.append(torch.cat([perm[full * k :], fill]))
        return chunks

    def epoch_plan(self) -> list[list[int]]:
        """Every batch of the next epoch, for all ranks (draws from the generator)."""
        left = [self._chunks(rows) for rows in self.groups]
        batches = []
        for _ in range(self.batches_per_epoch):
            if sum(1 for chunks in left if chunks) < self.p:
                refill = zip(left, self.groups, strict=True)
                left = [chunks or self._chunks(rows) for chunks, rows in refill]
            counts = torch.tensor([len(chunks) for chunks in left], dtype=torch.float64)
            tie_break = torch.rand(len(left), generator=self.generator, dtype=torch.float64)
            chosen = (counts + tie_break).topk(self.p).indices.tolist()
            batches.append(torch.cat([left[i].pop() for i in chosen]).tolist())
        order = torch.randperm(len(batches), generator=self.generator).tolist()
        return [batches[i] for i in order]

    def __iter__(self) -> Iterator[list[int]]:
        plan = self.epoch_plan()
        yield from plan[self.rank : len(self) * self.world_size : self.world_size]


def pk_loader(
    data: FERData,
    image_size: int,
    p: int,
    k: int,
    seed: int,
    distributed: tuple[int, int] | None = None,
    num_workers: int = 0,
    augment: Augmentation | None = None,
) -> DataLoader:
    """A training loader of P×K identity batches over the tensor store (see ``make_loader``;
    ``augment`` as there).

    ``loader.generator`` is the sampler's generator, so checkpointing it (as the trainer does)
    is enough for an exact resume. ``distributed=(rank, world_size)`` gives each rank disjoint
    batches of the same epoch plan.

    Taught in ``notebooks/13_elim.ipynb`` §2.
    """
    codes = identity_codes(data.frame)
    dataset = CachedVADataset(data, image_size, train=True, augment=augment)
    generator = torch.Generator().manual_seed(seed)
    rank, world = distributed if distributed is not None else (0, 1)
    sampler = PKSampler(codes, p, k, generator, rank=rank, world_size=world)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=num_workers,
        generator=generator,
        persistent_workers=num_workers > 0,
        collate_fn=already_batched,
    )
