"""The embedded sample dataset: shards built on first use from the real photos of installed packages."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PIL import Image

from eiip.data.datamodule import InpaintingDataModule
from eiip.data.samples import ALL_PHOTOS, load_photo_array
from eiip.data.shards import INDEX_NAME, write_shards

SAMPLE_SPLIT = (0.6, 0.2, 0.2)


def default_sample_root() -> Path:
    """$EIIP_CACHE/sample-shards, or the user cache folder (~/.cache/eiip/sample-shards)."""
    cache = os.environ.get("EIIP_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "eiip"
    return Path(cache) / "sample-shards"


def ensure_sample_shards(root: str | Path | None = None) -> Path:
    """Write the bundled photos as one-image shards (6 train / 2 val / 2 test photos) unless present."""
    root = Path(root) if root else default_sample_root()
    if (root / INDEX_NAME).exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as images:
        for name in ALL_PHOTOS:
            Image.fromarray(load_photo_array(name)).save(Path(images) / f"{name}.png")
        write_shards(images, root, shard_size=1, split=SAMPLE_SPLIT, seed=0, progress=False)
    return root


class SampleDataModule(InpaintingDataModule):
    """InpaintingDataModule over the embedded sample shards, built in `prepare_data` (rank 0) on first use."""

    def __init__(self, root: str | None = None, **kwargs: object) -> None:
        super().__init__(root=str(root or default_sample_root()), **kwargs)

    def prepare_data(self) -> None:
        ensure_sample_shards(self.root)
