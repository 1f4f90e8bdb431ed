"""Real photos shipped by installed packages (scikit-image, scikit-learn), as the embedded sample data."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PIL import Image


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return load


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(filename)

    return load


_LOADERS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "coffee": _skimage("coffee"),
    "chelsea": _skimage("chelsea"),
    "rocket": _skimage("rocket"),
    "china": _sklearn("china.jpg"),
    "flower": _sklearn("flower.jpg"),
    "hubble": _skimage("hubble_deep_field"),
    "immunohistochemistry": _skimage("immunohistochemistry"),
    "retina": _skimage("retina"),
    "motorcycle": lambda: _skimage("stereo_motorcycle")()[0],
}

SAMPLE_PHOTOS: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "rocket", "china", "flower")
"""The photos of the colorization benchmark and the demo."""

ALL_PHOTOS: tuple[str, ...] = tuple(_LOADERS)
"""Every bundled color photo (the embedded sample dataset)."""


def load_photo_array(name: str) -> np.ndarray:
    """A bundled photo at its original size, (H, W, 3) uint8."""
    if name not in _LOADERS:
        raise ValueError(f"unknown sample photo {name!r}; available: {', '.join(ALL_PHOTOS)}")
    return _LOADERS[name]()


def center_crop_resize(photo: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crop an (H, W, 3) uint8 photo to the aspect ratio of `size` (height, width) at its center, then resize."""
    height, width = size
    src_h, src_w = photo.shape[:2]
    scale = min(src_h / height, src_w / width)
    crop_h, crop_w = round(height * scale), round(width * scale)
    top, left = (src_h - crop_h) // 2, (src_w - crop_w) // 2
    cropped = Image.fromarray(photo[top : top + crop_h, left : left + crop_w])
    return np.asarray(cropped.resize((width, height), Image.Resampling.LANCZOS))


def load_sample_photo(name: str, size: int | tuple[int, int] = 256) -> torch.Tensor:
    """A bundled photo as a (3, H, W) float tensor in [0, 1], center-cropped and resized to `size`."""
    size = (size, size) if isinstance(size, int) else size
    photo = center_crop_resize(load_photo_array(name), size)
    return torch.from_numpy(photo.copy()).permute(2, 0, 1).float() / 255.0
