"""Side-by-side comparison images with a title above each panel."""

from __future__ import annotations

import torch
from PIL import Image, ImageDraw

from eiip.io import to_uint8

_HEADER = 16
_GAP = 4


def side_by_side(panels: list[tuple[str, torch.Tensor]]) -> Image.Image:
    """Concatenate (C, H, W) tensors in [0, 1] (1 or 3 channels, equal heights) left to right, titled."""
    if not panels:
        raise ValueError("side_by_side needs at least one panel")
    images = [Image.fromarray(to_uint8(tensor)).convert("RGB") for _, tensor in panels]
    height = images[0].height
    if any(image.height != height for image in images):
        raise ValueError("all panels must have the same height")
    width = sum(image.width for image in images) + _GAP * (len(images) - 1)
    canvas = Image.new("RGB", (width, height + _HEADER), "white")
    draw = ImageDraw.Draw(canvas)
    left = 0
    for (title, _), image in zip(panels, images):
        canvas.paste(image, (left, _HEADER))
        draw.text((left + 2, 2), title, fill="black")
        left += image.width + _GAP
    return canvas


def sample_grid(*columns: torch.Tensor, gap: int = 2) -> torch.Tensor:
    """A (3, H', W') grid: one row per sample, one column per (B, 1|3, H, W) tensor (gray ones replicated)."""
    rows = []
    for index in range(columns[0].shape[0]):
        tiles = [c[index].detach().float().cpu().clamp(0, 1).expand(3, -1, -1) for c in columns]
        spaced = [t for tile in tiles for t in (tile, torch.ones(3, tile.shape[1], gap))][:-1]
        rows.append(torch.cat(spaced, dim=2))
    spaced_rows = [r for row in rows for r in (row, torch.ones(3, gap, row.shape[2]))][:-1]
    return torch.cat(spaced_rows, dim=1)
