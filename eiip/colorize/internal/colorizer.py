"""InternalColorizer: fit a coarse-to-fine pyramid of generators on one image's known pixels.

Level 0 maps the coarsest monochrome to RGB; level n maps the monochrome at its resolution
concatenated with the bilinearly upsampled output of level n-1. Each level is a fresh generator
trained with Adam on a reconstruction loss over the known pixels of its level only; the last
level's output colorizes the hole (paper section 3.3).

`fit_batch` fits K images of one size at once: per level, the K images' generators run side by side
as one network of grouped convolutions (eiip.colorize.internal.batched); `fit` is the case K = 1. With
`ensemble` = M > 1 every image gets M independently initialised pyramids (M fits side by side as
well) whose colorizations are averaged: the fits are chaotic, and the mean of M of them has a lower
expected error than one (see BENCHMARKS.md). With `fit_pixels` only the coarse levels up to that many
pixels are fitted and the chroma of their colorization is upsampled around the full-resolution monochrome.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TypeVar

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from eiip.color import composite
from eiip.errors import Cancelled
from eiip.colorize.internal.batched import PackedGenerators
from eiip.colorize.internal.chroma import chroma_to_rgb, upsample_chroma
from eiip.colorize.internal.config import InternalConfig
from eiip.colorize.internal.generator import ColorGenerator, inherit_weights
from eiip.colorize.internal.windows import LevelWindows
from eiip.colorize.internal.pyramid import ColorHint, Pyramid, add_hints, build_pyramid, finest_levels_skipped


@dataclass(frozen=True)
class InternalResult:
    """The network's colorization of the whole image, the composite with the known pixels, and fit stats."""

    colorized: torch.Tensor
    composite: torch.Tensor
    final_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def masked_losses(output: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-image weighted mean L1 or squared error, shape (B,).

    `weight` is (B, 1, h, w), zero in the hole (or the bool known mask).
    """
    error = (output - target).abs() if kind == "l1" else (output - target).square()
    weight = weight.to(error.dtype)
    dims = tuple(range(1, output.ndim))
    return (error * weight).sum(dims) / (weight.sum(dims) * output.shape[1]).clamp_min(1.0)


def masked_loss(output: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, kind: str) -> torch.Tensor:
    """The sum over the batch of `masked_losses` (for one image: its weighted mean error)."""
    return masked_losses(output, target, weight, kind).sum()


def level_input(mono: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
    """Monochrome, concatenated with the bilinearly upsampled previous-level output (if any)."""
    if previous is None:
        return mono
    upsampled = F.interpolate(previous, size=mono.shape[-2:], mode="bilinear", align_corners=False)
    return torch.cat([mono, upsampled], dim=1)


def stack_pyramids(pyramids: Sequence[Pyramid]) -> Pyramid:
    """One pyramid of K same-size images: every level's (1, C, h, w) tensors concatenated to (K, C, h, w)."""
    return Pyramid(
        *([torch.cat(level) for level in zip(*(getattr(p, f.name) for p in pyramids))] for f in fields(Pyramid))
    )


def batch_size(monos: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor) -> int:
    """K of (K, 1, H, W) monos, (K, 3, H, W) rgb_known and (K, 1, H, W) known; ValueError if they do not fit."""
    for name, tensor, channels in (("monos", monos, 1), ("rgb_known", rgb_known, 3), ("known", known, 1)):
        if not isinstance(tensor, torch.Tensor) or tensor.ndim != 4 or tensor.shape[1] != channels:
            shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise ValueError(f"{name} must be a tensor of shape (K, {channels}, H, W), got {shape}")
    if len({(t.shape[0], *t.shape[-2:]) for t in (monos, rgb_known, known)}) != 1:
        raise ValueError(
            "monos, rgb_known and known must share K, H and W, got "
            f"{tuple(monos.shape)}, {tuple(rgb_known.shape)}, {tuple(known.shape)}"
        )
    if monos.shape[0] == 0:
        raise ValueError("empty batch: no image to fit")
    return monos.shape[0]


MEMBER_SEED_STRIDE = 1_000_003


def member_seeds(seed: int, members: int) -> list[int]:
    """Seeds of an image's ensemble members: member 0 uses `seed` itself (an ensemble of one is a plain
    fit), member j `seed + j * MEMBER_SEED_STRIDE`, so the ensembles of seeds 0 .. stride-1 share no
    member. (The stride must not be a multiple of 2**32: torch seeds its Mersenne Twister with the low
    32 bits.)"""
    return [seed + member * MEMBER_SEED_STRIDE for member in range(members)]


T = TypeVar("T")


def per_image(values: Sequence[T] | None, default: T, count: int, name: str) -> list[T]:
    """`values` as a list of one entry per image (`default` for all when None); ValueError on a wrong length."""
    if values is None:
        return [default] * count
    values = list(values)
    if len(values) != count:
        raise ValueError(f"{name} has {len(values)} entries for a batch of {count} images")
    return values


class InternalColorizer:
    """Per-image progressive colorization; `colorize` matches the guided-colorizer interface.

    ``progress``: a tqdm bar of each level's steps; ``stop``: an event that, once set, ends
    the fit before its next step with :class:`eiip.errors.Cancelled` (the app's Stop button).
    """

    def __init__(
        self,
        config: InternalConfig | None = None,
        *,
        device: str | torch.device = "cpu",
        seed: int = 0,
        progress: bool = True,
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config or InternalConfig()
        self.device = torch.device(device)
        self.seed = seed
        self.progress = progress
        self.stop = stop

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
        """Fit the pyramid (or the ensemble of pyramids) on (1,H,W) mono, (3,H,W) rgb_known, (1,H,W) bool known;
        return the colorization."""
        return self.fit_batch(mono[None], rgb_known[None], known[None], [hints or []], [self.seed])[0]

    def fit_batch(
        self,
        monos: torch.Tensor,
        rgb_known: torch.Tensor,
        known: torch.Tensor,
        hints: Sequence[list[ColorHint]] | None = None,
        seeds: Sequence[int] | None = None,
    ) -> list[InternalResult]:
        """Fit K images of one size at once: (K,1,H,W) monos, (K,3,H,W) rgb_known, (K,1,H,W) bool known.

        `hints` and `seeds` give one hint list and one seed per image (default: none, `self.seed`); the
        result's `seconds` is the batch's time divided by K. Result k is `fit` of image k with seed
        `seeds[k]` computed with grouped convolutions: bit for bit where these round like the single
        ones (K = 1; CPU with oneDNN disabled), otherwise up to their rounding differences, which the
        training amplifies step after step (see eiip.colorize.internal.batched).
        """
        started = time.perf_counter()
        count = batch_size(monos, rgb_known, known)
        members = self.config.ensemble
        hints = per_image(hints, [], count, "hints")
        fit_seeds = [s for seed in per_image(seeds, self.seed, count, "seeds") for s in member_seeds(seed, members)]
        monos, rgb_known, known = (t.to(self.device) for t in (monos.float(), rgb_known.float(), known.bool()))
        skipped = finest_levels_skipped(tuple(monos.shape[-2:]), self.config.fit_pixels)
        pyramids = [self._pyramid(*image, skipped) for image in zip(monos, rgb_known, known, hints)]
        pyramid = stack_pyramids([p for p in pyramids for _ in range(members)])
        output, losses = self._fit_pyramid(pyramid, [self._generators(seed) for seed in fit_seeds], fit_seeds)
        output = output.clamp(0, 1)
        if skipped:
            output = upsample_chroma(output, monos.repeat_interleave(members, dim=0))
        colorized = output.unflatten(0, (count, members)).mean(1)
        image_losses = [
            [statistics.fmean(level[k * members:(k + 1) * members]) for level in losses] for k in range(count)
        ]
        seconds = (time.perf_counter() - started) / count
        return [
            InternalResult(colorized=c, composite=composite(c, r, k), final_losses=fit_losses, seconds=seconds)
            for c, r, k, fit_losses in zip(colorized, rgb_known, known, image_losses)
        ]

    def colorize_batch(
        self,
        monos: torch.Tensor,
        rgb_known: torch.Tensor,
        known: torch.Tensor,
        hints: Sequence[list[ColorHint]] | None = None,
        seeds: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """The (K, 3, H, W) colorizations of `fit_batch`."""
        return torch.stack([r.colorized for r in self.fit_batch(monos, rgb_known, known, hints, seeds)])

    def _pyramid(
        self, mono: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor, hints: list[ColorHint], skipped: int
    ) -> Pyramid:
        """The levels to fit: the coarsest `levels` of a pyramid with `skipped` more, finer ones (fit_pixels)."""
        config = self.config
        pyramid = build_pyramid(mono, rgb_known, known, config.levels + skipped, config.downsample)
        pyramid = add_hints(pyramid, hints, radius=config.hint_radius, weight=config.hint_weight)
        return pyramid.coarsest(config.levels)

    def _generators(self, seed: int) -> list[ColorGenerator]:
        """Fresh generators of every level, initialised from `seed` alone; the global RNG is left untouched."""
        config = self.config
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            # level 0 sees the monochrome; later levels also the previous level's RGB (see level_input)
            chroma = config.output == "chroma"
            return [
                ColorGenerator(1 if level == 0 else 4, 2 if chroma else 3, config.width, config.blocks, sigmoid=not chroma)
                for level in range(config.levels)
            ]

    def _predict(self, network: PackedGenerators, net_input: torch.Tensor, *, training: bool = False) -> torch.Tensor:
        """RGB of the packed generators on (K, [B,] C, h, w) inputs whose channel 0 is the monochrome
        (chroma output: kept in gamut, except in training; see eiip.colorize.internal.chroma)."""
        output = network(net_input)
        if self.config.output == "rgb":
            return output
        return chroma_to_rgb(net_input[..., :1, :, :], output, in_gamut=not training)

    def _fit_pyramid(
        self, pyramid: Pyramid, generators: list[list[ColorGenerator]], seeds: Sequence[int]
    ) -> tuple[torch.Tensor, list[list[float]]]:
        """Fit level by level, generators[k][level] for image k; the (K,3,H,W) output and losses[level][k]."""
        config = self.config
        previous: torch.Tensor | None = None
        fitted: PackedGenerators | None = None
        losses: list[list[float]] = []
        for level in range(pyramid.levels):
            net_input = level_input(pyramid.mono[level], previous)
            network = PackedGenerators([image[level] for image in generators]).to(self.device)
            if config.warm_start and fitted is not None:
                inherit_weights(network, fitted)
            windows = LevelWindows(net_input, pyramid.rgb[level], pyramid.weight[level], config.crop,
                                   config.crops_per_step, [(seed, level) for seed in seeds])
            losses.append(self._fit_level(network, windows, level))
            with torch.no_grad():
                previous = self._predict(network, net_input)
            fitted = network
        assert previous is not None
        return previous, losses

    def _fit_level(self, network: PackedGenerators, windows: LevelWindows, level: int) -> list[float]:
        """Train one level's packed generators on the sum of the per-image losses; each image's final loss."""
        config = self.config
        steps = config.steps[level]
        optimizer = torch.optim.Adam(network.parameters(), lr=config.lrs[level])
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps) if config.schedule == "cosine" else None
        with tqdm(total=steps, desc=f"internal, level {level + 1}/{config.levels}", disable=not self.progress,
                  leave=False, postfix={"size": "x".join(map(str, windows.target.shape[-2:]))}) as bar:
            for _ in range(steps):
                if self.stop is not None and self.stop.is_set():
                    raise Cancelled("the internal colorizer was stopped")
                optimizer.zero_grad(set_to_none=True)
                net_input, target, weight = windows.sample()
                losses = masked_losses(self._predict(network, net_input, training=True), target, weight, config.loss)
                losses.sum().backward()
                optimizer.step()
                if schedule is not None:
                    schedule.step()
                bar.update(1)
        final = losses.detach().tolist()
        return final
