"""Propagation through a pixel stencil: the nested-dissection solve equals a dense solve of the same rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eiip.color import rgb_to_mono, rgb_to_yiq
from eiip.colorize.levin import levin_propagator
from eiip.colorize.local_linear import local_linear_laplacian, local_linear_propagator, local_linear_rows
from eiip.colorize.stencil import StencilPropagator, coupled_parts, nested_dissection

PROPAGATORS = {"levin": levin_propagator, "local-linear": local_linear_propagator}


def _dense_solution(propagator: StencilPropagator, values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The rows of the unknown pixels solved densely (np.linalg.solve), built pixel by pixel."""
    h, w = known.shape
    unknown = list(zip(*np.nonzero(~known)))
    position = {pixel: i for i, pixel in enumerate(unknown)}
    matrix = np.zeros((len(unknown), len(unknown)))
    rhs = np.zeros((len(unknown), values.shape[0]))
    for i, (r, c) in enumerate(unknown):
        row = propagator.coefficients(np.array([r]), np.array([c]))[0]
        for (dy, dx), entry in zip(propagator.offsets, row):
            y, x = r + dy, c + dx
            if 0 <= y < h and 0 <= x < w:
                if (y, x) in position:
                    matrix[i, position[y, x]] += entry
                else:
                    rhs[i] -= entry * values[:, y, x]
    out = values.copy()
    out[:, ~known] = np.linalg.solve(matrix, rhs).T
    return out


@pytest.fixture()
def photo() -> tuple[np.ndarray, np.ndarray]:
    """A 24x28 crop of the astronaut: mono (H, W) and chroma (2, H, W), float64."""
    from eiip.data.samples import load_sample_photo

    image = load_sample_photo("astronaut", 48)[:, 10:34, 8:36].double()
    return rgb_to_mono(image)[0].numpy(), rgb_to_yiq(image)[1:].numpy()


@pytest.mark.parametrize("name", sorted(PROPAGATORS))
def test_the_sparse_solve_equals_a_dense_solve_of_the_same_rows(name: str, photo: tuple[np.ndarray, np.ndarray]) -> None:
    y, chroma = photo
    known = np.ones(y.shape, dtype=bool)
    known[5:17, 6:15] = False
    known[19:22, 20:26] = False  # a second part of the hole
    propagator = PROPAGATORS[name](y)
    expected = _dense_solution(propagator, chroma, known)
    assert np.abs(propagator(chroma, known) - expected).max() < 1e-10
    assert np.array_equal(propagator(chroma, known)[:, known], chroma[:, known])


@pytest.mark.parametrize("name", sorted(PROPAGATORS))
def test_wanted_pixels_solve_only_their_own_part(name: str, photo: tuple[np.ndarray, np.ndarray]) -> None:
    y, chroma = photo
    known = np.ones(y.shape, dtype=bool)
    known[2:8, 2:9] = False
    known[15:22, 16:25] = False
    wanted = np.zeros_like(known)
    wanted[16, 18] = True
    propagator = PROPAGATORS[name](y)
    full = propagator(chroma, known)
    part = propagator(chroma, known, wanted)
    assert np.abs(part[:, 15:22, 16:25] - full[:, 15:22, 16:25]).max() < 1e-12
    assert np.array_equal(part[:, 2:8, 2:9], chroma[:, 2:8, 2:9])  # the other part is not solved


def test_coupled_parts_follow_the_stencil_reach() -> None:
    unknown = np.zeros((9, 12), dtype=bool)
    unknown[4, 2] = unknown[4, 4] = unknown[4, 7] = True  # 2 apart, then 3 apart
    wanted = np.zeros_like(unknown)
    wanted[4, 2] = True
    assert np.argwhere(coupled_parts(unknown, wanted, 1)).tolist() == [[4, 2]]
    assert np.argwhere(coupled_parts(unknown, wanted, 2)).tolist() == [[4, 2], [4, 4]]
    assert np.argwhere(coupled_parts(unknown, wanted, 3)).tolist() == [[4, 2], [4, 4], [4, 7]]


def test_nested_dissection_is_a_permutation_with_separators_last() -> None:
    rows, cols = np.nonzero(np.ones((40, 50), dtype=bool))
    order = nested_dissection(rows, cols, reach=2)
    assert np.array_equal(np.sort(order), np.arange(rows.size))
    # the last pixels eliminated form the first cut: a band 2 wide across the longer side (columns)
    last = order[-2 * 40:]
    assert np.ptp(cols[last]) == 1 and np.unique(rows[last]).size == 40


def test_the_laplacian_stencil_matches_a_window_by_window_construction() -> None:
    """Independent construction: each window's (n x n) block I - (1 + c c^T / (var + eps/n)) / n, summed."""
    rng = np.random.default_rng(0)
    y = rng.random((6, 7))
    eps, side = 1e-3, 3
    expected = np.zeros((42, 42))
    for top in range(6 - side + 1):
        for left in range(7 - side + 1):
            index = [(top + dy) * 7 + left + dx for dy in range(side) for dx in range(side)]
            window = y.ravel()[index]
            centred = window - window.mean()
            block = np.eye(9) - (1 + np.outer(centred, centred) / (window.var() + eps / 9)) / 9
            expected[np.ix_(index, index)] += block
    assert np.abs(local_linear_laplacian(y, eps).toarray() - expected).max() < 1e-10
    offsets, rows_of = local_linear_rows(y, eps)
    assert offsets.shape == (25, 2) and rows_of(np.array([0, 5]), np.array([0, 6])).shape == (2, 25)
