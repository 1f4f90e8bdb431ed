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


ModuleFactory = Callable[..., nn.Module]
"""`factory(spec: BottleneckSpec, **options) -> nn.Module`."""


class _Registry:
    """Name -> module factory, for one kind of module (generators or discriminators)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.factories: dict[str, ModuleFactory] = {}

    def register(self, name: str) -> Callable[[ModuleFactory], ModuleFactory]:
        def decorator(factory: ModuleFactory) -> ModuleFactory:
            if name in self.factories:
                raise ValueError(f"a {self.kind} named {name!r} is already registered")
            self.factories[name] = factory
            return factory

        return decorator

    def build(self, name: str, bottleneck: str, **options: object) -> nn.Module:
        if name not in self.factories:
            available = ", ".join(sorted(self.factories)) or "none"
            raise ValueError(f"unknown {self.kind} {name!r}; available: {available}")
        return self.factories[name](bottleneck_spec(bottleneck), **options)


_GENERATORS = _Registry("backbone")
_DISCRIMINATORS = _Registry("discriminator")


def register_backbone(name: str) -> Callable[[ModuleFactory], ModuleFactory]:
    """Register a generator factory under backbone `name`."""
    return _GENERATORS.register(name)


def register_discriminator(name: str) -> Callable[[ModuleFactory], ModuleFactory]:
    """Register a discriminator factory under `name` (a backbone's name, or e.g. 'edgeconnect_edge')."""
    return _DISCRIMINATORS.register(name)


def backbone_names() -> list[str]:
    """Names of the registered backbones."""
    return sorted(_GENERATORS.factories)


def build_backbone(name: str, bottleneck: str = "mono", **options: object) -> nn.Module:
    """The generator of backbone `name` with the given bottleneck (options go to its constructor)."""
    return _GENERATORS.build(name, bottleneck, **options)


def build_discriminator(name: str, bottleneck: str = "mono", **options: object) -> nn.Module:
    """The published discriminator `name`, judging predictions of the bottleneck's channels."""
    return _DISCRIMINATORS.build(name, bottleneck, **options)
