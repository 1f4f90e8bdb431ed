"""The internal stage: per-image progressive color restoration (paper section 3.3)."""

from eiip.colorize.internal.colorizer import InternalColorizer, InternalResult
from eiip.colorize.internal.config import InternalConfig, internal_preset
from eiip.colorize.internal.pyramid import ColorHint, Pyramid, build_pyramid

__all__ = ["ColorHint", "InternalColorizer", "InternalConfig", "InternalResult", "Pyramid", "build_pyramid",
           "internal_preset"]
