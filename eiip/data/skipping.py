"""Undecodable samples are skipped and counted, never fatal.

Shards not written by `eiip shard` may hold truncated or corrupt images and members that are no
image at all. `load_image` turns their errors into `UndecodableSample`; `SkipCounter`, a webdataset
exception handler, skips exactly those (anything else still raises) and counts them in the loader
worker; `SkipCounter.stamp` puts the count on the next sample as `skipped`, so batches carry it to
the main process, where `SkippedSamples` totals it per rank and logs it as `data/skipped`.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import lightning as L
from PIL import Image

T = TypeVar("T")
IMAGE_EXTENSIONS = ("jpg", "png", "jpeg", "webp", "bmp", "tif", "tiff", "ppm", "pgm", "gif")
DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
"""What PIL raises on truncated, corrupt or unknown image bytes (UnidentifiedImageError is an OSError)."""


class UndecodableSample(ValueError):
    """A shard sample without a decodable image."""

    def __init__(self, key: str | None, reason: str) -> None:
        super().__init__(f"sample {key!r}: {reason}")
        self.key = key


def load_image(sample: dict, transform: Callable[[Image.Image], T]) -> T:
    """`transform` of the sample's image; UndecodableSample when it has none or its bytes do not decode."""
    key = sample.get("__key__")
    extension = next((e for e in IMAGE_EXTENSIONS if e in sample), None)
    if extension is None:
        raise UndecodableSample(key, f"no image entry (members: {sorted(k for k in sample if not k.startswith('__'))})")
    try:
        with Image.open(io.BytesIO(sample[extension])) as image:
            return transform(image)
    except DECODE_ERRORS as error:
        raise UndecodableSample(key, (str(error).splitlines() or [type(error).__name__])[0][:200]) from error


class SkipCounter:
    """A webdataset handler: skips and counts UndecodableSample (with a warning), re-raises anything else."""

    def __init__(self) -> None:
        self.pending = 0

    def __call__(self, error: Exception) -> bool:
        if not isinstance(error, UndecodableSample):
            raise error
        self.pending += 1
        warnings.warn(f"skipped an undecodable {error}", stacklevel=2)
        return True

    def stamp(self, sample: dict) -> dict:
        """Record on `sample` how many were skipped since the previous one."""
        sample["skipped"], self.pending = self.pending, 0
        return sample


class SkippedSamples(L.Callback):
    """Totals the skipped training samples of this rank; logs the sum over ranks as `data/skipped`."""

    def __init__(self) -> None:
        self.count = 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.count += sum(int(n) for n in batch["skipped"])
        pl_module.log("data/skipped", float(self.count), prog_bar=True, reduce_fx="sum", sync_dist=True,
                      batch_size=1)
