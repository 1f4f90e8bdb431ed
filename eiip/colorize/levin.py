"""Levin, Lischinski and Weiss, "Colorization using Optimization" (SIGGRAPH 2004), on numpy arrays.

:func:`levin_propagator` returns a function that propagates any known chroma of one monochrome
into any hole (the held-out validation of the ``validated-blend`` colorizer fills several). ``eiip.colorize.levin_colorize`` is the
colorizer built on it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from eiip.colorize.stencil import StencilPropagator

__all__ = ["levin_propagator", "levin_weights", "window_offsets"]


def window_offsets(window: int) -> np.ndarray:
    """The (K, 2) offsets (dy, dx) of a pixel's neighbours in its (2 window + 1)^2 window, centre excluded."""
    return np.array([(dy, dx) for dy in range(-window, window + 1) for dx in range(-window, window + 1)
                     if (dy, dx) != (0, 0)])


def levin_weights(
    y: np.ndarray, rows: np.ndarray, cols: np.ndarray, window: int, var_scale: float, sigma_floor: float,
    min_nearest_weight: float,
) -> np.ndarray:
    """Normalized affinities (K, n) of the pixels at (rows, cols) of ``y`` (H, W) to their neighbours at
    :func:`window_offsets`: zero where the neighbour falls outside the image, summing to 1 over K."""
    h, w = y.shape
    offsets = window_offsets(window)
    ny = rows + offsets[:, :1]
    nx = cols + offsets[:, 1:]
    valid = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
    neighbours = y[ny.clip(0, h - 1), nx.clip(0, w - 1)]
    centre = y[rows, cols]

    # Statistics of Y over the window including the centre (population variance).
    count = valid.sum(axis=0) + 1.0
    total = (neighbours * valid).sum(axis=0) + centre
    mean = total / count
    var = (((neighbours - mean) ** 2) * valid).sum(axis=0) + (centre - mean) ** 2
    var /= count

    diff2 = (neighbours - centre) ** 2
    # csig plays the role of 2 sigma_r^2 in exp(-(Y(r) - Y(s))^2 / (2 sigma_r^2)).
    csig = var_scale * var
    # The closest neighbour keeps at least `min_nearest_weight` (before normalization), so a pixel
    # never gets all-vanishing weights.
    nearest = np.where(valid, diff2, np.inf).min(axis=0)
    csig = np.maximum(csig, nearest / -math.log(min_nearest_weight))
    csig = np.maximum(csig, sigma_floor)
    weights = np.exp(-diff2 / csig) * valid
    weights /= weights.sum(axis=0)
    return weights


def levin_propagator(
    y: np.ndarray,
    *,
    window: int = 1,
    sigma_floor: float = 2e-6,
    var_scale: float = 0.6,
    min_nearest_weight: float = 0.01,
    device: torch.device | str | None = None,
) -> StencilPropagator:
    """``propagate(values, known, wanted=None)`` for the monochrome ``y`` (H, W): Levin's propagation of
    ``values`` (C, H, W) from the pixels where ``known`` (H, W) is True into the others; returns (C, H, W).

    Every hole pixel r satisfies ``U(r) = sum_{s in N(r)} w_rs U(s)``, the zero-residual minimizer of
    ``sum_r (U(r) - sum_s w_rs U(s))^2`` over the hole with the known values as hard constraints.
    N(r) is the (2 window + 1)^2 - 1 neighbourhood inside the image and
    ``w_rs ∝ exp(-(Y(r) - Y(s))^2 / c_r)``, normalized to sum 1 over N(r). As in the authors'
    reference code, ``c_r = var_scale * var_r`` (``var_r`` the variance of Y over the window including
    r; ``var_scale`` = 0.6), raised so that the closest neighbour gets weight at least
    ``min_nearest_weight`` (0.01) and floored at ``sigma_floor`` (2e-6). Each call computes the
    affinities of the pixels it solves and solves their rows (:class:`eiip.colorize.stencil.StencilPropagator`:
    the known neighbours on the right-hand side, one factorization for all channels; or, with a torch
    ``device``, BiCGSTAB there: the rows are not symmetric).
    """
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a positive integer radius, got {window!r}")
    if not sigma_floor > 0 or not var_scale > 0 or not 0 < min_nearest_weight < 1:
        raise ValueError("sigma_floor and var_scale must be > 0 and min_nearest_weight in (0, 1)")
    radius = int(window)

    def rows_of(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The row of r: U(r) - sum_s w_rs U(s)."""
        weights = levin_weights(y, rows, cols, radius, var_scale, sigma_floor, min_nearest_weight)
        return np.concatenate([np.ones((rows.size, 1)), -weights.T], axis=1)

    return StencilPropagator(np.concatenate([[(0, 0)], window_offsets(radius)]), rows_of, device=device)
