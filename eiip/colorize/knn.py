"""Non-local chroma propagation: a hole pixel takes the chroma of the known pixels that look like it, anywhere.

``levin`` and ``local-linear`` carry color only from a pixel's neighbours, so a hole that cuts an object
gets the colors of whatever touches its border. This propagator looks for each hole pixel's K most alike
known pixels in the whole image, in the spirit of KNN matting (Chen, Li and Tang, CVPR 2012): per-pixel
features from the monochrome alone (the hole has nothing else) — Y, the mean and standard deviation of
Y over the pixel's 5x5 window, and its position scaled by ``spatial`` / max(H, W) — and affinities
``1 - distance / C`` (C = sqrt(5), a bound of the features' distance on the [0, 1] scale).

Deviation from KNN matting, and why: the matting builds a K-nearest-neighbour graph over *all* pixels and
solves its Laplacian; the graph is non-local, so a sparse direct solve fills in badly (80 s at 512x640
measured, against 2 s here) and its cost follows the image. Here the neighbours are searched among known
pixels only — every known pixel within ``ring`` pixels of the pixels solved and a regular grid of the
others, ``sample`` pixels at most — which gives each hole pixel a direct estimate, the affinity-weighted
mean of its neighbours' chroma; a light local term then smooths it: the fill x solves
``x = (1 - smoothness) * estimate + smoothness * (mean of x over the 4-neighbours)`` (known neighbours
fixed), a contraction solved by Jacobi iterations. Time and memory follow the hole and ``sample``.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import scipy.ndimage
import scipy.sparse
from scipy.spatial import cKDTree

__all__ = ["KnnPropagator", "knn_features"]

_WINDOW = 2
"""Radius of the window of the texture features (5x5)."""

_FEATURES = 5
_AFFINITY_SCALE = math.sqrt(_FEATURES)
"""C of the affinity ``1 - distance / C``: a bound of the distance of features on the [0, 1] scale."""

_MIN_AFFINITY = 1e-6
"""Floor of an affinity, so that a pixel whose neighbours are all far still averages them."""

_TOLERANCE = 1e-10
"""The Jacobi iterations of the smoothing stop when no value changes by more than this."""


def knn_features(y: np.ndarray, rows: np.ndarray, cols: np.ndarray, spatial: float) -> np.ndarray:
    """The (n, 5) features of the pixels at (rows, cols) of ``y`` (H, W): Y, the mean and standard deviation of
    Y over the 5x5 window (clipped at the image's border), and (x, y) * ``spatial`` / max(H, W)."""
    h, w = y.shape
    offsets = np.arange(-_WINDOW, _WINDOW + 1)
    window_rows = np.clip(rows[:, None, None] + offsets[None, :, None], 0, h - 1)
    window_cols = np.clip(cols[:, None, None] + offsets[None, None, :], 0, w - 1)
    window = y[window_rows, window_cols].reshape(rows.size, -1)
    mean = window.mean(axis=1)
    std = np.sqrt(np.maximum((window * window).mean(axis=1) - mean * mean, 0.0))
    scale = spatial / max(h, w)
    return np.stack([y[rows, cols], mean, std, cols * scale, rows * scale], axis=1)


def _sample(known: np.ndarray, solved: np.ndarray, ring: int, sample: int) -> np.ndarray:
    """The sorted flat indices of the known pixels searched: every one within ``ring`` pixels of ``solved`` (H, W),
    and a regular grid over the image of about ``sample`` pixels minus those, of which the known ones."""
    h, w = known.shape
    rows, cols = np.nonzero(solved)
    top, left = max(int(rows.min()) - ring, 0), max(int(cols.min()) - ring, 0)
    bottom, right = min(int(rows.max()) + ring + 1, h), min(int(cols.max()) + ring + 1, w)
    near = solved[top:bottom, left:right]
    if ring:
        near = scipy.ndimage.binary_dilation(near, structure=np.ones((3, 3), dtype=bool), iterations=ring)
    near_rows, near_cols = np.nonzero(near & known[top:bottom, left:right])
    chosen = [(near_rows + top) * w + near_cols + left]
    room = sample - chosen[0].size
    if room > 0:
        stride = max(1, math.ceil(math.sqrt(h * w / room)))
        grid_rows, grid_cols = np.nonzero(known[::stride, ::stride])
        chosen.append(grid_rows * stride * w + grid_cols * stride)
    searched = np.unique(np.concatenate(chosen))
    # no known pixel near the hole nor on the grid: the known pixels are few, search them all
    return searched if searched.size else np.flatnonzero(known)


class KnnPropagator:
    """``propagate(values, known, wanted=None)`` for the monochrome ``y`` (H, W) in [0, 1]: ``values`` (C, H, W)
    kept where ``known`` (H, W) is True, the unknown pixels (those of ``wanted`` only, when given) filled from
    their ``neighbours`` most alike known pixels (module docstring); other pixels left as in ``values``.

    ``spatial``: weight of the position among the features (0: anywhere alike, larger: nearer first; 0.3 was
    chosen on tuning pairs among 0.1, 0.3, 1 and 3, BENCHMARKS.md);
    ``smoothness`` in [0, 1): weight of the 4-neighbours' mean against the non-local estimate; ``sample``: at
    most about this many known pixels searched beyond the ``ring`` around the pixels solved. Deterministic.
    """

    def __init__(self, y: np.ndarray, *, neighbours: int = 10, spatial: float = 0.3, smoothness: float = 0.5,
                 sample: int = 20_000, ring: int = 8) -> None:
        for name, value, low in (("neighbours", neighbours, 1), ("sample", sample, 1), ("ring", ring, 0)):
            if isinstance(value, bool) or int(value) != value or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not spatial >= 0 or not 0 <= smoothness < 1:
            raise ValueError(f"spatial must be >= 0 and smoothness in [0, 1), got {spatial!r} and {smoothness!r}")
        self.y = y
        self.neighbours, self.spatial, self.smoothness = int(neighbours), float(spatial), float(smoothness)
        self.sample, self.ring = int(sample), int(ring)

    def __call__(self, values: np.ndarray, known: np.ndarray, wanted: np.ndarray | None = None) -> np.ndarray:
        solved = ~known if wanted is None else wanted & ~known
        out = values.copy()
        if solved.any():
            flat = values.reshape(values.shape[0], -1)
            rows, cols, fill = self.fill(lambda indices: flat[:, indices].T, known, solved)
            out[:, rows, cols] = fill.T
        return out

    def fill(self, values_at: Callable[[np.ndarray], np.ndarray], known: np.ndarray, solved: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The (n, C) fill of the n pixels of ``solved`` (H, W) at (rows, cols), row-major, from the values
        ``values_at(flat indices)`` -> (m, C) of the known pixels (only those searched and those next to a
        solved pixel are asked for). Returns rows, cols and the fill."""
        searched = _sample(known, solved, self.ring, self.sample)
        width = known.shape[1]
        rows, cols = np.nonzero(solved)
        tree = cKDTree(knn_features(self.y, *np.divmod(searched, width), self.spatial))
        count = min(self.neighbours, searched.size)
        distance, nearest = tree.query(knn_features(self.y, rows, cols, self.spatial), k=count)
        distance, nearest = distance.reshape(rows.size, count), nearest.reshape(rows.size, count)
        affinity = np.maximum(1.0 - distance / _AFFINITY_SCALE, _MIN_AFFINITY)
        affinity /= affinity.sum(axis=1, keepdims=True)
        searched_values = values_at(searched)  # (m, C)
        estimate = np.einsum("nk,nkc->nc", affinity, searched_values[nearest])
        return rows, cols, self._smoothed(estimate, values_at, known, solved, rows, cols)

    def _smoothed(self, estimate: np.ndarray, values_at: Callable[[np.ndarray], np.ndarray], known: np.ndarray,
                  solved: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The (n, C) fill x = (1 - s) estimate + s (mean of x over the 4-neighbours that are known or solved)."""
        if self.smoothness == 0:
            return estimate
        h, w = solved.shape
        # the solved pixels' numbers in their bounding box grown by one pixel (-1: not solved)
        top, left = int(rows.min()) - 1, int(cols.min()) - 1
        position = np.full((int(rows.max()) - top + 2, int(cols.max()) - left + 2), -1, dtype=np.int64)
        position[rows - top, cols - left] = np.arange(rows.size)
        links, fixed, count = [], np.zeros_like(estimate), np.zeros(rows.size)
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            r, c = rows + dy, cols + dx
            inside = np.flatnonzero((r >= 0) & (r < h) & (c >= 0) & (c < w))
            r, c = r[inside], c[inside]
            other = position[r - top, c - left]
            moving = other >= 0
            links.append((inside[moving], other[moving]))
            held = known[r, c] & ~moving
            fixed[inside[held]] += values_at(r[held] * w + c[held])
            count[inside[moving | held]] += 1
        pixel = np.concatenate([link[0] for link in links])
        neighbour = np.concatenate([link[1] for link in links])
        scale = np.where(count > 0, self.smoothness / np.maximum(count, 1), 0.0)
        mixing = scipy.sparse.csr_matrix((scale[pixel], (pixel, neighbour)), shape=(rows.size, rows.size))
        base = (1.0 - np.where(count > 0, self.smoothness, 0.0))[:, None] * estimate + scale[:, None] * fixed
        fill = estimate
        # x = base + M x, with M's rows summing to at most s < 1: Jacobi converges geometrically
        for _ in range(math.ceil(math.log(_TOLERANCE) / math.log(self.smoothness)) + 1):
            updated = base + mixing @ fill
            change = float(np.abs(updated - fill).max())
            fill = updated
            if change <= _TOLERANCE:
                break
        return fill
