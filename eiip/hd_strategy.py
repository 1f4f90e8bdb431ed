"""The external stage on photos of any size: how much of the image a stage sees, and at which size.

A network completes a photo well at about the size it was trained and tested on (the paper's
Places2 512x640) and its cost grows with the whole image, however small the hole. As inpainting
tools do for photos (IOPaint's "HD strategy"), :class:`SizedStage` wraps any external stage with
one of three strategies:

Images of at most ``working_pixels`` pixels are completed whole by every strategy, so results at
the paper's sizes do not depend on the strategy. Larger ones:

* ``crop`` (default): each group of nearby hole pixels (:func:`eiip.regions.hole_regions`) is
  completed in its own box, the hole grown by a margin of context on every side; a box of more
  than ``working_pixels`` pixels is brought down to that many (area averaging), completed, and the
  completion brought back up (bicubic). Cost and memory follow the holes.
* ``resize``: the whole image, brought down to ``working_pixels`` pixels when larger.
* ``original``: the whole image as it is; refused with one line before the work starts when its
  estimated memory (:func:`estimate_peak_bytes`) exceeds what the machine has free.

Only hole pixels are pasted back: known pixels stay exact at full resolution. A stage whose cost
already follows the hole (the learning-free OpenCV stages, ``downscale=False``) completes its boxes at
full resolution; with a margin wider than its reach the result is then the whole image's (tested).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from eiip.choices import HD_STRATEGIES, WORKING_PIXELS
from eiip.color import rgb_to_mono
from eiip.errors import InputError
from eiip.memory import peak_tensor_bytes
from eiip.regions import Box, HoleRegion, hole_regions

__all__ = ["SizedStage", "available_memory", "estimate_peak_bytes", "extrapolated_bytes", "memory_probes",
           "stage_margin"]

MARGIN_FRACTION = 1.0
"""The crop strategy's margin on each side of a hole, in units of the hole's longer side: the box is
about 3 times the hole across, so the hole covers about a ninth of it, as the free-form training masks."""
LEAST_MARGIN = 64
"""The crop strategy's least margin, in pixels."""

MAX_BOXES = 16
"""The crop strategy completes at most this many boxes per image (nearby holes are grouped further)."""

_PROBE_SIDES = (128, 256)
"""Square sizes of the two probes of :func:`estimate_peak_bytes`."""


def stage_margin(height: int, width: int) -> int:
    """The context margin around a hole group spanning height x width pixels (crop strategy)."""
    return max(LEAST_MARGIN, math.ceil(MARGIN_FRACTION * max(height, width)))


def _hole_groups(hole: np.ndarray) -> list[HoleRegion]:
    """The crop strategy's boxes: each group of touching hole pixels, or, when there are more than
    :data:`MAX_BOXES` (dust, scattered strokes), groups of pixels ever farther apart, so that the network
    runs at most that many times."""
    link = 1
    regions = hole_regions(hole, stage_margin, link)
    while len(regions) > MAX_BOXES and link < max(hole.shape):
        link *= 4
        regions = hole_regions(hole, stage_margin, link)
    return regions


def _scaled_size(height: int, width: int, pixels: int | None) -> tuple[int, int]:
    """(height, width) brought down to at most ``pixels`` pixels, aspect kept (unchanged when smaller)."""
    if pixels is None or height * width <= pixels:
        return height, width
    scale = math.sqrt(pixels / (height * width))
    return max(1, math.floor(height * scale)), max(1, math.floor(width * scale))


def _complete_at(stage: Callable[[Tensor, Tensor], Tensor], image: Tensor, hole: Tensor, size: tuple[int, int]
                 ) -> Tensor:
    """``stage`` on the (1, 3, h, w) image and (1, 1, h, w) hole brought down to ``size``, its completion
    brought back to (h, w). Down: the image averaged over areas, and a pixel is a hole where any part of
    it is (so no hole pixel is presented as known); up: bicubic, clamped to [0, 1]."""
    if tuple(size) == tuple(image.shape[-2:]):
        return stage(image, hole)
    small_hole = (F.interpolate(hole, size=size, mode="area") > 0).to(image.dtype)
    small = F.interpolate(torch.where(hole > 0.5, 0.0, image), size=size, mode="area")
    completed = stage(small, small_hole)
    return F.interpolate(completed, size=tuple(image.shape[-2:]), mode="bicubic", align_corners=False).clamp_(0, 1)


def available_memory(device: torch.device) -> int | None:
    """Bytes free for a new allocation on ``device``: CUDA's free memory, or the CPU's MemAvailable on Linux
    (None where it cannot be read)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _probe_peak(stage: Callable[[Tensor, Tensor], Tensor], side: int, device: torch.device) -> int:
    """Peak tensor bytes while ``stage`` completes a side x side probe (a centred square hole) on ``device``."""
    image = torch.full((1, 3, side, side), 0.5, device=device)
    hole = torch.zeros(1, 1, side, side, device=device)
    hole[..., side // 4: 3 * side // 4, side // 4: 3 * side // 4] = 1.0
    return peak_tensor_bytes(lambda: stage(image, hole))


def memory_probes(stage: Callable[[Tensor, Tensor], Tensor], device: torch.device) -> tuple[int, int]:
    """Peak tensor bytes of ``stage`` on the two probe sizes (:data:`_PROBE_SIDES`, one image each)."""
    return _probe_peak(stage, _PROBE_SIDES[0], device), _probe_peak(stage, _PROBE_SIDES[1], device)


def extrapolated_bytes(probes: tuple[int, int], pixels: int) -> int:
    """The memory for ``pixels`` pixels (over a batch), linear in the area through the two probes' peaks."""
    small_area, large_area = (side * side for side in _PROBE_SIDES)
    per_pixel = max(probes[1] - probes[0], 0) / (large_area - small_area)
    return int(max(probes) + per_pixel * max(0, pixels - large_area))


def estimate_peak_bytes(stage: Callable[[Tensor, Tensor], Tensor], height: int, width: int,
                        device: torch.device) -> int:
    """The tensor memory ``stage`` needs to complete a height x width image, extrapolated linearly in the area
    from two small probes (:func:`eiip.memory.peak_tensor_bytes`; every backbone's memory grows linearly with
    the area: contextual attention matches in bounded chunks)."""
    return extrapolated_bytes(memory_probes(stage, device), height * width)


class SizedStage:
    """An external stage (:class:`eiip.pipeline.ExternalStage`) that completes photos of any size with one of
    :data:`HD_STRATEGIES` (module docstring). ``working_pixels``: images up to this size are completed whole,
    and the most pixels the wrapped stage is given otherwise; ``downscale``: False to complete the crop
    strategy's boxes at full resolution whatever their size. ``memory_limit``: bytes the ``original`` strategy
    may use (default: what :func:`available_memory` reports when called)."""

    def __init__(self, stage: Callable[[Tensor, Tensor], Tensor], strategy: str = "crop",
                 working_pixels: int = WORKING_PIXELS, *, downscale: bool = True, device: torch.device | str = "cpu",
                 memory_limit: int | None = None) -> None:
        if strategy not in HD_STRATEGIES:
            raise ValueError(f"unknown HD strategy {strategy!r}; expected one of {', '.join(HD_STRATEGIES)}")
        if isinstance(working_pixels, bool) or int(working_pixels) != working_pixels or working_pixels < 64:
            raise ValueError(f"working_pixels must be an integer >= 64, got {working_pixels!r}")
        self.stage = stage
        self.strategy = strategy
        self.working_pixels = int(working_pixels)
        self.downscale = downscale
        self.device = torch.device(device)
        self.memory_limit = memory_limit
        self.output: str = getattr(stage, "output")
        self.config: dict = getattr(stage, "config", {})
        self._probes: tuple[int, int] | None = None  # measured once, on the first large image


    def check_original(self, batch: int, height: int, width: int) -> None:
        """InputError when the ``original`` strategy would need more memory than there is free for a batch of
        ``batch`` height x width images."""
        limit = self.memory_limit if self.memory_limit is not None else available_memory(self.device)
        if limit is None:
            return
        if self._probes is None:
            self._probes = memory_probes(self.stage, self.device)
        estimate = extrapolated_bytes(self._probes, batch * height * width)
        if estimate > limit:
            images = f"{batch} images of {width}x{height}" if batch > 1 else f"a {width}x{height} image"
            raise InputError(f"the original HD strategy needs about {estimate / 2**30:.1f} GiB for {images}, "
                             f"more than the {limit / 2**30:.1f} GiB free; use --hd-strategy crop or resize")

    def _known_part(self, image: Tensor) -> Tensor:
        """What the stage keeps at the known pixels: the image (rgb stages) or its monochrome."""
        return image if self.output == "rgb" else rgb_to_mono(image)

    def _crop(self, image: Tensor, hole: Tensor) -> Tensor:
        """The crop strategy on one (1, 3, H, W) image and its (1, 1, H, W) hole."""
        height, width = image.shape[-2:]
        known = hole < 0.5
        result = torch.where(known, self._known_part(image), 0.0)
        for region in _hole_groups((~known)[0, 0].cpu().numpy()):
            box: Box = region.box
            rows, cols = box.slices
            size = _scaled_size(box.height, box.width, self.working_pixels if self.downscale else None)
            completed = _complete_at(self.stage, image[..., rows, cols], hole[..., rows, cols], size)
            members = torch.from_numpy(region.members).to(result.device)
            result[..., rows, cols][..., members] = completed.to(result)[..., members]
        return result

    @torch.no_grad()
    def __call__(self, image: Tensor, hole: Tensor) -> Tensor:
        """(B, 1 or 3, H, W) completion of the (B, 3, H, W) image in its (B, 1, H, W) hole, known pixels exact."""
        hole = (hole > 0.5).to(image.dtype)
        height, width = image.shape[-2:]
        if height * width <= self.working_pixels:
            return self.stage(image, hole)
        if self.strategy == "original":
            self.check_original(image.shape[0], height, width)
            return self.stage(image, hole)
        results = []
        for one_image, one_hole in zip(image.split(1), hole.split(1)):
            if self.strategy == "crop":
                results.append(self._crop(one_image, one_hole))
                continue
            completed = _complete_at(self.stage, one_image, one_hole, _scaled_size(height, width, self.working_pixels))
            base = self._known_part(one_image)
            results.append(torch.where(one_hole > 0.5, completed.to(base), base))
        return torch.cat(results)
