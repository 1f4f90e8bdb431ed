"""Blend several chroma propagations with weights fitted, per image, on held-out known pixels.

No propagation wins on every image (BENCHMARKS.md, issue 6): ``local-linear`` beats ``levin`` on
average and loses to it on some images. Each image therefore decides for itself: copies of its
hole, shifted cyclically by fixed fractions of the image size, are hidden from its known pixels;
every candidate propagation fills them from the remaining known pixels; the blend weights (w_i >= 0,
sum 1) minimize the squared chroma error on those held-out pixels, whose true colors are known; the
candidates' fills of the real hole, from all known pixels, are then blended with these weights.

A *propagator* here is ``propagate(values, known, wanted) -> values``: ``values`` (C, H, W) is kept
where ``known`` (H, W) is True and filled elsewhere, at least at the ``wanted`` (H, W) pixels (the
stencil propagators ``eiip.colorize.levin.levin_propagator`` and
``eiip.colorize.local_linear.local_linear_propagator`` solve only the parts of the unknown pixels
coupled to them, so a held-out set far from the hole costs a system of its own size).
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np

__all__ = ["HOLDOUT_SHIFTS", "Propagate", "area_downsample", "blend_weights", "check_holdouts", "fit_blend_weights",
           "holdout_masks", "validated_blend"]

Propagate = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``propagate(values (C, H, W), known (H, W) bool, wanted (H, W) bool) -> (C, H, W)``."""

HOLDOUT_SHIFTS: tuple[tuple[float, float], ...] = (
    (0.0, 0.5), (0.5, 0.0), (0.5, 0.5), (1 / 3, 2 / 3), (2 / 3, 1 / 3), (0.25, 0.75), (0.75, 0.25), (2 / 3, 2 / 3),
)
"""Cyclic shifts of the hole, as fractions of (H, W), that make the held-out sets (in this order)."""


def check_holdouts(count: int) -> None:
    """Raise ValueError unless ``count`` is a valid number of held-out sets (1..len(HOLDOUT_SHIFTS))."""
    if isinstance(count, bool) or int(count) != count or not 1 <= count <= len(HOLDOUT_SHIFTS):
        raise ValueError(f"the number of held-out sets must be an integer in 1..{len(HOLDOUT_SHIFTS)}, got {count!r}")


def holdout_masks(known: np.ndarray, count: int) -> list[np.ndarray]:
    """The first ``count`` held-out sets: the hole shifted by :data:`HOLDOUT_SHIFTS`, restricted to
    the known pixels (a set with no pixel, or leaving no known pixel outside it, is dropped)."""
    check_holdouts(count)
    h, w = known.shape
    masks = []
    for fy, fx in HOLDOUT_SHIFTS[: int(count)]:
        held_out = np.roll(~known, (round(fy * h), round(fx * w)), axis=(0, 1)) & known
        if held_out.any() and (known & ~held_out).any():
            masks.append(held_out)
    return masks


def blend_weights(predictions: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Weights w (N,), w >= 0 and sum 1, minimizing ``|| sum_i w_i predictions[i] - target ||^2``.

    ``predictions`` is (N, M), ``target`` (M,). Exact: every support of the weights is tried (N is a
    handful of candidates), each solved with its sum-to-one constraint; the best feasible one wins.
    """
    count = predictions.shape[0]
    gram = predictions @ predictions.T
    cross = predictions @ target
    best, best_error = None, np.inf
    for size in range(1, count + 1):
        for support in itertools.combinations(range(count), size):
            chosen = list(support)
            # KKT system of min w^T G w - 2 c^T w subject to 1^T w = 1 on the support
            kkt = np.zeros((size + 1, size + 1))
            kkt[:size, :size] = gram[np.ix_(chosen, chosen)]
            kkt[:size, size] = kkt[size, :size] = 1.0
            solution = np.linalg.lstsq(kkt, np.append(cross[chosen], 1.0), rcond=None)[0][:size]
            if (solution < -1e-12).any():
                continue
            weights = np.zeros(count)
            clipped = np.clip(solution, 0.0, None)
            weights[chosen] = clipped / clipped.sum()
            error = weights @ gram @ weights - 2.0 * cross @ weights
            if error < best_error - 1e-15:
                best, best_error = weights, error
    return best


def area_downsample(y: np.ndarray, values: np.ndarray, known: np.ndarray, scale: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The monochrome (H, W), values (C, H, W) and known mask (H, W) averaged over ``scale`` x ``scale``
    blocks (the last H % scale rows and W % scale columns dropped); a block is known when all its pixels are."""
    h, w = (y.shape[0] // scale) * scale, (y.shape[1] // scale) * scale

    def blocks(array: np.ndarray) -> np.ndarray:
        return array[..., :h, :w].reshape(*array.shape[:-2], h // scale, scale, w // scale, scale)

    return blocks(y).mean(axis=(-3, -1)), blocks(np.where(known, values, 0.0)).mean(axis=(-3, -1)), blocks(known).all(axis=(-3, -1))


def fit_blend_weights(propagators: Sequence[Propagate], values: np.ndarray, known: np.ndarray, holdouts: int,
                      pool: ThreadPoolExecutor) -> np.ndarray:
    """Simplex weights (N,) of the propagators' fills of ``values`` (C, H, W) on the held-out sets of ``known``.

    Equal weights when there is no usable held-out set (e.g. a hole covering almost everything); a
    single propagator gets weight 1 without any fill. The fills run on ``pool``.
    """
    sets = holdout_masks(known, holdouts) if len(propagators) > 1 else []
    if not sets:
        return np.full(len(propagators), 1.0 / len(propagators))
    fills = {(i, j): pool.submit(propagate, values, known & ~held_out, held_out)
             for j, held_out in enumerate(sets) for i, propagate in enumerate(propagators)}
    predictions = np.stack([np.concatenate([fills[i, j].result()[:, held_out].ravel() for j, held_out in enumerate(sets)])
                            for i in range(len(propagators))])
    return blend_weights(predictions, np.concatenate([values[:, held_out].ravel() for held_out in sets]))


def validated_blend(
    propagators: Sequence[Propagate], values: np.ndarray, known: np.ndarray, holdouts: int, *,
    validation: tuple[Sequence[Propagate], np.ndarray, np.ndarray] | None = None, threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Blend of the propagators' fills of ``values`` (C, H, W) from ``known`` (H, W), weighted on held-out sets.

    ``validation``: (propagators, values, known) of another copy of the image (a downsampled one,
    :func:`area_downsample`) on which the weights are fitted instead (:func:`fit_blend_weights`).
    ``threads``: how many fills run at once (SciPy's sparse factorization releases the GIL).
    Returns the blended (C, H, W) values (``values`` at the known pixels) and the weights (N,).
    """
    if not propagators:
        raise ValueError("validated_blend needs at least one propagator")
    with ThreadPoolExecutor(max(1, int(threads))) as pool:
        weights = fit_blend_weights(*(validation or (propagators, values, known)), holdouts, pool)
        fills = [pool.submit(propagate, values, known, ~known) for weight, propagate in zip(weights, propagators) if weight > 0]
        blended = sum(weight * fill.result() for weight, fill in zip(weights[weights > 0], fills))
    return np.where(known, values, blended), weights
