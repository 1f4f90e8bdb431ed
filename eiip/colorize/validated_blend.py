"""Blend several chroma propagations with weights fitted, per image, on held-out known pixels.

No propagation wins on every image (BENCHMARKS.md, issue 6): ``local-linear`` beats ``levin`` on
average and loses to it on some images. Each image therefore decides for itself: copies of its
hole, shifted cyclically by fixed fractions of the image size, are hidden from its known pixels;
every candidate propagation fills them from the remaining known pixels; the blend weights (w_i >= 0,
sum 1) minimize the squared chroma error on those held-out pixels, whose true colors are known; the
candidates' fills of the real hole, from all known pixels, are then blended with these weights.

A *propagator* here is ``propagate(values, known) -> values``: ``values`` (C, H, W) is kept where
``known`` (H, W) is True and filled elsewhere (``eiip.colorize.levin.levin_propagator``,
``eiip.colorize.local_linear.local_linear_propagator``).
"""

from __future__ import annotations

import itertools
from typing import Callable, Sequence

import numpy as np

__all__ = ["HOLDOUT_SHIFTS", "Propagate", "blend_weights", "check_holdouts", "holdout_masks", "validated_blend"]

Propagate = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``propagate(values (C, H, W), known (H, W) bool) -> (C, H, W)``."""

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


def validated_blend(
    propagators: Sequence[Propagate], values: np.ndarray, known: np.ndarray, holdouts: int
) -> tuple[np.ndarray, np.ndarray]:
    """Blend of the propagators' fills of ``values`` (C, H, W) from ``known`` (H, W), weighted on held-out sets.

    Returns the blended (C, H, W) values (``values`` at the known pixels) and the weights (N,).
    With no usable held-out set (e.g. a hole covering almost everything) the weights are equal; a
    single propagator gets weight 1 without any held-out fill.
    """
    if not propagators:
        raise ValueError("validated_blend needs at least one propagator")
    predictions: list[list[np.ndarray]] = [[] for _ in propagators]
    targets = []
    for held_out in holdout_masks(known, holdouts) if len(propagators) > 1 else []:
        remaining = known & ~held_out
        for collected, propagate in zip(predictions, propagators):
            collected.append(propagate(values, remaining)[:, held_out].ravel())
        targets.append(values[:, held_out].ravel())
    if targets:
        weights = blend_weights(np.stack([np.concatenate(p) for p in predictions]), np.concatenate(targets))
    else:
        weights = np.full(len(propagators), 1.0 / len(propagators))
    blended = sum(weight * propagate(values, known) for weight, propagate in zip(weights, propagators) if weight > 0)
    return np.where(known, values, blended), weights
