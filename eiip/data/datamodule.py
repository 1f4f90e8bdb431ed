"""InpaintingDataModule: streams WebDataset shards, adds a mask per sample, splits by node and worker.

Every rank reads a disjoint subset of the shards (`wds.split_by_node`) and every data-loader worker
a disjoint subset of its rank's shards (`wds.split_by_worker`), so no sample is seen twice per
pass. Each rank's stream repeats and is cut into epochs of a fixed number of batches, so all
ranks run the same number of steps (DDP needs that). Training samples get random crops, flips
and masks; validation and test samples get a deterministic center crop and a mask seeded by the
sample key, so every run and every backbone sees the same validation masks.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
import webdataset as wds
from PIL import Image
from torch.utils.data import get_worker_info

from eiip.data.shards import INDEX_NAME
from eiip.data.transforms import eval_transform, train_transform
from eiip.masks import generate_mask


@dataclass(frozen=True)
class MaskSettings:
    """How masks are drawn on the fly: kind (freeform, rect, mixed) and an optional hole-ratio range."""

    kind: str = "freeform"
    ratio: tuple[float, float] | None = None


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _key_seed(key: str, seed: int) -> list[int]:
    digest = hashlib.sha256(key.encode()).digest()
    return [seed, int.from_bytes(digest[:8], "little")]


def _image_of(sample: dict) -> Image.Image:
    for extension in ("jpg", "png", "jpeg", "webp", "bmp", "tif", "tiff", "ppm", "pgm", "gif"):
        if extension in sample:
            return Image.open(io.BytesIO(sample[extension]))
    raise KeyError(f"sample {sample.get('__key__')} has no image entry (keys: {sorted(sample)})")


class _Augment:
    """Turns a raw shard sample into {'image', 'hole', 'key'} (picklable for worker processes)."""

    def __init__(self, size: tuple[int, int], masks: MaskSettings, train: bool, seed: int) -> None:
        self.size, self.masks, self.train, self.seed = size, masks, train, seed
        self._rng: np.random.Generator | None = None

    def _train_rng(self) -> np.random.Generator:
        if self._rng is None:
            worker = get_worker_info()
            rank, _ = _world()
            self._rng = np.random.default_rng([self.seed, rank, worker.id if worker else 0])
        return self._rng

    def __call__(self, sample: dict) -> dict:
        key = sample["__key__"]
        rng = self._train_rng() if self.train else np.random.default_rng(_key_seed(key, self.seed))
        with _image_of(sample) as image:
            tensor = train_transform(image, self.size, rng) if self.train else eval_transform(image, self.size)
        hole = generate_mask(self.masks.kind, *self.size, rng, ratio=self.masks.ratio)
        return {"image": tensor, "hole": torch.from_numpy(hole)[None].float(), "key": key}


class InpaintingDataModule(L.LightningDataModule):
    """Shards under `root` (written by `eiip shard`: `{split}-NNNNNN.tar` and `index.json`)."""

    def __init__(
        self,
        root: str,
        train_size: tuple[int, int] = (256, 256),
        test_size: tuple[int, int] = (256, 256),
        masks: MaskSettings | dict | None = None,
        batch_size: int = 16,
        num_workers: int = 4,
        shuffle_buffer: int = 1000,
        train_batches_per_epoch: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.root = Path(root)
        self.train_size, self.test_size = tuple(train_size), tuple(test_size)
        self.masks = masks if isinstance(masks, MaskSettings) else MaskSettings(**(masks or {}))
        self.batch_size, self.num_workers = batch_size, num_workers
        self.shuffle_buffer, self.train_batches_per_epoch, self.seed = shuffle_buffer, train_batches_per_epoch, seed

    def index(self) -> dict:
        """The shard index written by `eiip shard`."""
        path = self.root / INDEX_NAME
        if not path.exists():
            raise FileNotFoundError(f"no shard index at {path}: write shards with `eiip shard --src DIR --out {self.root}`")
        return json.loads(path.read_text())

    def _loader(self, split: str, train: bool, batches_per_rank: int | None) -> wds.WebLoader:
        index = self.index()
        shards = [str(self.root / name) for name in index["shards"][split]]
        rank, world = _world()
        workers = max(self.num_workers, 1)
        if len(shards) < world * workers:
            raise ValueError(
                f"{split}: {len(shards)} shard(s) cannot feed {world} rank(s) x {workers} worker(s); "
                "write smaller shards (eiip shard --size) or use fewer workers"
            )
        if batches_per_rank is None:
            batches_per_rank = max(1, math.ceil(index["counts"][split] / (world * self.batch_size)))
        size = self.train_size if train else self.test_size
        dataset = wds.WebDataset(
            shards,
            nodesplitter=wds.split_by_node,
            workersplitter=wds.split_by_worker,
            shardshuffle=len(shards) if train else False,
            seed=self.seed,
            empty_check=False,
        ).repeat()
        if train:
            dataset = dataset.shuffle(self.shuffle_buffer, seed=self.seed * 7919 + rank)
        dataset = dataset.map(_Augment(size, self.masks, train, self.seed)).batched(self.batch_size, partial=False)
        loader = wds.WebLoader(dataset, batch_size=None, num_workers=self.num_workers, persistent_workers=False)
        return loader.with_epoch(batches_per_rank)

    def train_dataloader(self) -> wds.WebLoader:
        return self._loader("train", True, self.train_batches_per_epoch)

    def val_dataloader(self) -> wds.WebLoader:
        return self._loader("val", False, None)

    def test_dataloader(self) -> wds.WebLoader:
        return self._loader("test", False, None)
