"""Colorize a large image in the neighbourhoods of its holes only, so that time and memory follow the hole.

An image of more than ``above`` pixels is cut into pieces (:func:`eiip.regions.hole_regions`): each
group of nearby hole pixels with a margin of known pixels around it. A colorizer colorizes each piece
as an image of its own, and only the group's own hole pixels are pasted back
(:func:`assemble`); outside the holes the result holds the known pixels as given.

For the stencil propagators (``levin``, ``local-linear``) a margin of the stencil's reach already
gives exactly the whole-image solution: a hole pixel's row reads the monochrome and the known values
within that reach only (tested). ``validated-blend`` cuts its held-out sets the same way, so its
weights, and its result, are the whole image's too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from eiip.choices import NEIGHBOURHOOD_ABOVE
from eiip.regions import HoleRegion, Margin, hole_regions

__all__ = ["NEIGHBOURHOOD_ABOVE", "Piece", "assemble", "check_neighbourhood_above", "cut_pieces"]



@dataclass(frozen=True, eq=False)
class Piece:
    """Image ``image`` of the batch, whole (``region`` None) or one hole region of it."""

    image: int
    region: HoleRegion | None

    def crop(self, tensor: torch.Tensor) -> torch.Tensor:
        """The piece of a (C, H, W) tensor of its image (a view)."""
        if self.region is None:
            return tensor
        rows, cols = self.region.box.slices
        return tensor[:, rows, cols]

    @property
    def wanted(self) -> np.ndarray | None:
        """The pixels the piece must fill: its group's own (None: every unknown pixel)."""
        return None if self.region is None else self.region.members


def check_neighbourhood_above(above: int | None) -> None:
    """ValueError unless ``above`` is None (never cut) or a non-negative integer."""
    if above is not None and (isinstance(above, bool) or int(above) != above or above < 0):
        raise ValueError(f"neighbourhood_above must be None or a non-negative number of pixels, got {above!r}")


def cut_pieces(known: torch.Tensor, above: int | None, margin: int | Margin, link: int) -> list[Piece]:
    """The pieces of a (K, 1, H, W) bool ``known`` batch: an image of at most ``above`` pixels (or every
    image, for None) whole, a larger one cut into its hole regions (:func:`eiip.regions.hole_regions`
    with ``margin`` and ``link``); an image whose only region covers it all stays whole."""
    check_neighbourhood_above(above)
    height, width = known.shape[-2:]
    pieces = []
    for index, mask in enumerate(known):
        regions = None
        if above is not None and height * width > above:
            regions = hole_regions(~mask[0].cpu().numpy(), margin, link)
            whole = len(regions) == 1 and (regions[0].box.height, regions[0].box.width) == (height, width)
            regions = None if whole else regions
        pieces += [Piece(index, None)] if regions is None else [Piece(index, region) for region in regions]
    return pieces


def assemble(pieces: list[Piece], colorized: list[torch.Tensor], rgb_known: torch.Tensor, known: torch.Tensor
             ) -> torch.Tensor:
    """The (K, 3, H, W) batch from the pieces' colorizations (3, h, w): a whole image's as it is, a cut
    one's group pixels pasted on the known pixels of ``rgb_known`` (zero in the rest of the hole, which
    the pieces cover)."""
    results: list[torch.Tensor | None] = [None] * known.shape[0]
    for piece, rgb in zip(pieces, colorized):
        if piece.region is None:
            results[piece.image] = rgb
            continue
        canvas = results[piece.image]
        if canvas is None:
            canvas = results[piece.image] = torch.where(known[piece.image], rgb_known[piece.image], 0.0).to(rgb)
        members = torch.from_numpy(piece.region.members).to(canvas.device)
        piece.crop(canvas)[:, members] = rgb[:, members]
    return torch.stack(results) if len(results) > 1 else results[0][None]  # a view: no copy of a large image

