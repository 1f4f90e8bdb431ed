"""Image transforms for training and evaluation: resize, crop, flip (PIL in, (3, H, W) float tensor out)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def to_tensor(image: Image.Image) -> torch.Tensor:
    """A PIL image (any mode) as a (3, H, W) float32 tensor in [0, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array.transpose(2, 0, 1).copy())


def resize_to_cover(image: Image.Image, size: tuple[int, int], scale: float = 1.0) -> Image.Image:
    """Resize (keeping the aspect ratio) so the image covers `size` (height, width) times `scale`."""
    height, width = size
    factor = max(height / image.height, width / image.width) * scale
    new_size = (max(width, round(image.width * factor)), max(height, round(image.height * factor)))
    return image if new_size == image.size else image.resize(new_size, Image.Resampling.BICUBIC)


def center_crop(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The central (height, width) crop."""
    height, width = size
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))


def eval_transform(image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """Evaluation: resize to cover `size`, center crop (deterministic)."""
    return to_tensor(center_crop(resize_to_cover(image.convert("RGB"), size), size))


def train_transform(
    image: Image.Image, size: tuple[int, int], rng: np.random.Generator, max_scale: float = 1.25, flip: bool = True
) -> torch.Tensor:
    """Training: resize to cover `size` times a random scale in [1, max_scale], random crop, random h-flip."""
    image = resize_to_cover(image.convert("RGB"), size, scale=float(rng.uniform(1.0, max_scale)))
    height, width = size
    top = int(rng.integers(0, image.height - height + 1))
    left = int(rng.integers(0, image.width - width + 1))
    image = image.crop((left, top, left + width, top + height))
    if flip and rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return to_tensor(image)
