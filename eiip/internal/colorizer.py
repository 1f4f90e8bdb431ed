"""InternalColorizer: fit a coarse-to-fine pyramid of generators on one image's known pixels.

Level 0 maps the coarsest monochrome to RGB; level n maps the monochrome at its resolution
concatenated with the bilinearly upsampled output of level n-1. Each level is a fresh generator
trained with Adam on a reconstruction loss over the known pixels of its level only; the last
level's output colorizes the hole (paper section 3.3).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from eiip.color import composite
from eiip.internal.config import InternalConfig
from eiip.internal.generator import ColorGenerator
from eiip.internal.pyramid import ColorHint, Pyramid, add_hints, build_pyramid


@dataclass(frozen=True)
class InternalResult:
    """The network's colorization of the whole image, the composite with the known pixels, and fit stats."""

    colorized: torch.Tensor
    composite: torch.Tensor
    final_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def masked_loss(output: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, kind: str) -> torch.Tensor:
    """Weighted mean L1 or squared error; `weight` is (B, 1, h, w), zero in the hole (bool = known mask)."""
    error = (output - target).abs() if kind == "l1" else (output - target).square()
    weight = weight.to(error.dtype)
    return (error * weight).sum() / (weight.sum() * output.shape[1]).clamp_min(1.0)


def level_input(mono: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
    """Monochrome, concatenated with the bilinearly upsampled previous-level output (if any)."""
    if previous is None:
        return mono
    upsampled = F.interpolate(previous, size=mono.shape[-2:], mode="bilinear", align_corners=False)
    return torch.cat([mono, upsampled], dim=1)


class InternalColorizer:
    """Per-image progressive colorization; `colorize` matches the guided-colorizer interface."""

    def __init__(
        self,
        config: InternalConfig | None = None,
        *,
        device: str | torch.device = "cpu",
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        self.config = config or InternalConfig()
        self.device = torch.device(device)
        self.seed = seed
        self.progress = progress

    def __call__(
        self, mono: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor, hints: list[ColorHint] | None = None
    ) -> torch.Tensor:
        return self.fit(mono, rgb_known, known, hints).colorized

    def fit(
        self,
        mono: torch.Tensor,
        rgb_known: torch.Tensor,
        known: torch.Tensor,
        hints: list[ColorHint] | None = None,
    ) -> InternalResult:
        """Fit the pyramid on (1,H,W) mono, (3,H,W) rgb_known, (1,H,W) bool known; return the colorization."""
        started = time.perf_counter()
        config = self.config
        mono, rgb_known, known = (t.to(self.device) for t in (mono.float(), rgb_known.float(), known.bool()))
        pyramid = build_pyramid(mono, rgb_known, known, config.levels, config.downsample)
        pyramid = add_hints(pyramid, hints or [], radius=config.hint_radius, weight=config.hint_weight)
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.seed)
            output, losses = self._fit_pyramid(pyramid)
        colorized = output[0].clamp(0, 1)
        return InternalResult(
            colorized=colorized,
            composite=composite(colorized, rgb_known, known),
            final_losses=losses,
            seconds=time.perf_counter() - started,
        )

    def _fit_pyramid(self, pyramid: Pyramid) -> tuple[torch.Tensor, list[float]]:
        config = self.config
        previous: torch.Tensor | None = None
        losses: list[float] = []
        with tqdm(total=sum(config.steps), desc="internal", disable=not self.progress, leave=False) as bar:
            for level in range(pyramid.levels):
                net_input = level_input(pyramid.mono[level], previous)
                generator = ColorGenerator(net_input.shape[1], 3, config.width, config.blocks).to(self.device)
                loss = self._fit_level(generator, net_input, pyramid.rgb[level], pyramid.weight[level], level, bar)
                losses.append(loss)
                with torch.no_grad():
                    previous = generator(net_input)
        assert previous is not None
        return previous, losses

    def _fit_level(
        self,
        generator: ColorGenerator,
        net_input: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor,
        level: int,
        bar: tqdm,
    ) -> float:
        config = self.config
        optimizer = torch.optim.Adam(generator.parameters(), lr=config.lrs[level])
        bar.set_postfix(level=f"{level + 1}/{config.levels}", size="x".join(map(str, target.shape[-2:])))
        loss_value = float("nan")
        for _ in range(config.steps[level]):
            optimizer.zero_grad(set_to_none=True)
            loss = masked_loss(generator(net_input), target, weight, config.loss)
            loss.backward()
            optimizer.step()
            loss_value = loss.item()
            bar.update(1)
        bar.set_postfix(level=f"{level + 1}/{config.levels}", loss=f"{loss_value:.4f}")
        return loss_value
