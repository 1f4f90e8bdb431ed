"""Evaluation inputs: the test split streamed in a fixed order, and the fixed mask set it is paired with.

Image i of the split (shard order of the index or shard list, then tar order) gets mask i of the mask set (modulo
its size), so every run, every backbone and every colorizer sees the same (image, mask) pairs, and a
resumed run pairs them exactly as the interrupted one did.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import webdataset as wds

from eiip.data.skipping import UndecodableSample, load_image
from eiip.data.transforms import eval_transform
from eiip.io import InputError
from eiip.masks import INDEX_NAME, generate_masks, load_mask_set, save_mask_set


@dataclass(frozen=True)
class TestImage:
    """One evaluation sample: its position in the split, its shard key and the center-cropped image."""

    position: int
    key: str
    image: torch.Tensor  # (3, H, W) in [0, 1]


def iter_split(
    shards: Sequence[str],
    size: tuple[int, int],
    positions: Sequence[int],
    skipped: dict[int, str] | None = None,
) -> Iterator[TestImage]:
    """The images of a split (its `shards`, in order) at `positions`, resized to cover `size` and center-cropped.

    Only those images are decoded, and reading stops after the last one. A sample without a decodable
    image keeps its position but is not yielded: its key is added to `skipped` (by position), or its
    UndecodableSample raised when `skipped` is None.
    """
    if not shards:
        raise InputError("the split has no shards")
    wanted, last = set(positions), max(positions, default=-1)
    pipeline = wds.WebDataset(list(shards), shardshuffle=False, empty_check=False, nodesplitter=None)  # ranks pick positions
    for position, sample in enumerate(pipeline):
        if position > last:
            return
        if position in wanted:
            try:
                image = load_image(sample, lambda image: eval_transform(image, size))
            except UndecodableSample as error:
                if skipped is None:
                    raise
                warnings.warn(f"skipped an undecodable {error}", stacklevel=2)
                skipped[position] = sample["__key__"]
                continue
            yield TestImage(position, sample["__key__"], image)


def default_mask_root() -> Path:
    """$EIIP_CACHE/mask-sets, or ~/.cache/eiip/mask-sets."""
    cache = os.environ.get("EIIP_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "eiip"
    return Path(cache) / "mask-sets"


def mask_set_name(kind: str, size: tuple[int, int], count: int, seed: int, ratio: tuple[float, float] | None) -> str:
    """A folder name that identifies a generated mask set by everything that determines it."""
    ratio_part = "any" if ratio is None else f"{ratio[0]:g}-{ratio[1]:g}"
    return f"{kind}_{size[0]}x{size[1]}_ratio{ratio_part}_n{count}_seed{seed}"


def load_or_create_mask_set(
    path: str | Path | None,
    *,
    kind: str,
    size: tuple[int, int],
    count: int,
    seed: int,
    ratio: tuple[float, float] | None,
) -> tuple[list[np.ndarray], Path]:
    """The mask set at `path`, or a generated one stored under the mask cache (created on first use).

    A given set must have the evaluation size; a generated set is written once and reused by every
    later run with the same settings.
    """
    if path is None:
        path = default_mask_root() / mask_set_name(kind, size, count, seed, ratio)
        if not (Path(path) / INDEX_NAME).is_file():
            save_mask_set(path, generate_masks(kind, count, *size, seed=seed, ratio=ratio),
                          kind=kind, seed=seed, ratio=ratio)
    masks, index = load_mask_set(path)
    if (index["height"], index["width"]) != tuple(size):
        raise InputError(f"mask set {path} is {index['height']}x{index['width']} but the evaluation size is "
                         f"{size[0]}x{size[1]}; write one with `eiip masks --size {size[0]}x{size[1]}`")
    return masks, Path(path)
