"""User color hints (paper Fig. 11) for every colorizer: points (``x,y,#rrggbb``) or a hint image.

Levin's method was made for scribbles: for every colorizer but the internal ones, hints are extra known
pixels of the given color (:func:`with_hints`), so a propagator carries the hint's chroma into the hole
around it (the monochrome is kept: only the chroma of a hint counts) and ``validated-blend`` keeps them
known in its held-out fits too. The internal colorizers add them to every pyramid level with a large
loss weight (:func:`eiip.colorize.internal.pyramid.add_hints`). A point hint marks a (2 r + 1)^2 square
(r = :data:`HINT_RADIUS`, as the internal colorizers); a hint image marks exactly its non-transparent pixels.
:func:`colorize_with_hints` runs any colorizer with either kind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from eiip.colorize.registry import Colorizer

__all__ = ["HINT_RADIUS", "ColorHint", "HintLayer", "colorize_with_hints", "hint_layer", "read_hint_image",
           "with_hints"]

HINT_RADIUS = 1
"""A point hint covers the (2 r + 1)^2 square around its pixel (clipped to the image)."""


@dataclass(frozen=True)
class ColorHint:
    """A user-given color at full-resolution pixel (x, y); rgb in [0, 1] (paper Fig. 11)."""

    x: int
    y: int
    rgb: tuple[float, float, float]


@dataclass(frozen=True, eq=False)
class HintLayer:
    """Hint colors (3, H, W) in [0, 1], given where ``mask`` (1, H, W) bool is True."""

    rgb: torch.Tensor
    mask: torch.Tensor

    def points(self) -> list[ColorHint]:
        """The layer's pixels as point hints (for the internal colorizers)."""
        ys, xs = torch.nonzero(self.mask[0], as_tuple=True)
        colors = self.rgb[:, ys, xs].T.tolist()
        return [ColorHint(int(x), int(y), tuple(color)) for x, y, color in zip(xs.tolist(), ys.tolist(), colors)]


def hint_layer(hints: Sequence[ColorHint], height: int, width: int, radius: int = HINT_RADIUS) -> HintLayer:
    """The layer of point hints: a (2 radius + 1)^2 square of each hint's color (later hints on top).
    ValueError for a hint outside the image."""
    rgb = torch.zeros(3, height, width)
    mask = torch.zeros(1, height, width, dtype=torch.bool)
    for hint in hints:
        if not (0 <= hint.x < width and 0 <= hint.y < height):
            raise ValueError(f"hint ({hint.x}, {hint.y}) lies outside the {width}x{height} image")
        rows = slice(max(hint.y - radius, 0), hint.y + radius + 1)
        cols = slice(max(hint.x - radius, 0), hint.x + radius + 1)
        rgb[:, rows, cols] = torch.tensor(hint.rgb, dtype=rgb.dtype).view(3, 1, 1)
        mask[:, rows, cols] = True
    return HintLayer(rgb, mask)


def read_hint_image(path: str | os.PathLike, height: int, width: int) -> HintLayer:
    """A hint image: a PNG (any mode with alpha) whose non-transparent pixels are hints of their color.

    InputError for an unreadable file, one of another size than the image, or one without a hint."""
    from PIL import Image

    from eiip.errors import InputError
    from eiip.io import read_image

    colors = read_image(path)
    if tuple(colors.shape[-2:]) != (height, width):
        raise InputError(f"hint image {path} is {colors.shape[-1]}x{colors.shape[-2]} but the image is {width}x{height}")
    with Image.open(path) as image:  # read_image has checked the file; its alpha is dropped there
        if "A" not in image.getbands() and "transparency" not in image.info:
            raise InputError(f"hint image {path} has no transparency: draw the hints on a transparent layer")
        alpha = np.asarray(image.convert("RGBA"))[..., 3] > 0
    mask = torch.from_numpy(alpha)[None]
    if not bool(mask.any()):
        raise InputError(f"hint image {path} has no hint (every pixel is transparent)")
    return HintLayer(colors, mask)


def with_hints(rgb_known: torch.Tensor, known: torch.Tensor, layer: HintLayer | None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``rgb_known`` (3, H, W) and ``known`` (1, H, W) with the layer's pixels known in their hint color."""
    if layer is None or not bool(layer.mask.any()):
        return rgb_known, known
    mask = layer.mask.to(known.device)
    return torch.where(mask, layer.rgb.to(rgb_known), rgb_known), known | mask


def colorize_with_hints(colorizer: Colorizer, mono: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor,
                        points: Sequence[ColorHint] = (), image: HintLayer | None = None, *, internal: bool
                        ) -> torch.Tensor:
    """Run ``colorizer`` with point hints and a hint image: as hints for an internal colorizer (``internal``;
    the image's pixels as points), as known pixels for any other (the points as squares, the image on top)."""
    if internal:
        return colorizer(mono, rgb_known, known, hints=[*points, *(image.points() if image is not None else [])])
    layer = hint_layer(points, *known.shape[-2:])
    if image is not None:
        layer = HintLayer(torch.where(image.mask, image.rgb, layer.rgb), layer.mask | image.mask)
    return colorizer(mono, *with_hints(rgb_known, known, layer))
