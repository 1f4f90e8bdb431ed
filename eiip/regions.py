"""The neighbourhoods of an image's holes: boxes that hold each group of nearby hole pixels with a margin.

Both stages work on photos of any size by working only there (the cost follows the hole, not the
image): the colorizers solve each box (:mod:`eiip.colorize.classical`), the external stage
completes each box (:mod:`eiip.hd_strategy`), and only the group's own hole pixels are pasted
back at full resolution.

Hole pixels at most ``2 * link`` pixels apart (chessboard distance) form one group; a group's box is
the bounding box of its pixels grown by ``margin`` pixels on each side, clipped to the image.
Boxes of different groups may overlap: each is solved on its own and writes only its own pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.ndimage

__all__ = ["Box", "HoleRegion", "hole_regions"]


@dataclass(frozen=True)
class Box:
    """Rows ``top:bottom`` and columns ``left:right`` of an image."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, columns) slices, to index the last two axes of an array."""
        return slice(self.top, self.bottom), slice(self.left, self.right)

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def grown(self, margin: int, height: int, width: int) -> Box:
        """This box grown by ``margin`` pixels on each side, clipped to a ``height`` x ``width`` image."""
        return Box(max(0, self.top - margin), max(0, self.left - margin),
                   min(height, self.bottom + margin), min(width, self.right + margin))


@dataclass(frozen=True, eq=False)
class HoleRegion:
    """One group of hole pixels: its ``box`` (the group grown by the margin) and ``members``, a bool
    (box height, box width) array, True at the group's own hole pixels (other groups' pixels may lie in
    the box too, and are not members)."""

    box: Box
    members: np.ndarray


Margin = Callable[[int, int], int]
"""``margin(height, width)``: the margin of a group whose own pixels span a height x width box."""


def hole_regions(hole: np.ndarray, margin: int | Margin, link: int = 1) -> list[HoleRegion]:
    """The groups of the (H, W) bool ``hole`` (True = hole) with their boxes, largest box first.

    ``link``: hole pixels at most 2 ``link`` apart are grouped (a propagator whose stencil reaches
    ``link`` pixels couples nothing across groups). ``margin``: pixels of context around each group, a
    number or a function of the group's own box size."""
    if hole.ndim != 2 or hole.dtype != bool:
        raise ValueError(f"hole must be a 2-D bool array, got {hole.dtype} {hole.shape}")
    if int(link) != link or link < 0:
        raise ValueError(f"link must be a non-negative integer, got {link!r}")
    height, width = hole.shape
    rows, cols = np.nonzero(hole.any(axis=1))[0], np.nonzero(hole.any(axis=0))[0]
    if rows.size == 0:
        return []
    # label only the hole's bounding box grown by the link: the work follows the holes' extent
    outer = Box(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1).grown(link, height, width)
    inside = hole[outer.slices]
    linked = scipy.ndimage.maximum_filter(inside, size=2 * int(link) + 1) if link else inside
    labels, _ = scipy.ndimage.label(linked, structure=np.ones((3, 3), dtype=bool))
    regions = []
    for label, found in enumerate(scipy.ndimage.find_objects(labels), start=1):
        if found is None:
            continue
        own = inside[found] & (labels[found] == label)
        own_rows, own_cols = np.nonzero(own.any(axis=1))[0], np.nonzero(own.any(axis=0))[0]
        top, left = outer.top + found[0].start + int(own_rows[0]), outer.left + found[1].start + int(own_cols[0])
        group = Box(top, left, top + int(own_rows[-1] - own_rows[0]) + 1, left + int(own_cols[-1] - own_cols[0]) + 1)
        extra = margin(group.height, group.width) if callable(margin) else margin
        if int(extra) != extra or extra < 0:
            raise ValueError(f"a margin must be a non-negative integer, got {extra!r}")
        box = group.grown(int(extra), height, width)
        members = np.zeros((box.height, box.width), dtype=bool)
        tight = own[own_rows[0]:own_rows[-1] + 1, own_cols[0]:own_cols[-1] + 1]
        members[group.top - box.top:group.bottom - box.top, group.left - box.left:group.right - box.left] = tight
        regions.append(HoleRegion(box, members))
    return sorted(regions, key=lambda region: -region.box.height * region.box.width)
