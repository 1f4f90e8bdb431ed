"""The paper's internal stage as registered colorizers: ``internal`` (preset ``fast``) and ``internal-base``."""

from __future__ import annotations

import threading

import torch

from eiip.choices import INTERNAL_COLORIZERS
from eiip.colorize.internal.colorizer import InternalColorizer
from eiip.colorize.internal.config import internal_preset
from eiip.colorize.registry import Colorizer, ColorizerFactory, register_colorizer

__all__ = ["INTERNAL_COLORIZERS"]


def _internal_factory(default_preset: str) -> ColorizerFactory:
    def factory(
        *, preset: str | None = None, seed: int = 0, device: str | torch.device = "cpu", progress: bool = False,
        stop: threading.Event | None = None, **settings,
    ) -> Colorizer:
        config = internal_preset(preset or default_preset, **settings)
        return InternalColorizer(config, device=device, seed=seed, progress=progress, stop=stop)

    return factory


register_colorizer("internal")(_internal_factory("fast"))
register_colorizer("internal-base")(_internal_factory("base"))
