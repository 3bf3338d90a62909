import shutil

import pytest
import torch

import ferlib.data.cache as cache
from ferlib.data import cache_images, load_diffusionfer, make_loader, store_size
from ferlib.data.transforms import denormalize, normalize


@pytest.fixture
def data(tiny_synth):
    return load_diffusionfer(tiny_synth, source="synthetic")


def test_store_sizes_follow_the_resize_then_crop_recipe():
    assert [store_size(s) for s in (64, 112, 224)] == [72, 128, 256]


def test_store_is_decoded_once_then_read_from_cache(data, tmp_path, monkeypatch):
    first = cache_images(data, 64, cache_dir=tmp_path)
    assert first.images.shape == (len(data), 3, 72, 72) and first.images.dtype == torch.uint8
    assert len(list(tmp_path.glob("*.pt"))) == 1

    def no_decode(*args):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(cache, "_decode", no_decode)
    again = cache_images(load_diffusionfer(data.root.parent, source="synthetic"), 64, tmp_path)
    assert torch.equal(again.images, first.images)


def test_cache_key_changes_with_the_files(tiny_synth, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_synth, copy)
    data = load_diffusionfer(copy, source="synthetic")
    cache_images(data, 64, cache_dir=tmp_path)
    victim = data.frame["path"][0]
    victim.write_bytes(victim.read_bytes() + b"\0")  # still decodes (trailing bytes ignored)
    cache_images(load_diffusionfer(copy, source="synthetic"), 64, tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 2


def test_cached_and_decoding_loaders_agree(data, tmp_path):
    stored = cache_images(data, 64, cache_dir=tmp_path)
    fast = make_loader(stored, 64, batch_size=8, train=False)
    slow = make_loader(stored, 64, batch_size=8, train=False, decode=True)
    for (a, ya, ia), (b, yb, ib) in zip(fast, slow, strict=True):
        assert torch.equal(a, b) and torch.equal(ya, yb) and torch.equal(ia, ib)
    assert a.shape[1:] == (3, 64, 64)


def test_training_loader_drops_the_last_batch_and_augments(data, tmp_path):
    stored = cache_images(data, 64, cache_dir=tmp_path)
    loader = make_loader(stored, 64, batch_size=8, train=True, seed=1)
    batches = list(loader)
    assert len(batches) == len(stored) // 8 and all(len(b[0]) == 8 for b in batches)
    images, targets, index = batches[0]
    expected = torch.tensor(stored.frame[["valence", "arousal"]].to_numpy("float32"))[index]
    assert torch.equal(targets, expected)


def test_normalize_round_trip():
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    assert torch.allclose(denormalize(normalize(x)), x.float() / 255, atol=1e-6)


def test_subset_keeps_images_aligned(data, tmp_path):
    stored = cache_images(data, 64, cache_dir=tmp_path)
    test = stored.subset("test")
    rows = (stored.frame["split"] == "test").to_numpy().nonzero()[0]
    assert torch.equal(test.images, stored.images[torch.from_numpy(rows)])
    with pytest.raises(ValueError, match="unknown split"):
        stored.subset("dev")


def test_fast_normalize_matches_torchvision():
    from torchvision.transforms import v2

    from ferlib.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    reference = v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)(v2.ToDtype(torch.float32, scale=True)(x))
    assert torch.allclose(normalize(x), reference, atol=1e-5)


def test_batched_augmentation_crops_and_flips_each_sample_on_its_own():
    from ferlib.data.transforms import random_crop_flip

    torch.manual_seed(0)
    batch = torch.randint(0, 256, (64, 3, 12, 12), dtype=torch.uint8)
    out = random_crop_flip(batch, 8)
    assert out.shape == (64, 3, 8, 8) and out.dtype == torch.uint8
    windows, flipped = set(), 0
    for src, crop in zip(batch, out, strict=True):
        found = [
            (t, x, f)
            for t in range(5)
            for x in range(5)
            for f in (False, True)
            if torch.equal(
                crop, src[:, t : t + 8, x : x + 8].flip(-1) if f else src[:, t : t + 8, x : x + 8]
            )
        ]
        assert found, "crop is not a window of its own image"
        windows.add(found[0][:2])
        flipped += found[0][2]
    assert len(windows) > 10 and 15 < flipped < 49  # offsets and flips differ per sample
