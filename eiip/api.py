"""The method as a few Python calls, shared by the command line, the app and notebooks.

::

    from eiip.api import (ColorHint, build_external_stage, colorizer_for, read_image, read_mask, two_stage,
                          write_image)

    image, hole = read_image("photo.jpg"), read_mask("mask.png")
    stage = build_external_stage(backbone="telea")            # or ckpt="model.ckpt"
    result = two_stage(image, hole, stage, colorizer_for("levin", hints=[ColorHint(120, 64, (1, 0, 0))]))
    write_image("out.png", result.final)

:func:`colorizer_for` is the one place where a colorizer's name, options and color hints (points and a
hint image) become a :class:`~eiip.colorize.Colorizer`; :func:`recolorized` colorizes an already
completed monochrome again (new hints, another colorizer) without running the external stage.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from eiip.choices import INTERNAL_COLORIZERS
from eiip.colorize import Colorizer, get_colorizer
from eiip.colorize.hints import ColorHint, HintLayer, colorize_with_hints, read_hint_image
from eiip.errors import InputError
from eiip.io import read_image, read_mask, validate_colorize_inputs, write_image
from eiip.pipeline import TwoStageResult, build_external_stage, recolorized, two_stage

__all__ = [
    "ColorHint",
    "TwoStageResult",
    "HINTLESS_COLORIZERS",
    "build_external_stage",
    "colorizer_for",
    "read_hint_image",
    "read_image",
    "read_mask",
    "recolorized",
    "two_stage",
    "validate_colorize_inputs",
    "write_image",
]

HINTLESS_COLORIZERS: tuple[str, ...] = ("mean",)
"""Colorizers that refuse hints: ``mean`` gives one chroma to the whole hole."""


def colorizer_for(name: str, *, hints: Sequence[ColorHint] = (), hint_image: HintLayer | None = None,
                  **options: Any) -> Colorizer:
    """The registered colorizer ``name`` built with ``options`` (:func:`eiip.colorize.get_colorizer`), taking
    the point ``hints`` and the ``hint_image`` (:mod:`eiip.colorize.hints`) on every call.

    InputError when hints are given to a colorizer that cannot take them (:data:`HINTLESS_COLORIZERS`)."""
    if name in HINTLESS_COLORIZERS and (hints or hint_image is not None):
        raise InputError(f"the {name} colorizer gives one chroma for the whole hole: hints do not apply to it")
    colorizer = get_colorizer(name, **options)
    internal = name in INTERNAL_COLORIZERS
    points = list(hints)

    def colorize(mono: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        return colorize_with_hints(colorizer, mono, rgb_known, known, points, hint_image, internal=internal)

    return colorize
