"""Settings of the internal colorizer and the published presets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from eiip.choices import FAST_ENSEMBLE, FAST_FIT_PIXELS
from eiip.choices import INTERNAL_PRESETS as PRESETS
from eiip.colorize.internal.pyramid import Downsample

# Official release: learning rate per level for a pyramid of 1..5 levels (401 Adam steps per level;
# a single level trains 1001 steps).
_OFFICIAL_LRS: dict[int, tuple[float, ...]] = {
    1: (0.01,),
    2: (0.01, 0.003),
    3: (0.01, 0.005, 0.003),
    4: (0.02, 0.01, 0.005, 0.002),
    5: (0.04, 0.02, 0.01, 0.005, 0.002),
}


@dataclass(frozen=True)
class InternalConfig:
    """Per-level steps and learning rates (coarse to fine), generator size, loss and pyramid options."""

    steps: tuple[int, ...] = (401, 401, 401)
    lrs: tuple[float, ...] = (0.01, 0.005, 0.003)
    width: int = 32
    blocks: int = 8
    loss: Literal["l1", "mse"] = "l1"
    downsample: Downsample = "area"
    hint_radius: int = 1
    hint_weight: float = 100.0
    crop: int | None = None  # fit levels larger than crop x crop on random crops (None: whole level)
    crops_per_step: int = 1
    warm_start: bool = False  # level n starts from level n-1's fitted weights instead of a fresh init
    schedule: Literal["constant", "cosine"] = "constant"  # learning rate over a level's steps
    output: Literal["rgb", "chroma"] = "rgb"  # rgb: sigmoid RGB (paper); chroma: (I, Q) around the given mono
    ensemble: int = 1  # independently initialised pyramids fitted per image; their colorizations are averaged
    fit_pixels: int | None = None  # fit only pyramid levels of at most this many pixels; upsample their chroma

    def __post_init__(self) -> None:
        if not self.steps or len(self.steps) != len(self.lrs):
            raise ValueError(f"steps {self.steps} and lrs {self.lrs} must be non-empty and of equal length")
        if any(s < 1 for s in self.steps) or any(lr <= 0 for lr in self.lrs):
            raise ValueError("every level needs at least one step and a positive learning rate")
        if self.width < 1 or self.blocks < 0:
            raise ValueError(f"invalid generator size: width={self.width}, blocks={self.blocks}")
        if self.hint_radius < 0 or self.hint_weight <= 0:
            raise ValueError(f"invalid hint settings: radius={self.hint_radius}, weight={self.hint_weight}")
        if self.loss not in ("l1", "mse"):
            raise ValueError(f"unknown loss {self.loss!r}; expected 'l1' (paper) or 'mse' (official code)")
        if self.downsample not in ("area", "bicubic"):
            raise ValueError(f"unknown downsample {self.downsample!r}; expected 'area' or 'bicubic'")
        if (self.crop is not None and self.crop < 8) or self.crops_per_step < 1:
            raise ValueError(f"invalid crops: crop={self.crop} (>= 8 or None), crops_per_step={self.crops_per_step}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"unknown schedule {self.schedule!r}; expected 'constant' or 'cosine'")
        if self.output not in ("rgb", "chroma"):
            raise ValueError(f"unknown output {self.output!r}; expected 'rgb' (paper) or 'chroma' (keeps the mono)")
        if self.ensemble < 1:
            raise ValueError(f"ensemble must be at least 1 (one pyramid per image), got {self.ensemble}")
        if self.fit_pixels is not None and self.fit_pixels < 1:
            raise ValueError(f"fit_pixels must be positive or None (fit up to full resolution), got {self.fit_pixels}")

    @property
    def levels(self) -> int:
        return len(self.steps)

    @classmethod
    def paper(cls, levels: int = 3, **overrides: object) -> "InternalConfig":
        """The published schedule for `levels` levels (1 level = the non-progressive 'base')."""
        if levels not in _OFFICIAL_LRS:
            raise ValueError(f"the published schedule covers 1 to 5 levels, not {levels}")
        steps = (1001,) if levels == 1 else (401,) * levels
        return replace(cls(steps=steps, lrs=_OFFICIAL_LRS[levels]), **overrides)

    @classmethod
    def base(cls, **overrides: object) -> "InternalConfig":
        """'Base' = a single level, no progressive design (official: 1001 steps at lr 0.01)."""
        return cls.paper(levels=1, **overrides)


FAST_STEPS = 400  # per level


def fast_settings(config: InternalConfig) -> InternalConfig:
    """The 'fast' preset's changes to a published schedule (each one is measured in BENCHMARKS.md)."""
    return replace(config, steps=(FAST_STEPS,) * config.levels, fit_pixels=FAST_FIT_PIXELS, warm_start=True,
                   schedule="cosine", output="chroma", width=16, blocks=2, ensemble=FAST_ENSEMBLE)


def internal_preset(
    name: str = "fast", *, levels: int | None = None, steps: int | None = None, **overrides: object
) -> InternalConfig:
    """The settings of preset `name` (3 levels unless `levels` says otherwise), with `steps` Adam steps
    per level and other fields overridden.

    - 'reference': the official release exactly (masked MSE, bicubic image pyramid, 401 steps per level);
    - 'paper': the paper's masked L1 with the hole-safe area pyramid (see eiip.colorize.internal.pyramid);
    - 'fast' (default): the paper's algorithm made cheap (see README, BENCHMARKS.md);
    - 'base': one level of 1001 steps (the paper's non-progressive ablation).
    """
    if name == "base":
        if levels not in (None, 1):
            raise ValueError("the base preset has exactly one level")
        config = InternalConfig.base()
    elif name in ("reference", "paper", "fast"):
        config = InternalConfig.paper(levels or 3)
        if name == "reference":
            config = replace(config, loss="mse", downsample="bicubic")
        elif name == "fast":
            config = fast_settings(config)
    else:
        raise ValueError(f"unknown internal preset {name!r}; expected one of {', '.join(PRESETS)}")
    if steps is not None:
        overrides["steps"] = (steps,) * config.levels
    return replace(config, **overrides)
