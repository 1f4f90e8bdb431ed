"""Chroma propagation with a local linear model of chroma in the monochrome.

In every (2 r + 1)^2 window w_k of the image the chroma is modelled as an affine function of the
monochrome, ``U(i) = a_k Y(i) + b_k`` for i in w_k. Minimizing

    sum_k [ sum_{i in w_k} (U(i) - a_k Y(i) - b_k)^2 + eps a_k^2 ]

over the per-window (a_k, b_k) leaves a quadratic form ``U^T L U`` in the chroma alone, with L the
"matting Laplacian" of Levin, Lischinski and Weiss, "A Closed-Form Solution to Natural Image Matting"
(CVPR 2006 / TPAMI 2008), here with the one-channel monochrome as guide. Levin et al. (2004, the
``levin`` colorizer) mention this affinity for colorization; this module solves it as written: the
known chroma is fixed and the hole's chroma minimizes ``U^T L U``, one sparse linear system for I and
Q together.

Unlike the ``levin`` affinity (a weighted mean of neighbours with similar gray level), the local
linear model lets chroma follow shading inside the hole: a surface whose chroma changes with its
gray level along the hole's border keeps that relation inside. In this sense it is an internal,
per-image fit of a monochrome -> chroma mapping, with one tiny affine model per window instead of a
network. Measured on the colorization benchmark (BENCHMARKS.md, issue 6) it beats ``levin`` on
average but loses to it on some images, which is why the ``validated-blend`` colorizer weighs the two.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

__all__ = ["local_linear_laplacian", "local_linear_propagator", "propagate_with_laplacian"]


def local_linear_laplacian(y: np.ndarray, eps: float, radius: int = 1) -> scipy.sparse.csr_matrix:
    """The (H*W, H*W) matting Laplacian of the monochrome ``y`` (H, W) with windows of radius ``radius``.

    Only windows lying wholly inside the image are used. Entry (i, j) sums over the windows holding
    both pixels ``delta_ij - (1 + (Y_i - mu_k)(Y_j - mu_k) / (var_k + eps / n)) / n``, with n the
    window's pixel count and mu_k, var_k the mean and population variance of Y over it.
    Raises ValueError when the image is smaller than one window, or for eps <= 0 or radius < 1.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    if int(radius) != radius or radius < 1:
        raise ValueError(f"radius must be a positive integer, got {radius!r}")
    h, w = y.shape
    side = 2 * int(radius) + 1
    if h < side or w < side:
        raise ValueError(f"the local linear model needs an image of at least {side}x{side}, got {h}x{w}")
    count = side * side
    rows, cols = h - side + 1, w - side + 1  # window positions (top-left corners)
    offsets = [(dy, dx) for dy in range(side) for dx in range(side)]
    index = np.arange(h * w).reshape(h, w)
    values = np.stack([y[dy : dy + rows, dx : dx + cols] for dy, dx in offsets])  # (n, rows, cols)
    members = np.stack([index[dy : dy + rows, dx : dx + cols] for dy, dx in offsets])
    centred = values - values.mean(axis=0)
    inverse = 1.0 / (values.var(axis=0) + eps / count)

    row_ids, col_ids, entries = [], [], []
    for a in range(count):
        for b in range(count):
            entry = -(1.0 + centred[a] * centred[b] * inverse) / count
            if a == b:
                entry = entry + 1.0
            row_ids.append(members[a].ravel())
            col_ids.append(members[b].ravel())
            entries.append(entry.ravel())
    return scipy.sparse.csr_matrix(
        (np.concatenate(entries), (np.concatenate(row_ids), np.concatenate(col_ids))), shape=(h * w, h * w)
    )


def propagate_with_laplacian(laplacian: scipy.sparse.spmatrix, values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Minimize ``x^T L x`` per channel with x fixed to ``values`` (C, H, W) where ``known`` (H, W) is True.

    Returns (C, H, W): ``values`` at the known pixels and the minimizer in the hole
    (``L_hh x_h = -L_hk x_k``, factorized once with SuperLU for all channels).
    """
    flat_known = known.ravel()
    hole = ~flat_known
    out = values.reshape(values.shape[0], -1).copy()
    if not hole.any():
        return out.reshape(values.shape)
    hole_rows = laplacian[hole]
    rhs = -(hole_rows[:, flat_known] @ out[:, flat_known].T)
    out[:, hole] = scipy.sparse.linalg.splu(hole_rows[:, hole].tocsc()).solve(rhs).T
    return out.reshape(values.shape)


def local_linear_propagator(
    y: np.ndarray, *, eps: float = 1e-5, radius: int = 1
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``propagate(values, known)`` for the monochrome ``y`` (H, W) in [0, 1]: ``values`` (C, H, W) kept
    where ``known`` (H, W) is True, the local linear model's minimizer elsewhere; returns (C, H, W).

    The Laplacian is built once, here. ``eps`` (1e-5 on the [0, 1] gray scale, chosen on the
    colorization benchmark among 1e-4 .. 1e-7) regularizes the slopes a_k: larger values flatten the fill.
    """
    laplacian = local_linear_laplacian(y, eps, radius)

    def propagate(values: np.ndarray, known: np.ndarray) -> np.ndarray:
        return propagate_with_laplacian(laplacian, np.where(known, values, 0.0), known)

    return propagate
