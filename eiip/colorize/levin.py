"""Levin, Lischinski and Weiss, "Colorization using Optimization" (SIGGRAPH 2004), on numpy arrays.

:func:`levin_propagator` computes the affinities of one monochrome once and returns a function that
propagates any known chroma through them, so several holes of one image (the held-out validation of
the ``validated-blend`` colorizer) reuse the affinities. ``eiip.colorize.levin_colorize`` is the
colorizer built on it.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

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
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``propagate(values, known)`` for the monochrome ``y`` (H, W): Levin's propagation of ``values``
    (C, H, W) from the pixels where ``known`` (H, W) is True into the others; returns (C, H, W).

    Every hole pixel r satisfies ``U(r) = sum_{s in N(r)} w_rs U(s)``, the zero-residual minimizer of
    ``sum_r (U(r) - sum_s w_rs U(s))^2`` over the hole with the known values as hard constraints.
    N(r) is the (2 window + 1)^2 - 1 neighbourhood inside the image and
    ``w_rs ∝ exp(-(Y(r) - Y(s))^2 / c_r)``, normalized to sum 1 over N(r). As in the authors'
    reference code, ``c_r = var_scale * var_r`` (``var_r`` the variance of Y over the window including
    r; ``var_scale`` = 0.6), raised so that the closest neighbour gets weight at least
    ``min_nearest_weight`` (0.01) and floored at ``sigma_floor`` (2e-6). The linear system is built
    (vectorized) over the hole pixels only, the known neighbours moving to the right-hand side, and
    factorized once with SuperLU for all channels. The affinities are computed once, here.
    """
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a positive integer radius, got {window!r}")
    if not sigma_floor > 0 or not var_scale > 0 or not 0 < min_nearest_weight < 1:
        raise ValueError("sigma_floor and var_scale must be > 0 and min_nearest_weight in (0, 1)")
    offsets, weights = levin_weights(y, int(window), var_scale, sigma_floor, min_nearest_weight)
    h, w = y.shape

    def propagate(values: np.ndarray, known: np.ndarray) -> np.ndarray:
        out = values.copy()
        hole = ~known
        n = int(hole.sum())
        if n == 0:
            return out
        index = np.full((h, w), -1, dtype=np.int64)
        index[hole] = np.arange(n)
        hole_rows, hole_cols = np.nonzero(hole)  # row-major, matching `index`
        rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.ones(n)]
        rhs = np.zeros((n, values.shape[0]))
        for k, (dy, dx) in enumerate(offsets):
            ny, nx = hole_rows + dy, hole_cols + dx
            inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            src = np.nonzero(inside)[0]
            ny, nx = ny[inside], nx[inside]
            wk = weights[k, hole_rows[src], hole_cols[src]]
            neighbour = index[ny, nx]
            is_hole = neighbour >= 0
            rows.append(src[is_hole])
            cols.append(neighbour[is_hole])
            vals.append(-wk[is_hole])
            from_known = ~is_hole
            np.add.at(rhs, src[from_known], wk[from_known, None] * values[:, ny[from_known], nx[from_known]].T)
        matrix = scipy.sparse.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        )
        out[:, hole] = scipy.sparse.linalg.splu(matrix).solve(rhs).T
        return out

    return propagate
