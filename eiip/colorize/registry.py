"""The colorizer interface and registry of the internal stage.

Interface (:class:`Colorizer`)::

    colorizer(mono, rgb_known, known) -> rgb

* ``mono``: (1, H, W) float in [0, 1], the (completed) monochrome of the whole image;
* ``rgb_known``: (3, H, W) float in [0, 1]; only pixels where ``known`` is True are read;
* ``known``: (1, H, W) bool, True for a known pixel and False in the hole;
* returns (3, H, W) float32 in [0, 1] on the device of ``mono``: a colorization of the whole image
  (the caller composites the known pixels back, see :func:`eiip.color.composite`).

:func:`colorize_batch` colorizes K images of one size, (K, C, H, W) tensors, at once: a colorizer
with a ``colorize_batch`` method gets the whole batch, the others are called on each image in turn.

Registry: :data:`COLORIZERS` maps a name to a *factory*, a callable taking keyword options and
returning a :class:`Colorizer`. Use :func:`get_colorizer` to build one, :func:`register_colorizer`
to add one.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable, Protocol

import torch

from eiip.finite import all_finite

__all__ = [
    "COLORIZERS",
    "BatchColorizer",
    "Colorizer",
    "ColorizerFactory",
    "check_colorize_inputs",
    "colorize_batch",
    "colorizer_names",
    "function_factory",
    "get_colorizer",
    "register_colorizer",
    "resolved_settings",
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


class BatchColorizer:
    """A colorizer from a function of (K, C, H, W) batches, ``batch(monos, rgb_known, known, **options)``:
    ``colorize_batch`` calls it, one image is a batch of one."""

    def __init__(self, batch: Callable[..., torch.Tensor], **options: Any) -> None:
        self.batch = batch
        self.options = options

    def __call__(self, mono: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        check_colorize_inputs(mono, rgb_known, known)
        return self.colorize_batch(mono[None], rgb_known[None], known[None])[0]

    def colorize_batch(self, monos: torch.Tensor, rgb_known: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        return self.batch(monos, rgb_known, known, **self.options)


def function_factory(fn: Callable[..., torch.Tensor], *, batched: bool = False) -> ColorizerFactory:
    """A factory binding keyword options of a colorize function (options checked at build time).

    ``batched``: ``fn`` colorizes (K, C, H, W) batches and the colorizers built are :class:`BatchColorizer`.
    """
    signature = inspect.signature(fn)

    def factory(**options) -> Colorizer:
        try:
            signature.bind(None, None, None, **options)
        except TypeError as error:
            raise ValueError(f"invalid options for colorizer {fn.__name__}: {error}") from None
        if batched:
            return BatchColorizer(fn, **options)
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
    if not all_finite(mono):
        raise ValueError("mono has non-finite values")
    if not all_finite(rgb_known, where=known):
        raise ValueError("rgb_known has non-finite values at known pixels")



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
    fit the K images at once; ``levin``, ``local-linear`` and ``validated-blend``, which solve them
    together on a GPU) gets the whole batch; any other is called on each image in turn.
    """
    _check_colorize_batch_inputs(monos, rgb_known, known)
    batched = getattr(colorizer, "colorize_batch", None)
    if callable(batched):
        return batched(monos, rgb_known, known)
    return torch.stack([colorizer(*image) for image in zip(monos, rgb_known, known)])
