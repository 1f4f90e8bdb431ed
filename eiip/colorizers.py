"""Guided colorizers: restore the color of a hole from the known pixels of the same image.

The method completes the *monochrome* of the hole with a network and then colorizes the hole
guided by the completed monochrome and the known colored pixels (the paper's Table 3 compares
guided colorizers). This module defines the interface every colorizer follows, a registry of
colorizer factories, and classical baselines:

* ``"mean"``: the mean known chroma everywhere (a floor baseline);
* ``"levin"``: Levin, Lischinski and Weiss, "Colorization using Optimization" (SIGGRAPH 2004);
* ``"dt"``: normalized-convolution propagation with the domain transform of Gastal and Oliveira
  (SIGGRAPH 2011), via ``cv2.ximgproc.dtFilter``;
* ``"local-linear"``: chroma affine in the monochrome over every 3x3 window (the matting Laplacian of
  Levin, Lischinski and Weiss 2006 with the monochrome as guide, :mod:`eiip.local_linear`);
* ``"validated-blend"`` (the default of the command line and of ``eval.py``): ``levin`` and
  ``local-linear`` blended with weights fitted per image on held-out known pixels
  (:mod:`eiip.validated_blend`); beyond the paper, see the README.

Interface (:class:`Colorizer`)::

    colorizer(mono, rgb_known, known) -> rgb

* ``mono``: (1, H, W) float in [0, 1], the (completed) monochrome of the whole image;
* ``rgb_known``: (3, H, W) float in [0, 1]; only pixels where ``known`` is True are read;
* ``known``: (1, H, W) bool, True for a known pixel and False in the hole;
* returns (3, H, W) float32 in [0, 1] on the device of ``mono``: a colorization of the whole image
  (the caller composites the known pixels back, see :func:`eiip.color.composite`).

:func:`colorize_batch` colorizes K images of one size, (K, C, H, W) tensors, at once: the internal
colorizers fit the K images together, the others are called on each image in turn.

All colorizers work in NTSC YIQ (:func:`eiip.color.rgb_to_yiq`), whose Y is exactly the paper's
monochrome, so the output has Y == ``mono`` wherever RGB clipping does not kick in.

Registry: :data:`COLORIZERS` maps a name to a *factory*, a callable taking keyword options and
returning a :class:`Colorizer`. Use :func:`get_colorizer` to build one, :func:`register_colorizer`
to add one. ``"internal"`` and ``"internal-base"`` are the paper's internal stage
(:class:`eiip.internal.InternalColorizer`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
from typing import Any, Callable, Protocol

import numpy as np
import torch

from eiip.color import rgb_to_yiq, yiq_to_rgb
from eiip.internal import InternalColorizer, internal_preset
from eiip.internal.chroma import chroma_to_rgb
from eiip.levin import levin_propagator
from eiip.local_linear import local_linear_propagator
from eiip.validated_blend import Propagate, check_holdouts, validated_blend

_log = logging.getLogger(__name__)

__all__ = [
    "COLORIZERS",
    "Colorizer",
    "ColorizerFactory",
    "check_colorize_inputs",
    "colorize_batch",
    "colorizer_names",
    "domain_transform_colorize",
    "get_colorizer",
    "levin_colorize",
    "local_linear_colorize",
    "mean_chroma_colorize",
    "register_colorizer",
    "validated_blend_colorize",
]


class Colorizer(Protocol):
    """Colorizes the whole image from its monochrome and the known colored pixels."""

    def __call__(self, mono: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor) -> torch.Tensor: ...


ColorizerFactory = Callable[..., Colorizer]
"""A factory takes keyword options and returns a :class:`Colorizer`."""

COLORIZERS: dict[str, ColorizerFactory] = {}
"""Registered colorizer factories, by name."""

# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


def register_colorizer(name: str, *, replace: bool = False) -> Callable[[ColorizerFactory], ColorizerFactory]:
    """Decorator registering a colorizer *factory* under ``name``.

    The factory is called as ``factory(**options)`` by :func:`get_colorizer` and must return a
    :class:`Colorizer`. Registering a taken name raises ValueError unless ``replace`` is True.
    Returns the factory unchanged.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a colorizer name must be a non-empty string, got {name!r}")

    def decorator(factory: ColorizerFactory) -> ColorizerFactory:
        if not callable(factory):
            raise TypeError(f"colorizer factory for {name!r} is not callable: {factory!r}")
        if name in COLORIZERS and COLORIZERS[name] is not factory and not replace:
            raise ValueError(f"a colorizer named {name!r} is already registered")
        COLORIZERS[name] = factory
        return factory

    return decorator


def colorizer_names() -> list[str]:
    """Sorted names of the registered colorizers."""
    return sorted(COLORIZERS)


def get_colorizer(name: str, **options) -> Colorizer:
    """Build the colorizer registered as ``name`` with keyword ``options``.

    Raises ValueError for an unknown name (listing the valid ones) or for options the colorizer
    does not take.
    """
    try:
        factory = COLORIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown colorizer {name!r}; valid names: {', '.join(colorizer_names())}") from None
    return factory(**options)


def resolved_settings(colorizer: Colorizer | None) -> dict[str, Any] | None:
    """Every setting of a configured colorizer (an internal one's InternalConfig, JSON-ready), None for others.

    A preset name (`fast`) may stand for other settings in another eiip version: records of results keep
    these so that results of an older definition are never mixed with new ones."""
    config = getattr(colorizer, "config", None)
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        return None
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def _function_factory(fn: Callable[..., torch.Tensor]) -> ColorizerFactory:
    """A factory binding keyword options of a colorize function (options checked at build time)."""
    signature = inspect.signature(fn)

    def factory(**options) -> Colorizer:
        try:
            signature.bind(None, None, None, **options)
        except TypeError as error:
            raise ValueError(f"invalid options for colorizer {fn.__name__}: {error}") from None
        if not options:
            return fn
        return functools.partial(fn, **options)

    factory.__doc__ = f"Factory of {fn.__name__} with keyword options.\n\n{fn.__doc__ or ''}"
    factory.__name__ = f"{fn.__name__}_factory"
    return factory


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def check_colorize_inputs(mono: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor) -> None:
    """Validate colorizer inputs; raises ValueError on a wrong type, shape or dtype, or no known pixel.

    Expected: ``mono`` (1, H, W) floating, ``rgb_known`` (3, H, W) floating, ``known`` (1, H, W)
    bool with at least one True, all on the same device, ``mono`` and the known pixels of
    ``rgb_known`` finite. Hole values of ``rgb_known`` are not checked (they are never read).
    """
    for arg_name, value in (("mono", mono), ("rgb_known", rgb_known), ("known", known)):
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{arg_name} must be a torch.Tensor, got {type(value).__name__}")
    if mono.ndim != 3 or mono.shape[0] != 1:
        raise ValueError(f"mono must have shape (1, H, W), got {tuple(mono.shape)}")
    if rgb_known.ndim != 3 or rgb_known.shape[0] != 3:
        raise ValueError(f"rgb_known must have shape (3, H, W), got {tuple(rgb_known.shape)}")
    if known.ndim != 3 or known.shape[0] != 1:
        raise ValueError(f"known must have shape (1, H, W), got {tuple(known.shape)}")
    size = tuple(mono.shape[-2:])
    if tuple(rgb_known.shape[-2:]) != size or tuple(known.shape[-2:]) != size:
        raise ValueError(
            "mono, rgb_known and known must share H and W, got "
            f"{tuple(mono.shape)}, {tuple(rgb_known.shape)}, {tuple(known.shape)}"
        )
    if size[0] < 1 or size[1] < 1:
        raise ValueError(f"empty image of size {size}")
    if not mono.is_floating_point():
        raise ValueError(f"mono must be a floating tensor, got {mono.dtype}")
    if not rgb_known.is_floating_point():
        raise ValueError(f"rgb_known must be a floating tensor, got {rgb_known.dtype}")
    if known.dtype != torch.bool:
        raise ValueError(f"known must be a bool tensor, got {known.dtype}")
    if rgb_known.device != mono.device or known.device != mono.device:
        raise ValueError(
            f"inputs must be on one device, got {mono.device}, {rgb_known.device}, {known.device}"
        )
    if not bool(known.any()):
        raise ValueError("known has no known pixel: nothing to take the color from")
    if not bool(torch.isfinite(mono).all()):
        raise ValueError("mono has non-finite values")
    if not bool(torch.isfinite(rgb_known[:, known[0]]).all()):
        raise ValueError("rgb_known has non-finite values at known pixels")


def _prepare(
    mono: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated inputs as float64/bool numpy arrays: Y (H, W), chroma (2, H, W), known (H, W).

    Chroma (I, Q) is zero in the hole: hole values of ``rgb_known`` are never read.
    """
    check_colorize_inputs(mono, rgb_known, known)
    mask = known[0].detach().cpu()
    rgb = rgb_known.detach().cpu().to(torch.float64)
    rgb = torch.where(mask, rgb, torch.zeros((), dtype=torch.float64))
    chroma = rgb_to_yiq(rgb)[1:].numpy()
    y = mono[0].detach().cpu().to(torch.float64).numpy()
    return y, chroma, mask.numpy()


def _mean_known_chroma(chroma: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Mean (I, Q) over the known pixels, shape (2,)."""
    return chroma[:, known].mean(axis=1)


def _to_rgb_in_gamut(y: np.ndarray, chroma: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """RGB of Y (H, W) and chroma (2, H, W), the chroma scaled towards gray where the color would leave
    [0, 1] (:func:`eiip.internal.chroma.chroma_to_rgb`: Y stays ``y``), as float32 on ``like``'s device."""
    rgb = chroma_to_rgb(torch.from_numpy(y[None]), torch.from_numpy(np.ascontiguousarray(chroma)))
    # the clamp only removes rounding-level excursions (~1e-17) of the scaling
    return rgb.clamp_(0.0, 1.0).to(device=like.device, dtype=torch.float32)


def _to_rgb(y: np.ndarray, chroma: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """RGB of Y (H, W) and chroma (2, H, W), clipped to [0, 1], as float32 on ``like``'s device."""
    yiq = torch.from_numpy(np.concatenate([y[None], chroma], axis=0))
    rgb = yiq_to_rgb(yiq).clamp_(0.0, 1.0)
    return rgb.to(device=like.device, dtype=torch.float32)


# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------


def _check_colorize_batch_inputs(monos: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor) -> None:
    """Validate (K, 1, H, W) monos, (K, 3, H, W) rgb_known and (K, 1, H, W) known, K >= 1, image by image."""
    for arg_name, value in (("monos", monos), ("rgb_known", rgb_known), ("known", known)):
        if not isinstance(value, torch.Tensor) or value.ndim != 4:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"{arg_name} must be a (K, C, H, W) tensor, got {shape}")
    if not monos.shape[0] == rgb_known.shape[0] == known.shape[0] >= 1:
        raise ValueError(
            f"monos, rgb_known and known must hold the same number K >= 1 of images, got "
            f"{tuple(monos.shape)}, {tuple(rgb_known.shape)}, {tuple(known.shape)}"
        )
    for index, image in enumerate(zip(monos, rgb_known, known)):
        try:
            check_colorize_inputs(*image)
        except ValueError as error:
            raise ValueError(f"image {index} of the batch: {error}") from None


def colorize_batch(
    colorizer: Colorizer, monos: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor
) -> torch.Tensor:
    """Colorize K images of one size: (K, 1, H, W) monos, (K, 3, H, W) rgb_known, (K, 1, H, W) bool known.

    Returns (K, 3, H, W). A colorizer with a ``colorize_batch`` method (the internal colorizers, which
    fit the K images at once) gets the whole batch; any other is called on each image in turn.
    """
    _check_colorize_batch_inputs(monos, rgb_known, known)
    batched = getattr(colorizer, "colorize_batch", None)
    if callable(batched):
        return batched(monos, rgb_known, known)
    return torch.stack([colorizer(*image) for image in zip(monos, rgb_known, known)])


# --------------------------------------------------------------------------------------------
# Mean chroma
# --------------------------------------------------------------------------------------------


def mean_chroma_colorize(mono: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Y = ``mono`` and (I, Q) = the mean chroma of the known pixels everywhere (a floor baseline)."""
    y, chroma, mask = _prepare(mono, rgb_known, known)
    mean = _mean_known_chroma(chroma, mask)
    filled = np.broadcast_to(mean[:, None, None], chroma.shape)
    return _to_rgb(y, filled, mono)


# --------------------------------------------------------------------------------------------
# Levin, Lischinski and Weiss 2004
# --------------------------------------------------------------------------------------------


def levin_colorize(
    mono: torch.Tensor,
    rgb_known: torch.Tensor,
    known: torch.Tensor,
    *,
    window: int = 1,
    sigma_floor: float = 2e-6,
    var_scale: float = 0.6,
    min_nearest_weight: float = 0.01,
) -> torch.Tensor:
    """Levin, Lischinski and Weiss, "Colorization using Optimization" (SIGGRAPH 2004).

    I and Q are propagated from the known pixels by :func:`eiip.levin.levin_propagator` (its
    docstring gives the system and the defaults, those of the authors' reference code); the RGB is
    clipped to [0, 1] as in their code.
    """
    y, chroma, mask = _prepare(mono, rgb_known, known)
    propagate = levin_propagator(
        y, window=window, sigma_floor=sigma_floor, var_scale=var_scale, min_nearest_weight=min_nearest_weight
    )
    return _to_rgb(y, propagate(chroma, mask), mono)


# --------------------------------------------------------------------------------------------
# Local linear model, and the validated blend (issue 6: never worse than Levin)
# --------------------------------------------------------------------------------------------


def local_linear_colorize(
    mono: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor, *, eps: float = 1e-5, radius: int = 1
) -> torch.Tensor:
    """Chroma affine in the monochrome over every (2 ``radius`` + 1)^2 window (:mod:`eiip.local_linear`,
    the matting Laplacian of Levin et al. 2006 with the monochrome as guide), known chroma fixed.

    The RGB keeps Y == ``mono``: chroma that would leave [0, 1] is scaled towards gray, not clipped.
    """
    y, chroma, mask = _prepare(mono, rgb_known, known)
    return _to_rgb_in_gamut(y, local_linear_propagator(y, eps=eps, radius=radius)(chroma, mask), mono)


_NATIVE_PROPAGATORS: dict[str, Callable[[np.ndarray], Propagate]] = {
    "levin": levin_propagator,
    "local-linear": local_linear_propagator,
}
"""Candidates of the validated blend that propagate chroma directly (no RGB round trip, no clipping)."""

DEFAULT_BLEND_CANDIDATES = ("levin", "local-linear")


def _colorizer_propagator(name: str, mono: torch.Tensor, y: np.ndarray) -> Propagate:
    """Any registered colorizer (default options) as a chroma propagator, through its RGB output."""
    colorizer = get_colorizer(name)

    def propagate(chroma: np.ndarray, known: np.ndarray) -> np.ndarray:
        rgb_known = _to_rgb(y, chroma, mono)
        rgb = colorizer(mono, rgb_known, torch.from_numpy(known)[None].to(mono.device))
        return rgb_to_yiq(rgb.detach().cpu().to(torch.float64))[1:].numpy()

    return propagate


def validated_blend_colorize(
    mono: torch.Tensor,
    rgb_known: torch.Tensor,
    known: torch.Tensor,
    *,
    candidates: tuple[str, ...] | list[str] = DEFAULT_BLEND_CANDIDATES,
    holdouts: int = 4,
) -> torch.Tensor:
    """Blend of the ``candidates``' chroma, weighted per image on held-out known pixels (:mod:`eiip.validated_blend`).

    ``candidates``: registered colorizer names; ``levin`` and ``local-linear`` propagate chroma
    directly, any other (``dt``, ``internal`` with its default ``fast`` preset on the CPU, ...) runs
    as a colorizer once per held-out set and once more for the hole if its weight is not zero, so
    a network candidate costs (``holdouts`` + 1) fits. ``holdouts``: how many shifted copies of the
    hole are held out (1..8; 4 by default). The RGB keeps Y == ``mono`` (chroma scaled into the gamut).
    The weights go to this module's logger at DEBUG level.
    """
    check_holdouts(holdouts)
    names = [candidates] if isinstance(candidates, str) else list(candidates)
    unknown = sorted(set(names) - set(COLORIZERS))
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(f"candidates must be distinct registered colorizer names, got {names!r}; "
                         f"valid names: {', '.join(colorizer_names())}")
    if "validated-blend" in names:
        raise ValueError("validated-blend cannot be its own candidate")
    y, chroma, mask = _prepare(mono, rgb_known, known)
    propagators = [_NATIVE_PROPAGATORS[name](y) if name in _NATIVE_PROPAGATORS else _colorizer_propagator(name, mono, y)
                   for name in names]
    blended, weights = validated_blend(propagators, chroma, mask, holdouts)
    _log.debug("validated-blend weights: %s", dict(zip(names, weights.round(3).tolist())))
    return _to_rgb_in_gamut(y, blended, mono)


# --------------------------------------------------------------------------------------------
# Domain transform (Gastal and Oliveira 2011)
# --------------------------------------------------------------------------------------------

_DT_GUIDE_SCALE = 255.0
"""The guide is passed to dtFilter as float32 in [0, 255]: for a float guide OpenCV measures
sigmaColor in the guide's own units, so ``sigma_color`` is on the familiar 8-bit scale."""

_DT_MIN_WEIGHT = 1e-3
"""Normalized-convolution denominators below this count as 'no known pixel within reach'.

dtFilter works in float32; the ratio's error grows like (float32 rounding) / denominator, which
stays around 1e-5 or below for denominators above 1e-3 (measured)."""


def domain_transform_colorize(
    mono: torch.Tensor,
    rgb_known: torch.Tensor,
    known: torch.Tensor,
    *,
    sigma_spatial: float | None = None,
    sigma_color: float = 20.0,
    iterations: int = 3,
    fallback_steps: int = 4,
) -> torch.Tensor:
    """Edge-aware propagation of the known chroma by domain-transform normalized convolution.

    ``chroma_hole = DT(chroma * known) / DT(known)`` where DT is ``cv2.ximgproc.dtFilter`` in
    normalized-convolution mode (``DTF_NC``) guided by the monochrome; known chroma is kept as is.

    Defaults:

    * ``sigma_spatial`` (pixels): ``None`` means 0.1 * max(H, W), at least 4. The hole can cover a
      large part of the image (tens of percent), so the filter must reach well into it; tying the
      scale to the image size makes the behaviour resolution-independent.
    * ``sigma_color``: 20 on the 0..255 scale of the guide (the guide is ``mono`` * 255 as float32;
      OpenCV measures sigmaColor in the guide's units). With the domain transform's
      ``1 + sigma_spatial / sigma_color * |dY|`` metric, a step of a few tens of gray levels
      already counts as many ``sigma_spatial`` away, so chroma does not bleed across clear
      luminance edges while smooth shading does not block propagation.
    * ``iterations``: 3, the value recommended by Gastal and Oliveira.

    Where the denominator is below 1e-3 (no known pixel within reach, e.g. deep inside a large
    hole or behind strong edges), the filter is rerun with ``sigma_spatial`` and ``sigma_color``
    doubled, up to ``fallback_steps`` times, and the mean known chroma fills what is still
    unreached, so the output never has NaN or inf.
    """
    import cv2  # local import: OpenCV is only needed here

    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if not sigma_color > 0 or (sigma_spatial is not None and not sigma_spatial > 0):
        raise ValueError("sigma_spatial and sigma_color must be > 0")
    if int(fallback_steps) != fallback_steps or fallback_steps < 0:
        raise ValueError(f"fallback_steps must be a non-negative integer, got {fallback_steps!r}")
    y, chroma, mask = _prepare(mono, rgb_known, known)
    hole = ~mask
    if not hole.any():
        return _to_rgb(y, chroma, mono)
    h, w = y.shape
    if sigma_spatial is None:
        sigma_spatial = max(4.0, 0.1 * max(h, w))

    guide = np.ascontiguousarray(np.clip(y, 0.0, 1.0) * _DT_GUIDE_SCALE, dtype=np.float32)
    weight = mask.astype(np.float32)
    # Filter the chroma relative to its known mean: smaller magnitudes, smaller float32 errors.
    mean = _mean_known_chroma(chroma, mask)
    centred = (chroma - mean[:, None, None]) * mask
    src = np.ascontiguousarray(np.stack([centred[0], centred[1], weight], axis=-1), dtype=np.float32)

    out = chroma.copy()
    todo = hole.copy()
    s_spatial, s_color = float(sigma_spatial), float(sigma_color)
    for _ in range(int(fallback_steps) + 1):
        filtered = cv2.ximgproc.dtFilter(
            guide, src, s_spatial, s_color, mode=cv2.ximgproc.DTF_NC, numIters=int(iterations)
        ).astype(np.float64)
        den = filtered[..., 2]
        reached = todo & np.isfinite(filtered).all(axis=-1) & (den > _DT_MIN_WEIGHT)
        out[:, reached] = filtered[reached][:, :2].T / den[reached] + mean[:, None]
        todo &= ~reached
        if not todo.any():
            break
        s_spatial *= 2.0
        s_color *= 2.0
    if todo.any():
        out[:, todo] = mean[:, None]
    return _to_rgb(y, out, mono)


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------

register_colorizer("mean")(_function_factory(mean_chroma_colorize))
register_colorizer("levin")(_function_factory(levin_colorize))
register_colorizer("dt")(_function_factory(domain_transform_colorize))
register_colorizer("local-linear")(_function_factory(local_linear_colorize))
register_colorizer("validated-blend")(_function_factory(validated_blend_colorize))


def _internal_factory(default_preset: str) -> ColorizerFactory:
    def factory(
        *, preset: str | None = None, seed: int = 0, device: str | torch.device = "cpu", progress: bool = False,
        **settings,
    ) -> Colorizer:
        config = internal_preset(preset or default_preset, **settings)
        return InternalColorizer(config, device=device, seed=seed, progress=progress)

    return factory


INTERNAL_COLORIZERS = ("internal", "internal-base")
register_colorizer("internal")(_internal_factory("fast"))
register_colorizer("internal-base")(_internal_factory("base"))
