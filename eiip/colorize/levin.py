"""Levin, Lischinski and Weiss, "Colorization using Optimization" (SIGGRAPH 2004), on numpy arrays.

:func:`levin_propagator` computes the affinities of one monochrome once and returns a function that
propagates any known chroma through them, so several holes of one image (the held-out validation of
the ``validated-blend`` colorizer) reuse the affinities. ``eiip.colorize.levin_colorize`` is the
colorizer built on it.
"""

from __future__ import annotations

import math

import numpy as np

from eiip.colorize.stencil import StencilPropagator

__all__ = ["levin_propagator", "levin_weights"]


def levin_weights(
    y: np.ndarray, window: int, var_scale: float, sigma_floor: float, min_nearest_weight: float
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Normalized affinities of every pixel to its window neighbours.

    Returns the neighbour offsets (dy, dx) (centre excluded) and weights of shape (K, H, W), zero
    where the neighbour falls outside the image, summing to 1 over K at every pixel.
    """
    h, w = y.shape
    r = window
    padded = np.pad(y, r, mode="edge")
    inside = np.pad(np.ones((h, w), dtype=bool), r, mode="constant", constant_values=False)
    offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if (dy, dx) != (0, 0)]
    neighbours = np.stack([padded[r + dy : r + dy + h, r + dx : r + dx + w] for dy, dx in offsets])
    valid = np.stack([inside[r + dy : r + dy + h, r + dx : r + dx + w] for dy, dx in offsets])

    # Statistics of Y over the window including the centre (population variance).
    count = valid.sum(axis=0) + 1.0
    total = (neighbours * valid).sum(axis=0) + y
    mean = total / count
    var = (((neighbours - mean) ** 2) * valid).sum(axis=0) + (y - mean) ** 2
    var /= count

    diff2 = (neighbours - y) ** 2
    # csig plays the role of 2 sigma_r^2 in exp(-(Y(r) - Y(s))^2 / (2 sigma_r^2)).
    csig = var_scale * var
    # The closest neighbour keeps at least `min_nearest_weight` (before normalization), so a pixel
    # never gets all-vanishing weights.
    nearest = np.where(valid, diff2, np.inf).min(axis=0)
    csig = np.maximum(csig, nearest / -math.log(min_nearest_weight))
    csig = np.maximum(csig, sigma_floor)
    weights = np.exp(-diff2 / csig) * valid
    weights /= weights.sum(axis=0)
    return offsets, weights


def levin_propagator(
    y: np.ndarray,
    *,
    window: int = 1,
    sigma_floor: float = 2e-6,
    var_scale: float = 0.6,
    min_nearest_weight: float = 0.01,
) -> StencilPropagator:
    """``propagate(values, known, wanted=None)`` for the monochrome ``y`` (H, W): Levin's propagation of
    ``values`` (C, H, W) from the pixels where ``known`` (H, W) is True into the others; returns (C, H, W).

    Every hole pixel r satisfies ``U(r) = sum_{s in N(r)} w_rs U(s)``, the zero-residual minimizer of
    ``sum_r (U(r) - sum_s w_rs U(s))^2`` over the hole with the known values as hard constraints.
    N(r) is the (2 window + 1)^2 - 1 neighbourhood inside the image and
    ``w_rs ∝ exp(-(Y(r) - Y(s))^2 / c_r)``, normalized to sum 1 over N(r). As in the authors'
    reference code, ``c_r = var_scale * var_r`` (``var_r`` the variance of Y over the window including
    r; ``var_scale`` = 0.6), raised so that the closest neighbour gets weight at least
    ``min_nearest_weight`` (0.01) and floored at ``sigma_floor`` (2e-6). The affinities are computed
    once, here; each call solves the rows of the hole pixels (:class:`eiip.colorize.stencil.StencilPropagator`:
    the known neighbours on the right-hand side, one factorization for all channels).
    """
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a positive integer radius, got {window!r}")
    if not sigma_floor > 0 or not var_scale > 0 or not 0 < min_nearest_weight < 1:
        raise ValueError("sigma_floor and var_scale must be > 0 and min_nearest_weight in (0, 1)")
    offsets, weights = levin_weights(y, int(window), var_scale, sigma_floor, min_nearest_weight)
    # the row of r: U(r) - sum_s w_rs U(s)
    return StencilPropagator(np.array([(0, 0), *offsets]), np.concatenate([np.ones((1, *y.shape)), -weights]))
