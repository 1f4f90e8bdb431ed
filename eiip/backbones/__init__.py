"""Inpainting backbones (generators and discriminators), framework-agnostic nn.Modules."""

from eiip.backbones.registry import (
    BOTTLENECKS,
    BottleneckSpec,
    backbone_names,
    bottleneck_spec,
    build_backbone,
    build_discriminator,
    register_backbone,
    register_discriminator,
)

__all__ = ["BOTTLENECKS", "BottleneckSpec", "backbone_names", "bottleneck_spec", "build_backbone",
           "build_discriminator", "register_backbone", "register_discriminator"]
