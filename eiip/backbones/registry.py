"""One registry for inpainting backbones: build_backbone(name, bottleneck) -> generator.

Every generator is a plain `nn.Module` (no Lightning, W&B or Hydra) with the interface

    forward(image: (B, C_in, H, W), hole: (B, 1, H, W) float, 1 = hole) -> dict[str, Tensor]

`image` is the masked input: RGB (3 channels) for `bottleneck="rgb"`, the paper's baseline with the
backbone's original head, or RGB ⊕ monochrome (4 channels) for `bottleneck="mono"`, the paper's
method; hole pixels of `image` are zero. The generator appends the mask (and whatever extra
channels its published input has) itself. The returned dict always has "output": the final
prediction, (B, 3, H, W) for rgb and (B, 1, H, W) for mono, in [0, 1]; backbones with intermediate
predictions add them (e.g. "coarse").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

Bottleneck = Literal["mono", "rgb"]
BOTTLENECKS: tuple[str, ...] = ("mono", "rgb")


@dataclass(frozen=True)
class BottleneckSpec:
    """Channels of the masked image a generator takes and of the prediction it makes."""

    image_channels: int
    output_channels: int


def bottleneck_spec(bottleneck: str) -> BottleneckSpec:
    """mono: RGB ⊕ monochrome in, 1 channel out (the paper); rgb: RGB in, RGB out (the baseline)."""
    if bottleneck == "mono":
        return BottleneckSpec(image_channels=4, output_channels=1)
    if bottleneck == "rgb":
        return BottleneckSpec(image_channels=3, output_channels=3)
    raise ValueError(f"unknown bottleneck {bottleneck!r}; expected one of {', '.join(BOTTLENECKS)}")


def check_generator_inputs(spec: BottleneckSpec, image: Tensor, hole: Tensor) -> Tensor:
    """Raise ValueError unless image is (B, image_channels, H, W) and hole (B, 1, H, W); returns hole as image dtype."""
    if image.ndim != 4 or image.shape[1] != spec.image_channels:
        raise ValueError(f"expected a (B, {spec.image_channels}, H, W) image, got {tuple(image.shape)}")
    expected = (image.shape[0], 1, *image.shape[-2:])
    if tuple(hole.shape) != expected:
        raise ValueError(f"expected a {expected} hole, got {tuple(hole.shape)}")
    return hole.to(image.dtype)


GeneratorFactory = Callable[..., nn.Module]
_GENERATORS: dict[str, GeneratorFactory] = {}


def register_backbone(name: str) -> Callable[[GeneratorFactory], GeneratorFactory]:
    """Register `factory(spec: BottleneckSpec, **options) -> nn.Module` under `name`."""

    def decorator(factory: GeneratorFactory) -> GeneratorFactory:
        if name in _GENERATORS:
            raise ValueError(f"a backbone named {name!r} is already registered")
        _GENERATORS[name] = factory
        return factory

    return decorator


def backbone_names() -> list[str]:
    """Names of the registered backbones."""
    return sorted(_GENERATORS)


def build_backbone(name: str, bottleneck: str = "mono", **options: object) -> nn.Module:
    """The generator of backbone `name` with the given bottleneck (options go to its constructor)."""
    if name not in _GENERATORS:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(backbone_names()) or 'none'}")
    return _GENERATORS[name](bottleneck_spec(bottleneck), **options)


_DISCRIMINATORS: dict[str, GeneratorFactory] = {}


def register_discriminator(name: str) -> Callable[[GeneratorFactory], GeneratorFactory]:
    """Register `factory(spec: BottleneckSpec, **options) -> nn.Module` as backbone `name`'s discriminator."""

    def decorator(factory: GeneratorFactory) -> GeneratorFactory:
        if name in _DISCRIMINATORS:
            raise ValueError(f"a discriminator for {name!r} is already registered")
        _DISCRIMINATORS[name] = factory
        return factory

    return decorator


def build_discriminator(name: str, bottleneck: str = "mono", **options: object) -> nn.Module:
    """The published discriminator of backbone `name`, judging predictions of the bottleneck's channels."""
    if name not in _DISCRIMINATORS:
        raise ValueError(f"no discriminator registered for {name!r}; available: {', '.join(sorted(_DISCRIMINATORS))}")
    return _DISCRIMINATORS[name](bottleneck_spec(bottleneck), **options)
