"""Inpainting backbones (generators and discriminators), framework-agnostic nn.Modules."""

from eiip.external.backbones.registry import (
    BOTTLENECKS,
    BottleneckSpec,
    backbone_names,
    bottleneck_spec,
    build_backbone,
    build_discriminator,
    register_backbone,
    register_discriminator,
)

# Importing the modules registers their generators and discriminators.
from eiip.external.backbones import discriminators, edgeconnect, gatedconv, gmcnn, hifill  # noqa: E402,F401

__all__ = ["BOTTLENECKS", "BottleneckSpec", "backbone_names", "bottleneck_spec", "build_backbone",
           "build_discriminator", "register_backbone", "register_discriminator"]
