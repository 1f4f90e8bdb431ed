"""Blend several chroma propagations with weights fitted, per image, on held-out known pixels.

No propagation wins on every image (BENCHMARKS.md): ``local-linear`` beats ``levin`` on
average and loses to it on some images. Each image therefore decides for itself: copies of its
hole, shifted cyclically by fixed fractions of the image size, are hidden from its known pixels;
every candidate propagation fills them from the remaining known pixels; the blend weights (w_i >= 0,
sum 1) minimize the squared chroma error on those held-out pixels, whose true colors are known; the
candidates' fills of the real hole, from all known pixels, are then blended with these weights.

A *propagator* here is ``propagate(values, known, wanted) -> values``: ``values`` (C, H, W) is kept
where ``known`` (H, W) is True and filled elsewhere, at least at the ``wanted`` (H, W) pixels (at all
unknown pixels when ``wanted`` is None; the stencil propagators ``eiip.colorize.levin.levin_propagator`` and
``eiip.colorize.local_linear.local_linear_propagator`` solve only the parts of the unknown pixels
coupled to them, so a held-out set far from the hole costs a system of its own size). Stencil
propagators on a torch device have all their fills, of every held-out set and image
(:func:`validated_blends`), solved together as one batched system.

An image's fills are :class:`Problem` s of a :class:`BlendTask`: the whole image (:func:`whole_image_task`),
or, for a large image, pieces of it, each hole group and each coupled part of each held-out set in a box
of its own (:func:`eiip.colorize.classical.validated_blend_colorize_batch`), with the same fills.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from eiip.colorize.stencil import StencilPropagator, propagate_together

__all__ = ["HOLDOUT_SHIFTS", "BlendImage", "BlendTask", "Fill", "Problem", "Propagate", "area_downsample", "blend_weights",
           "check_holdouts", "check_shrink_last", "holdout_masks", "run_fills", "validated_blend", "validated_blends", "whole_image_task"]

Propagate = Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray]
"""``propagate(values (C, H, W), known (H, W) bool, wanted (H, W) bool or None) -> (C, H, W)``."""

Fill = tuple[Propagate, np.ndarray, np.ndarray, np.ndarray | None]
"""``(propagate, values, known, wanted)``: one fill to run."""

BlendImage = tuple[Sequence[Propagate], np.ndarray, np.ndarray]
"""``(propagators, values, known)``: the candidates of one image and its values (C, H, W) known at (H, W)."""

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


def _cost(request: Fill) -> int:
    """A size estimate of a fill, to start the largest first: unknown pixels solved x stencil size."""
    propagate, _, known, wanted = request
    if isinstance(propagate, StencilPropagator):
        return int(propagate.unknowns(known, wanted).sum()) * len(propagate.offsets)
    return int((~known).sum())


def run_fills(requests: Sequence[Fill], pool: ThreadPoolExecutor, progress: tqdm | None = None) -> list[np.ndarray]:
    """``propagate(values, known, wanted)`` of every request: those of stencil propagators on a torch device
    in one batched solve (:func:`eiip.colorize.stencil.propagate_together`), the others on ``pool``, the
    largest first (fewer threads idle at the end). ``progress``: a bar advanced by one per fill done."""
    batched = {i for i, (propagate, *_) in enumerate(requests)
               if isinstance(propagate, StencilPropagator) and propagate.device is not None}
    pooled = sorted(set(range(len(requests))) - batched, key=lambda i: -_cost(requests[i]))
    futures = {i: pool.submit(*requests[i]) for i in pooled}
    if progress is not None:
        for future in futures.values():
            future.add_done_callback(lambda _: progress.update())
    solved = dict(zip(sorted(batched), propagate_together([requests[i] for i in sorted(batched)])))
    if progress is not None:
        progress.update(len(batched))
    return [solved[i] if i in batched else futures[i].result() for i in range(len(requests))]


@dataclass(frozen=True, eq=False)
class Problem:
    """One fill of every candidate: their ``propagators`` on an image (or a piece of it), its ``values``
    (C, h, w) known where ``known`` (h, w) is True, and the pixels to fill, ``wanted`` (None: every unknown one)."""

    propagators: Sequence[Propagate]
    values: np.ndarray
    known: np.ndarray
    wanted: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class BlendTask:
    """One image's problems: the ``holes`` are filled and blended, with weights fitted on the fills of the
    held-out sets; ``held_out[k]`` holds the problems that cover set k (its pixels are their ``wanted``)."""

    holes: Sequence[Problem]
    held_out: Sequence[Sequence[Problem]]


def whole_image_task(propagators: Sequence[Propagate], values: np.ndarray, known: np.ndarray, holdouts: int,
                     validation: BlendImage | None = None) -> BlendTask:
    """The task of a whole image: its hole, and the held-out sets of :func:`holdout_masks` (none for a single
    propagator: its weight is 1 anyway), of ``validation`` (propagators, values, known) when given."""
    fitted_propagators, fitted_values, fitted_known = validation or (propagators, values, known)
    sets = holdout_masks(fitted_known, holdouts) if len(propagators) > 1 else []
    held_out = [[Problem(fitted_propagators, fitted_values, fitted_known & ~held, held)] for held in sets]
    return BlendTask([Problem(propagators, values, known)], held_out)


def _fill(problem: Problem, candidate: int) -> Fill:
    return problem.propagators[candidate], problem.values, problem.known, problem.wanted


def check_shrink_last(shrink_last: float) -> None:
    """ValueError unless ``shrink_last`` is a number in [0, 1]."""
    if isinstance(shrink_last, bool) or not isinstance(shrink_last, (int, float)) or not 0 <= shrink_last <= 1:
        raise ValueError(f"shrink_last must be a number in [0, 1], got {shrink_last!r}")


def _weights(task: BlendTask, fills: Iterator[np.ndarray], shrink_last: float = 0.0) -> np.ndarray:
    """The task's simplex weights (N,) from the next fills (its held-out problems', set by set, candidate by
    candidate); equal weights for a task without a held-out set. ``shrink_last``: the fraction of the weights
    taken from the fit without the last candidate (whose weight there is 0) instead of the fit on all."""
    count = len(task.holes[0].propagators)
    if not task.held_out:
        return np.full(count, 1.0 / count)
    predictions: list[list[np.ndarray]] = [[] for _ in range(count)]
    target = []
    for problems in task.held_out:
        for problem in problems:
            for candidate in range(count):
                predictions[candidate].append(next(fills)[:, problem.wanted].ravel())
            target.append(problem.values[:, problem.wanted].ravel())
    stacked, target_values = np.stack([np.concatenate(parts) for parts in predictions]), np.concatenate(target)
    weights = blend_weights(stacked, target_values)
    if shrink_last and count > 1:
        without_last = np.append(blend_weights(stacked[:-1], target_values), 0.0)
        weights = (1.0 - shrink_last) * weights + shrink_last * without_last
    return weights


def validated_blends(tasks: Sequence[BlendTask], *, threads: int = 1, progress: bool = False, shrink_last: float = 0.0
                     ) -> list[tuple[list[np.ndarray], np.ndarray]]:
    """Each task's blended hole problems (``values`` kept at their known pixels) and its weights (N,), all fills
    run at once (:func:`run_fills`: the largest first on the threads; one batched solve on a torch device).

    The stencil propagators fill the holes together with the held-out sets, also one whose weight turns
    out to be 0 (that fill then goes unused): it keeps the threads busy, and on a device it is one solve.
    Any other propagator (e.g. a network colorizer) fills a hole afterwards, only if its weight is not 0.
    ``progress``: a tqdm bar (stderr) of the fills done. ``shrink_last``: see :func:`validated_blend`."""
    check_shrink_last(shrink_last)
    if any(not problem.propagators for task in tasks for problem in task.holes):
        raise ValueError("validated_blend needs at least one propagator")
    requests = [_fill(problem, candidate) for task in tasks for problems in task.held_out for problem in problems
                for candidate in range(len(problem.propagators))]
    holes = [(t, h, j) for t, task in enumerate(tasks) for h, problem in enumerate(task.holes)
             for j in range(len(problem.propagators))]
    eager = [key for key in holes if isinstance(tasks[key[0]].holes[key[1]].propagators[key[2]], StencilPropagator)]
    bar = tqdm(total=len(requests) + len(eager), desc="validated-blend fills", unit="fill", disable=not progress)
    with ThreadPoolExecutor(max(1, int(threads))) as pool, bar:
        fills = run_fills(requests + [_fill(tasks[t].holes[h], j) for t, h, j in eager], pool, bar)
        held_fills = iter(fills[: len(requests)])
        weights = [_weights(task, held_fills, shrink_last) for task in tasks]
        hole_fills = dict(zip(eager, fills[len(requests):]))
        late = [key for key in holes if weights[key[0]][key[2]] > 0 and key not in hole_fills]
        bar.total += len(late)
        hole_fills.update(zip(late, run_fills([_fill(tasks[t].holes[h], j) for t, h, j in late], pool, bar)))
    blends = []
    for t, (task, task_weights) in enumerate(zip(tasks, weights)):
        blended = []
        for h, problem in enumerate(task.holes):
            mixed = sum(weight * hole_fills[t, h, j] for j, weight in enumerate(task_weights) if weight > 0)
            blended.append(np.where(problem.known, problem.values, mixed))
        blends.append((blended, task_weights))
    return blends


def validated_blend(
    propagators: Sequence[Propagate], values: np.ndarray, known: np.ndarray, holdouts: int, *,
    validation: BlendImage | None = None, threads: int = 1, shrink_last: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Blend of the propagators' fills of ``values`` (C, H, W) from ``known`` (H, W), weighted on held-out sets.

    ``validation``: (propagators, values, known) of another copy of the image (a downsampled one,
    :func:`area_downsample`) on which the weights are fitted instead.
    ``threads``: how many fills run at once (SciPy's sparse factorization releases the GIL).
    ``shrink_last`` in [0, 1]: the weights are (1 - shrink_last) x the fit on all propagators plus shrink_last x
    the fit without the last one, a hedge for a candidate that the held-out sets may over-trust (0: the plain fit).
    Returns the blended (C, H, W) values (``values`` at the known pixels) and the weights (N,).
    """
    if not propagators:
        raise ValueError("validated_blend needs at least one propagator")
    task = whole_image_task(propagators, values, known, holdouts, validation)
    (blended,), weights = validated_blends([task], threads=threads, shrink_last=shrink_last)[0]
    return blended, weights
