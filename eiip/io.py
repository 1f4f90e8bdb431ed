"""Reading images and masks of any mode into tensors, validating them, and writing outputs atomically.

Tensors are float32 in [0, 1] shaped (C, H, W); masks are bool (1, H, W) with True = hole.
Mask files are single-channel images with white (255) = hole, black = known.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_save(image: Image.Image, path: str | Path) -> Path:
    """Save a PIL image so that `path` is either absent, its old content, or the complete new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """(C, H, W) float tensor in [0, 1] -> (H, W, C) or (H, W) uint8 array, rounded and clipped."""
    array = (tensor.detach().float().cpu().clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def write_image(path: str | Path, image: torch.Tensor) -> Path:
    """Write a (3, H, W) or (1, H, W) tensor in [0, 1] as an 8-bit image (format from the suffix)."""
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected a (1|3, H, W) tensor, got {tuple(image.shape)}")
    return atomic_save(Image.fromarray(to_uint8(image)), path)


def write_mask(path: str | Path, hole: torch.Tensor | np.ndarray) -> Path:
    """Write a hole mask ((1, H, W) or (H, W), True = hole) as a binary 8-bit PNG, white = hole."""
    hole_array = np.asarray(hole.cpu() if isinstance(hole, torch.Tensor) else hole).astype(bool)
    hole_array = hole_array.reshape(hole_array.shape[-2:])
    return atomic_save(Image.fromarray(np.where(hole_array, 255, 0).astype(np.uint8), mode="L"), path)
