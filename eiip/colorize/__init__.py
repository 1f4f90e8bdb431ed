"""The internal stage (paper section 3.3): colors propagated from an image's known pixels into the hole,
guided by the completed monochrome.

* :mod:`eiip.colorize.registry`: the :class:`Colorizer` interface, the registry (:func:`get_colorizer`)
  and :func:`colorize_batch`;
* :mod:`eiip.colorize.internal`: the paper's progressive pyramid of small generators fitted per image
  (colorizers ``internal`` and ``internal-base``);
* :mod:`eiip.colorize.classical`: the classical guided colorizers (``levin``, ``local-linear``, ``dt``,
  ``mean``) and the default, ``validated-blend``, built on the propagators of
  :mod:`eiip.colorize.levin`, :mod:`eiip.colorize.local_linear` and :mod:`eiip.colorize.validated_blend`.
"""

from eiip.colorize.classical import (
    DEFAULT_BLEND_CANDIDATES,
    domain_transform_colorize,
    levin_colorize,
    local_linear_colorize,
    mean_chroma_colorize,
    validated_blend_colorize,
)
from eiip.colorize.internal.registration import INTERNAL_COLORIZERS
from eiip.colorize.registry import (
    COLORIZERS,
    Colorizer,
    ColorizerFactory,
    check_colorize_inputs,
    colorize_batch,
    colorizer_names,
    get_colorizer,
    register_colorizer,
    resolved_settings,
)

__all__ = [
    "COLORIZERS",
    "Colorizer",
    "ColorizerFactory",
    "DEFAULT_BLEND_CANDIDATES",
    "INTERNAL_COLORIZERS",
    "check_colorize_inputs",
    "colorize_batch",
    "colorizer_names",
    "domain_transform_colorize",
    "get_colorizer",
    "levin_colorize",
    "local_linear_colorize",
    "mean_chroma_colorize",
    "register_colorizer",
    "resolved_settings",
    "validated_blend_colorize",
]
