"""What one training step of a level sees: the whole level, or random crops of it (the `crop` option).

Crops are drawn per image from its own generator, seeded by (image seed, level), so an image gets
the same crops whether it is fitted alone or in a batch. A level no larger than the crop is used
whole (the coarse levels of small images).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class LevelWindows:
    """Full-level tensors (K, C, h, w) and a sampler of `per_step` random `crop` x `crop` windows per image."""

    def __init__(
        self,
        net_input: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor,
        crop: int | None,
        per_step: int,
        seeds: Sequence[tuple[int, int]],
    ) -> None:
        self.net_input, self.target, self.weight = net_input, target, weight
        height, width = target.shape[-2:]
        self.size = None if crop is None or (height <= crop and width <= crop) else (min(crop, height), min(crop, width))
        self.per_step = per_step
        self.generators = [torch.Generator().manual_seed((seed * 1_000_003 + level) % 2**64) for seed, level in seeds]

    def _corners(self, generator: torch.Generator) -> torch.Tensor:
        """(per_step, 2) top-left corners, uniform over the level."""
        assert self.size is not None
        limits = torch.tensor([self.target.shape[-2] - self.size[0] + 1, self.target.shape[-1] - self.size[1] + 1])
        return (torch.rand(self.per_step, 2, generator=generator) * limits).long()

    def sample(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(input, target, weight) of one step: the whole level (K, C, h, w) or crops (K, per_step, C, c, c)."""
        if self.size is None:
            return self.net_input, self.target, self.weight
        height, width = self.size
        corners = [self._corners(generator) for generator in self.generators]

        def cut(tensor: torch.Tensor) -> torch.Tensor:
            return torch.stack([
                torch.stack([image[:, top:top + height, left:left + width] for top, left in image_corners.tolist()])
                for image, image_corners in zip(tensor, corners)
            ])

        return cut(self.net_input), cut(self.target), cut(self.weight)
