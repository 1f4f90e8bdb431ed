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
network. Measured on the colorization benchmark (BENCHMARKS.md) it beats ``levin`` on
average but loses to it on some images, which is why the ``validated-blend`` colorizer weighs the two.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse
import torch

from eiip.colorize.stencil import StencilPropagator

__all__ = ["local_linear_laplacian", "local_linear_propagator", "local_linear_rows"]


def _check(eps: float, radius: int, shape: tuple[int, int]) -> int:
    """The window side; ValueError for eps <= 0, radius < 1 or an image smaller than one window."""
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    if int(radius) != radius or radius < 1:
        raise ValueError(f"radius must be a positive integer, got {radius!r}")
    side = 2 * int(radius) + 1
    if shape[0] < side or shape[1] < side:
        raise ValueError(f"the local linear model needs an image of at least {side}x{side}, got {shape[0]}x{shape[1]}")
    return side


def _trailing_sums(array: np.ndarray, length: int, axis: int) -> np.ndarray:
    """Entry r of ``array`` summed with the ``length - 1`` entries before it along ``axis`` (fewer at the start)."""
    total = array.copy()
    for k in range(1, length):
        ahead = [slice(None)] * array.ndim
        behind = [slice(None)] * array.ndim
        ahead[axis], behind[axis] = slice(k, None), slice(None, -k)
        total[tuple(ahead)] += array[tuple(behind)]
    return total


def local_linear_rows(y: np.ndarray, eps: float, radius: int = 1
                      ) -> tuple[np.ndarray, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """The matting Laplacian of the monochrome ``y`` (H, W) as a stencil: offsets (D, 2), D = (4 radius + 1)^2,
    and ``rows_of(rows, cols)``, the (n, D) entries (i, i + offsets[d]) of the pixels i at (rows, cols).

    Only windows lying wholly inside the image are used. Entry (i, j) sums over the windows k holding
    both pixels ``delta_ij - (1 + (Y_i - mu_k)(Y_j - mu_k) / (var_k + eps / n)) / n``, with n the
    window's pixel count and mu_k, var_k the mean and population variance of Y over it. Expanded,
    that is ``|K| (delta_ij - 1/n) - Y_i Y_j sum s_k + (Y_i + Y_j) sum s_k mu_k - sum s_k mu_k^2`` with
    s_k = 1 / (n var_k + eps) and the sums over the windows K holding both, a box of window positions:
    the entries of every pixel are computed here, once, from box sums of shifted arrays (no gathers, no
    loop over window pairs), and ``rows_of`` only picks them (D x H x W floats held). Raises ValueError
    when the image is smaller than one window, or for eps <= 0 or radius < 1.
    """
    side = _check(eps, radius, y.shape)
    h, w = y.shape
    count = side * side
    tops, lefts = h - side + 1, w - side + 1  # window positions (top-left corners)
    values = np.stack([y[dy : dy + tops, dx : dx + lefts] for dy in range(side) for dx in range(side)])
    mean = values.mean(axis=0)
    scale = 1.0 / (count * (values.var(axis=0) + eps / count))
    # maps over the window positions, padded with side - 1 zeros on every side
    padded = [np.pad(corners, side - 1) for corners in (np.ones_like(mean), scale, scale * mean, scale * mean * mean)]
    offsets = np.array([(dy, dx) for dy in range(1 - side, side) for dx in range(1 - side, side)])
    shifted = np.pad(y, side - 1)
    entries = np.empty((len(offsets), h, w))
    for a in range(1, side + 1):
        tall = [_trailing_sums(corners, a, axis=0) for corners in padded]
        for b in range(1, side + 1):
            # box (a, b), entry (r, c): the sum over window positions (r - a + 1 .. r, c - b + 1 .. c), padded
            boxes = [_trailing_sums(column, b, axis=1) for column in tall]
            for d, (dy, dx) in enumerate(offsets):
                if (side - abs(dy), side - abs(dx)) != (a, b):
                    continue
                # windows holding pixel i and i + (dy, dx): the box of positions ending at i + min(0, d)
                top, left = min(0, dy) + side - 1, min(0, dx) + side - 1
                windows, s, s_mean, s_mean2 = (box[top : top + h, left : left + w] for box in boxes)
                y_j = shifted[side - 1 + dy : side - 1 + dy + h, side - 1 + dx : side - 1 + dx + w]
                entries[d] = (windows * (float(dy == 0 and dx == 0) - 1.0 / count) - y * y_j * s
                              + (y + y_j) * s_mean - s_mean2)

    def rows_of(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return entries[:, rows, cols].T

    return offsets, rows_of


def local_linear_laplacian(y: np.ndarray, eps: float, radius: int = 1) -> scipy.sparse.csr_matrix:
    """The (H*W, H*W) matting Laplacian of :func:`local_linear_rows` as a sparse matrix."""
    offsets, rows_of = local_linear_rows(y, eps, radius)
    h, w = y.shape
    rows, cols = (grid.ravel() for grid in np.mgrid[:h, :w])
    ny, nx = rows[:, None] + offsets[:, 0], cols[:, None] + offsets[:, 1]
    entries = rows_of(rows, cols)
    inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w) & (entries != 0)
    pixel = np.broadcast_to((rows * w + cols)[:, None], inside.shape)
    return scipy.sparse.csr_matrix((entries[inside], (pixel[inside], (ny * w + nx)[inside])), shape=(h * w, h * w))


def local_linear_propagator(y: np.ndarray, *, eps: float = 1e-5, radius: int = 1,
                            device: torch.device | str | None = None) -> StencilPropagator:
    """``propagate(values, known, wanted=None)`` for the monochrome ``y`` (H, W) in [0, 1]: ``values``
    (C, H, W) kept where ``known`` (H, W) is True, the local linear model's minimizer elsewhere
    (``L_hh x_h = -L_hk x_k``, :class:`eiip.colorize.stencil.StencilPropagator`); returns (C, H, W).

    The entries of every pixel are computed once, here (:func:`local_linear_rows`); each call picks the
    rows it solves. ``eps`` (1e-5 on the [0, 1] gray scale, chosen on the colorization benchmark among
    1e-4 .. 1e-7) regularizes the slopes a_k: larger values flatten the fill. With a torch ``device`` the
    system is solved there by conjugate gradients.
    """
    return StencilPropagator(*local_linear_rows(y, eps, radius), symmetric=True, device=device)
