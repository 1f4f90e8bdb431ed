"""The NVIDIA irregular-mask test set (Liu et al. 2018) as an eiip mask set.

The release holds 12,000 PNGs (00000.png ... 11999.png), 2,000 per hole-ratio category
(0.01, 0.1], (0.1, 0.2], ..., (0.5, 0.6]. Each mask is resized to the evaluation size (nearest
neighbour) and binned by its own hole ratio at that size, which can differ from its release category.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from eiip.choices import NVIDIA_HOLE_COLORS
from eiip.errors import InputError
from eiip.masks import hole_ratio, save_mask_set

BIN_EDGES = (0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
"""Edges of Liu et al.'s hole-ratio categories; a bin is (lower, upper]."""


def ratio_bin(ratio: float) -> str | None:
    """The category '(lo, hi]' label (e.g. '0.1-0.2') holding `ratio`; None outside (0.01, 0.6]."""
    for lo, hi in zip(BIN_EDGES, BIN_EDGES[1:]):
        if lo < ratio <= hi:
            return f"{lo:g}-{hi:g}"
    return None


def read_release_mask(path: Path, size: tuple[int, int], hole_color: str) -> np.ndarray:
    """One release PNG as a (H, W) bool hole mask at `size`, resized with nearest neighbour."""
    with Image.open(path) as image:
        resized = image.convert("L").resize((size[1], size[0]), Image.Resampling.NEAREST)
    bright = np.asarray(resized) > 127
    return bright if hole_color == "white" else ~bright


def import_nvidia_masks(
    src: str | Path, out: str | Path, size: tuple[int, int], hole_color: str = "white"
) -> dict[str | None, int]:
    """Write the PNGs of `src` (sorted by name) as a mask set in `out`; returns the count per bin."""
    if hole_color not in NVIDIA_HOLE_COLORS:
        raise ValueError(f"hole_color must be one of {NVIDIA_HOLE_COLORS}, got {hole_color!r}")
    files = sorted(Path(src).glob("*.png"))
    if not files:
        raise InputError(f"no PNG masks in {src}")
    masks = [read_release_mask(path, size, hole_color) for path in files]
    details = [{"source": path.name, "bin": ratio_bin(hole_ratio(mask))} for path, mask in zip(files, masks)]
    save_mask_set(out, masks, kind="nvidia", seed=None, details=details,
                  meta={"source": str(Path(src).resolve()), "hole_color": hole_color})
    return dict(Counter(detail["bin"] for detail in details))
