"""PyTorch datasets and loaders over an ``FERData``: from the tensor store, or decoding each epoch.

Both yield ``(uint8 image, target [valence, arousal], row index)``; the decoding variant exists to
measure what the store saves (``ferlib bench``) and for data too large to hold in memory.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision.transforms.functional import pil_to_tensor

from .augment import Augmentation
from .cache import store_size
from .images import fit_square, read_rgb
from .records import FERData
from .transforms import eval_transform, random_crop_flip, train_transform


def _targets(data: FERData) -> torch.Tensor:
    return torch.tensor(data.frame[["valence", "arousal"]].to_numpy(dtype="float32"))


class CachedVADataset(Dataset):
    """Samples from the in-memory uint8 store, augmented as tensors.

    The DataLoader fetches whole batches through ``__getitems__`` (one gather, one batched
    augmentation) instead of one ``__getitem__`` call per image.
    """

    def __init__(
        self,
        data: FERData,
        image_size: int,
        train: bool,
        augment: Augmentation | None = None,
    ):
        if data.images is None:
            raise ValueError("data has no tensor store; call ferlib.data.cache_images first")
        self.images, self.targets = data.images, _targets(data)
        self.size, self.train = image_size, train
        self.transform = train_transform(image_size) if train else eval_transform(image_size)
        self.augment = augment if train and augment is not None and augment.active else None

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        image = self.transform(self.images[i])
        if self.augment is not None:
            image = self.augment(image.unsqueeze(0))[0]
        return image, self.targets[i], i

    def __getitems__(self, indices: list[int]):
        index = torch.as_tensor(indices)
        batch = self.images[index]
        batch = random_crop_flip(batch, self.size) if self.train else self.transform(batch)
        if self.augment is not None:
            batch = self.augment(batch)
        return batch, self.targets[index], index


def already_batched(batch):
    """The loader's ``collate_fn`` when the dataset returns whole batches (a batch sampler indexes
    the tensor store once per batch): the batch as it is."""
    return batch


class DecodingVADataset(Dataset):
    """Samples decoded from their image files on every access (the slow path)."""

    def __init__(self, data: FERData, image_size: int, train: bool):
        self.paths, self.targets = list(data.frame["path"]), _targets(data)
        self.size = store_size(image_size)
        self.transform = train_transform(image_size) if train else eval_transform(image_size)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        img, _ = read_rgb(self.paths[i])
        return self.transform(pil_to_tensor(fit_square(img, self.size))), self.targets[i], i


def make_loader(
    data: FERData,
    image_size: int,
    batch_size: int,
    train: bool,
    decode: bool = False,
    num_workers: int = 0,
    seed: int = 0,
    distributed: tuple[int, int] | None = None,
    augment: Augmentation | None = None,
) -> DataLoader:
    """A loader with the project's conventions: shuffled and ``drop_last`` for training only.

    ``augment`` (training only, the tensor store only) changes each batch after the random
    crop and flip; see ``ferlib.data.augment``.

    ``distributed=(rank, world_size)`` shards the training data with a ``DistributedSampler``
    (call ``loader.sampler.set_epoch(epoch)`` each epoch). The shuffling generator is
    ``loader.generator``; checkpoints save its state so a resumed run draws the same batches.
    """
    if decode and augment is not None and augment.active:
        raise ValueError("augmentation works on the tensor store; use decode=False")
    dataset = (
        DecodingVADataset(data, image_size, train)
        if decode
        else CachedVADataset(data, image_size, train, augment)
    )
    generator = torch.Generator().manual_seed(seed)
    sampler = None
    if distributed is not None and train:
        rank, world = distributed
        sampler = DistributedSampler(
            dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        drop_last=train,
        num_workers=num_workers,
        generator=generator,
        persistent_workers=num_workers > 0,
        collate_fn=None if decode else already_batched,
    )
