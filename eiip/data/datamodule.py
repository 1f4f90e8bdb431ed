"""InpaintingDataModule: streams WebDataset shards, adds a mask per sample, splits by node and worker.

Every rank reads a disjoint subset of the shards (`wds.split_by_node`) and every data-loader worker
a disjoint subset of its rank's shards (`wds.split_by_worker`), so no sample is seen twice per
pass. Training streams are endless (each worker cycles over its shards, reshuffled every pass), so
every rank runs exactly `trainer.max_steps` steps, as DDP needs; a resumed run restarts the stream. Training samples get random crops, flips
and masks; validation and test samples get a deterministic center crop and a mask seeded by the
sample key, so every run and every backbone sees the same validation masks. Samples without a
decodable image are skipped and counted (`eiip.data.skipping`). With `edges_sigma` set, training
samples also carry the full image's Canny edges (`eiip.external.edges.image_edges`, EdgeConnect's
training input), computed in the loader workers rather than in the training step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from itertools import islice
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
import webdataset as wds
from torch.utils.data import get_worker_info

from eiip.data.shards import read_shard_index
from eiip.data.skipping import SkipCounter, load_image
from eiip.data.transforms import eval_transform, train_transform
from eiip.errors import InputError
from eiip.external.edges import image_edges
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


class _ShardCycle:
    """Cycles endlessly over a worker's shards, reshuffled (seeded) on every pass."""

    def __init__(self, seed: int, rank: int) -> None:
        self.seed, self.rank = seed, rank

    def __call__(self, shards: Iterator[dict]) -> Iterator[dict]:
        shards = list(shards)
        worker = get_worker_info()
        rng = np.random.default_rng([self.seed, self.rank, worker.id if worker else 0])
        while shards:
            yield from (shards[i] for i in rng.permutation(len(shards)))


class _Augment:
    """Turns a raw shard sample into {'image', 'hole', 'key'} (picklable for worker processes), plus
    'edges' (1, H, W), the image's Canny edges, when `edges_sigma` is set."""

    def __init__(self, size: tuple[int, int], masks: MaskSettings, train: bool, seed: int,
                 edges_sigma: float | None = None) -> None:
        self.size, self.masks, self.train, self.seed = size, masks, train, seed
        self.edges_sigma = edges_sigma
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
        if self.train:
            tensor = load_image(sample, lambda image: train_transform(image, self.size, rng))
        else:
            tensor = load_image(sample, lambda image: eval_transform(image, self.size))
        hole = generate_mask(self.masks.kind, *self.size, rng, ratio=self.masks.ratio)
        sample = {"image": tensor, "hole": torch.from_numpy(hole)[None].float(), "key": key}
        if self.edges_sigma is not None:
            sample["edges"] = image_edges(tensor[None], self.edges_sigma)[0]
        return sample


class InpaintingDataModule(L.LightningDataModule):
    """Shards under `root` (written by `eiip shard`: `{split}-NNNNNN.tar` and `index.json`), or any
    WebDataset shards named per split by `train_shards`, `val_shards`, `test_shards`.

    A shard list is written the way WebDataset users write it: a brace pattern
    (`/data/places2/train-{000000..000099}.tar`), `pipe:` commands or URLs, several joined by `::`, or a
    list of those; webdataset expands and opens them. A split without a list comes from `root`'s index.
    `edges_sigma` (None: off) adds Canny edges with that sigma to the training samples (EdgeConnect).
    """

    def __init__(
        self,
        root: str | None = None,
        train_size: tuple[int, int] = (256, 256),
        test_size: tuple[int, int] = (256, 256),
        masks: MaskSettings | dict | None = None,
        batch_size: int = 16,
        num_workers: int = 4,
        shuffle_buffer: int = 1000,
        seed: int = 0,
        train_shards: str | list[str] | None = None,
        val_shards: str | list[str] | None = None,
        test_shards: str | list[str] | None = None,
        edges_sigma: float | None = None,
    ) -> None:
        super().__init__()
        self.root = None if root is None else Path(root)
        self.shard_lists = {"train": train_shards, "val": val_shards, "test": test_shards}
        self.train_size, self.test_size = tuple(train_size), tuple(test_size)
        if not isinstance(masks, MaskSettings):
            settings = dict(masks or {})
            ratio = settings.get("ratio")
            masks = MaskSettings(kind=settings.get("kind", "freeform"), ratio=tuple(ratio) if ratio else None)
        self.masks = masks
        self.batch_size, self.num_workers = batch_size, num_workers
        self.shuffle_buffer, self.seed = shuffle_buffer, seed
        self.edges_sigma = None if edges_sigma is None else float(edges_sigma)

    def index(self) -> dict:
        """The shard index written by `eiip shard`."""
        if self.root is None:
            raise InputError("no data.root with an eiip shard index, and no shard list for this split "
                             "(data.train_shards / val_shards / test_shards)")
        return read_shard_index(self.root)

    def shard_urls(self, split: str) -> list[str]:
        """The split's shards: its shard list expanded by webdataset, or the shards of the index under `root`."""
        listed = self.shard_lists.get(split)
        if listed:
            patterns = [listed] if isinstance(listed, str) else list(listed)
            return [url for pattern in patterns for url in wds.shardlists.expand_urls(pattern)]
        return [str(self.root / name) for name in self.index()["shards"].get(split, [])]

    def split_size(self, split: str, limit: int | None = None) -> int:
        """Samples in `split`: the index's count, or (for a shard list) counted by reading the shards, up to `limit`."""
        if self.shard_lists.get(split):
            samples = wds.DataPipeline(wds.SimpleShardList(self.shard_urls(split)), wds.tarfile_to_samples())
            return sum(1 for _ in islice(samples, limit))
        counts = self.index()["counts"]
        if split not in counts:
            raise InputError(f"split {split!r} not in the shard index of {self.root} (has {sorted(counts)})")
        count = int(counts[split])
        return count if limit is None else min(count, limit)

    def _loader(self, split: str, train: bool) -> wds.WebLoader:
        shards = self.shard_urls(split)
        rank, world = _world()
        if len(shards) < world:
            raise ValueError(f"{split}: {len(shards)} shard(s) cannot be split over {world} ranks; "
                             "write smaller shards (eiip shard --size)")
        shards_per_rank = len(shards) // world
        workers = min(self.num_workers, shards_per_rank)  # a worker without a shard would yield nothing
        size = self.train_size if train else self.test_size
        stages: list = [wds.SimpleShardList(shards), wds.split_by_node, wds.split_by_worker]
        if train:
            stages += [_ShardCycle(self.seed, rank), wds.tarfile_to_samples(),
                       wds.shuffle(self.shuffle_buffer, seed=self.seed * 7919 + rank)]
        else:
            stages += [wds.tarfile_to_samples()]
        skips = SkipCounter()  # undecodable samples are skipped, counted and reported in the batches
        stages += [wds.map(_Augment(size, self.masks, train, self.seed, self.edges_sigma if train else None),
                          handler=skips), wds.map(skips.stamp),
                   wds.batched(self.batch_size, partial=not train)]
        return wds.WebLoader(wds.DataPipeline(*stages), batch_size=None, num_workers=workers,
                             persistent_workers=workers > 0)

    def train_dataloader(self) -> wds.WebLoader:
        """An endless stream (training length is `trainer.max_steps`; validate every `val_check_interval`)."""
        return self._loader("train", True)

    def val_dataloader(self) -> wds.WebLoader:
        """One deterministic pass over this rank's validation shards."""
        return self._loader("val", False)

    def test_dataloader(self) -> wds.WebLoader:
        return self._loader("test", False)
