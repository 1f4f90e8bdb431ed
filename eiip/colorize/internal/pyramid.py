"""Coarse-to-fine pyramids of the monochrome, the known colors and the known-pixel mask.

The hole mask grows by 3x3 stride-2 max-pooling per level (paper and official release), so a pixel
is known at level k+1 only if its whole 3x3 footprint at level k is known. Images are downsampled
either by iterated 2x2 area averaging (default), whose footprint lies inside the max-pool window so
no hole value ever reaches a known pixel's target at any level, or by antialiased bicubic resizing
from full resolution as the official release does (PIL's default resize), which lets the hole fill
bleed into known pixels next to the hole at coarse levels.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import torch
import torch.nn.functional as F

from eiip.colorize.hints import ColorHint

Downsample = Literal["area", "bicubic"]


@dataclass(frozen=True)
class Pyramid:
    """Batched (1, C, h, w) tensors per level, index 0 = coarsest, last = full resolution.

    `weight` is the per-pixel loss weight: 1 on known pixels, 0 in the hole, larger on color hints.
    """

    mono: list[torch.Tensor]
    rgb: list[torch.Tensor]
    known: list[torch.Tensor]
    weight: list[torch.Tensor]

    @property
    def levels(self) -> int:
        return len(self.mono)

    def sizes(self) -> list[tuple[int, int]]:
        return [tuple(level.shape[-2:]) for level in self.mono]

    def coarsest(self, levels: int) -> "Pyramid":
        """The pyramid of the `levels` coarsest levels (its finest level is then below full resolution)."""
        return Pyramid(*(getattr(self, f.name)[:levels] for f in fields(self)))


def finest_levels_skipped(size: tuple[int, int], fit_pixels: int | None) -> int:
    """How many times an image of `size` (H, W) must halve (rounding up, as the pyramid does) to have at
    most `fit_pixels` pixels; 0 for None."""
    height, width = size
    skipped = 0
    while fit_pixels is not None and height * width > fit_pixels and (height, width) != (1, 1):
        height, width, skipped = -(-height // 2), -(-width // 2), skipped + 1
    return skipped


def hole_pyramid(hole: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Hole masks (1, 1, h, w) float, coarse to fine: each coarser level is a 3x3/2 max-pool of the finer."""
    masks = [hole.float()]
    for _ in range(levels - 1):
        masks.append(F.max_pool2d(masks[-1], kernel_size=3, stride=2, padding=1))
    return masks[::-1]


def _area_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    images = [image]
    for _ in range(levels - 1):
        images.append(F.avg_pool2d(images[-1], kernel_size=2, stride=2, ceil_mode=True))
    return images[::-1]


def _bicubic_pyramid(image: torch.Tensor, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    return [
        image if size == tuple(image.shape[-2:])
        else F.interpolate(image, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
        for size in sizes
    ]


def image_pyramid(image: torch.Tensor, sizes: list[tuple[int, int]], downsample: Downsample) -> list[torch.Tensor]:
    """Downsample a (1, C, H, W) image to each of `sizes` (coarse to fine, the last being (H, W))."""
    if downsample == "area":
        return _area_pyramid(image, len(sizes))
    if downsample == "bicubic":
        return _bicubic_pyramid(image, sizes)
    raise ValueError(f"unknown downsample {downsample!r}; expected 'area' or 'bicubic'")


def build_pyramid(
    mono: torch.Tensor,
    rgb_known: torch.Tensor,
    known: torch.Tensor,
    levels: int,
    downsample: Downsample = "area",
    hole_fill: float = 1.0,
) -> Pyramid:
    """Pyramids for (1, H, W) mono, (3, H, W) known colors and (1, H, W) bool known mask.

    Hole pixels of `rgb_known` are replaced by `hole_fill` (white, as in the official inputs) so that
    whatever the caller left there never matters.
    """
    known_mask = known.bool()[None]
    rgb = torch.where(known_mask, rgb_known[None], torch.full_like(rgb_known[None], hole_fill))
    holes = hole_pyramid(~known_mask, levels)
    sizes = [tuple(h.shape[-2:]) for h in holes]
    known_levels = [h < 0.5 for h in holes]
    return Pyramid(
        mono=image_pyramid(mono[None], sizes, downsample),
        rgb=image_pyramid(rgb, sizes, downsample),
        known=known_levels,
        weight=[k.to(rgb.dtype) for k in known_levels],
    )


def add_hints(pyramid: Pyramid, hints: list[ColorHint], radius: int = 1, weight: float = 1.0) -> Pyramid:
    """Add hints to the known set of every level: a (2r+1)^2 square at the scaled position, with loss weight."""
    if not hints:
        return pyramid
    full_h, full_w = pyramid.sizes()[-1]
    rgb = [level.clone() for level in pyramid.rgb]
    known = [level.clone() for level in pyramid.known]
    weights = [level.clone() for level in pyramid.weight]
    for hint in hints:
        if not (0 <= hint.x < full_w and 0 <= hint.y < full_h):
            raise ValueError(f"hint ({hint.x}, {hint.y}) lies outside the {full_w}x{full_h} image")
        color = torch.tensor(hint.rgb, dtype=rgb[0].dtype, device=rgb[0].device).view(3, 1, 1)
        for level_rgb, level_known, level_weight in zip(rgb, known, weights):
            h, w = level_known.shape[-2:]
            cy, cx = hint.y * h // full_h, hint.x * w // full_w
            rows = slice(max(cy - radius, 0), cy + radius + 1)
            cols = slice(max(cx - radius, 0), cx + radius + 1)
            level_rgb[0, :, rows, cols] = color
            level_known[0, :, rows, cols] = True
            level_weight[0, :, rows, cols] = weight
    return Pyramid(mono=pyramid.mono, rgb=rgb, known=known, weight=weights)
