"""The identity-aware P×K batch sampler (docs/methods/elim.md §3, §9.2)."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch

from ferlib.data import cache_images, load_dataset
from ferlib.data.pk_sampler import PKSampler, identity_codes, pk_loader


def codes_for(sizes: list[int]) -> np.ndarray:
    """Identity code per row, identity i owning sizes[i] rows, rows interleaved."""
    codes = np.concatenate([np.full(n, i) for i, n in enumerate(sizes)])
    return codes[np.random.default_rng(0).permutation(len(codes))]


def sampler(codes, p, k, seed=0, **kw) -> PKSampler:
    return PKSampler(codes, p, k, torch.Generator().manual_seed(seed), **kw)


def check_batch(batch: list[int], codes: np.ndarray, p: int, k: int) -> None:
    per_id = Counter(codes[batch].tolist())
    assert len(batch) == p * k and len(per_id) == p and set(per_id.values()) == {k}


def test_balanced_epoch_is_p_by_k_and_covers_every_image_once():
    codes = codes_for([8] * 6)
    s = sampler(codes, p=3, k=4)
    batches = list(s)
    assert len(batches) == len(s) == 48 // 12
    for batch in batches:
        check_batch(batch, codes, 3, 4)
    assert sorted(i for b in batches for i in b) == list(range(48))


def test_unbalanced_identities_are_spread_so_every_image_is_still_drawn(caplog):
    codes = codes_for([12, 4, 4, 4, 1])  # one large identity, one singleton
    with caplog.at_level(logging.WARNING):
        s = sampler(codes, p=2, k=4)
    assert s.dropped == 1 and "1 of 25 images dropped" in caplog.text
    batches = list(s)
    assert len(batches) == 24 // 8
    for batch in batches:
        check_batch(batch, codes, 2, 4)
    singleton = int(np.flatnonzero(codes == 4)[0])
    assert sorted(i for b in batches for i in b) == sorted(set(range(25)) - {singleton})


def test_identities_with_fewer_than_k_images_repeat_them():
    codes = codes_for([3, 3, 6])
    for batch in sampler(codes, p=2, k=4):
        check_batch(batch, codes, 2, 4)
        for ident in (0, 1):
            rows = [i for i in batch if codes[i] == ident]
            if rows:  # all 3 images, one of them twice
                assert set(rows) == set(np.flatnonzero(codes == ident)) and len(rows) == 4


def test_same_generator_state_same_batches_and_epochs_differ():
    codes = codes_for([7, 5, 9, 6, 8])
    s = sampler(codes, p=2, k=3, seed=5)
    state = s.generator.get_state()
    first, second = list(s), list(s)
    assert first != second  # the next epoch draws on
    s.generator.set_state(state)
    assert list(s) == first
    assert list(sampler(codes, p=2, k=3, seed=5)) == first
    assert list(sampler(codes, p=2, k=3, seed=6)) != first


def test_ddp_ranks_get_disjoint_batches_of_one_epoch_plan():
    codes = codes_for([8] * 6)
    whole = sampler(codes, p=2, k=4).epoch_plan()
    ranks = [list(sampler(codes, p=2, k=4, rank=r, world_size=2)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == len(whole) // 2
    assert not set(map(tuple, ranks[0])) & set(map(tuple, ranks[1]))
    assert sorted(ranks[0] + ranks[1]) == sorted(whole[: 2 * (len(whole) // 2)])
    seen = [i for r in ranks for b in r for i in b]
    assert len(seen) == len(set(seen))  # no image on two ranks


def test_set_epoch_is_supported_and_draws_nothing():
    s = sampler(codes_for([8] * 4), p=2, k=4)
    state = s.generator.get_state()
    s.set_epoch(3)
    assert s.epoch == 3 and torch.equal(s.generator.get_state(), state)


@pytest.mark.parametrize(
    ("sizes", "p", "k", "world", "match"),
    [
        ([5, 1, 1], 1, 2, 1, "at least 2"),  # one eligible identity
        ([5, 5], 3, 2, 1, "at least 2"),  # P > eligible identities
        ([3, 3], 2, 4, 1, "fewer than one"),  # P·K > images
        ([4, 4], 2, 2, 3, "fewer than one per rank"),
    ],
)
def test_setup_fails_clearly(sizes, p, k, world, match):
    with pytest.raises(ValueError, match=match):
        sampler(codes_for(sizes), p, k, world_size=world)


def test_identity_codes_need_identities():
    frame = pd.DataFrame({"identity": ["b", None, "a", " ", "b"]})
    assert identity_codes(frame).tolist() == [1, -1, 0, -1, 1]
    for missing in ([None] * 3, [np.nan] * 3, ["x", "x", None]):
        with pytest.raises(ValueError, match="ELIM needs identity labels"):
            identity_codes(pd.DataFrame({"identity": missing}))


@pytest.fixture(scope="module")
def train_data(tiny_synth, tmp_path_factory):
    data = load_dataset("synthetic", tiny_synth)
    return cache_images(data, 64, cache_dir=tmp_path_factory.mktemp("cache")).subset("train")


def test_pk_loader_yields_identity_batches_and_resumes_from_its_generator(train_data):
    loader = pk_loader(train_data, 64, p=2, k=4, seed=0)
    codes = identity_codes(train_data.frame)
    assert loader.generator is loader.batch_sampler.generator
    state = loader.generator.get_state()
    batches = []
    for images, targets, index in loader:
        assert images.shape == (8, 3, 64, 64) and targets.shape == (8, 2)
        check_batch(index.tolist(), codes, 2, 4)
        batches.append(index.tolist())
    assert len(batches) == len(loader) == len(train_data) // 8
    loader.generator.set_state(state)
    assert [index.tolist() for _, _, index in loader] == batches


def test_pk_loader_refuses_data_without_identities(train_data):
    frame = train_data.frame.assign(identity=None)
    data = type(train_data)(train_data.name, train_data.root, frame, train_data.report)
    with pytest.raises(ValueError, match="ELIM needs identity labels"):
        pk_loader(data, 64, p=2, k=4, seed=0)
