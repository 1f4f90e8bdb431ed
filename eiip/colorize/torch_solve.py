"""Many sparse linear systems solved at once with torch (CUDA or CPU), by Krylov iterations.

:func:`solve_systems` stacks K systems ``A_k X_k = B_k`` ((n_k, n_k) SciPy CSR, (n_k, C) right-hand
sides) into one block-diagonal ``torch.sparse_csr_tensor`` and iterates on all of them together: one
sparse matrix product per step for every system and channel, while each Krylov scalar (a dot
product) is a sum over the rows of one system and one channel (a product with the (K, N) 0/1 matrix
of the systems' rows: no atomics, the same on every run). Each of the K * C problems thus follows its
own iteration, as if it were solved alone, and stops changing once converged.

* ``symmetric=True``: conjugate gradients, for symmetric positive definite matrices (the matting
  Laplacian of :mod:`eiip.colorize.local_linear`);
* ``symmetric=False``: BiCGSTAB, for the nonsymmetric rows of :mod:`eiip.colorize.levin`;

both Jacobi (diagonal) preconditioned. Convergence (relative residual ``|B - A X| / |B| <= rtol`` per
system and channel, from the true residual) is checked every ``check_every`` steps only, so that a
GPU does not wait for the host at each step. :class:`NotConvergedError` when ``max_iter`` steps do
not get there.
"""

from __future__ import annotations

import logging
import warnings
from typing import Callable, Sequence

import numpy as np
import scipy.sparse
import torch

__all__ = ["NotConvergedError", "solve_systems"]

_log = logging.getLogger(__name__)


class NotConvergedError(RuntimeError):
    """Some systems did not reach the requested relative residual within ``max_iter`` iterations."""


def _csr(matrix: scipy.sparse.csr_matrix, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A SciPy CSR matrix as a torch sparse CSR tensor (int64 indices)."""
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
        warnings.filterwarnings("ignore", "Sparse CSR tensor support", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(np.int64)), torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.from_numpy(matrix.data), size=matrix.shape, dtype=dtype, device=device, check_invariants=False)


class _Blocks:
    """K systems as one block-diagonal operator; dot products are (K, C), one per system and channel."""

    def __init__(self, matrices: Sequence[scipy.sparse.csr_matrix], device: torch.device, dtype: torch.dtype) -> None:
        stacked = scipy.sparse.block_diag(matrices, format="csr")
        stacked.sort_indices()  # torch's CSR invariant (cuSPARSE kernels assume sorted columns in each row)
        self.count = len(matrices)
        self.matrix = _csr(stacked, device, dtype)
        self.inverse_diagonal = torch.from_numpy(1.0 / stacked.diagonal()).to(device=device, dtype=dtype)[:, None]
        sizes = np.array([m.shape[0] for m in matrices])
        # the (K, N) 0/1 matrix summing the rows of each system: a segment sum without atomics
        ends = np.cumsum(sizes)
        self.summing = _csr(scipy.sparse.csr_matrix((np.ones(ends[-1]), np.arange(ends[-1]), np.append(0, ends)),
                                                    shape=(self.count, ends[-1])), device, dtype)
        self.segment = torch.from_numpy(np.repeat(np.arange(self.count), sizes)).to(device)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """A X for X (N, C)."""
        return self.matrix @ x

    def dot(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per system and channel sum of a * b, (K, C)."""
        return self.summing @ (a * b)

    def spread(self, scalars: torch.Tensor) -> torch.Tensor:
        """(K, C) scalars repeated over the rows of their systems, (N, C)."""
        return scalars[self.segment]


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, 0 where the denominator is 0 (a converged or frozen system)."""
    return torch.where(denominator == 0, 0.0, numerator / torch.where(denominator == 0, 1.0, denominator))


_Step = Callable[[torch.Tensor], None]
"""One Krylov step given the (K, C) mask of the problems still iterating; updates its state in place."""


def _conjugate_gradients(blocks: _Blocks, x: torch.Tensor, residual: torch.Tensor) -> _Step:
    """Jacobi-preconditioned CG from ``x`` (updated in place) and its residual."""
    z = blocks.inverse_diagonal * residual
    direction = z.clone()
    rz = blocks.dot(residual, z)

    def step(active: torch.Tensor) -> None:
        nonlocal rz
        product = blocks.apply(direction)
        alpha = blocks.spread(_ratio(rz, blocks.dot(direction, product)) * active)
        x.add_(alpha * direction)
        residual.sub_(alpha * product)
        z = blocks.inverse_diagonal * residual
        rz_next = blocks.dot(residual, z)
        direction.mul_(blocks.spread(_ratio(rz_next, rz))).add_(z)
        rz = rz_next

    return step


def _bicgstab(blocks: _Blocks, x: torch.Tensor, residual: torch.Tensor) -> _Step:
    """Jacobi-preconditioned (on the right) BiCGSTAB from ``x`` (updated in place) and its residual."""
    shadow = residual.clone()
    direction = torch.zeros_like(x)
    product = torch.zeros_like(x)
    ones = torch.ones(blocks.count, x.shape[1], dtype=x.dtype, device=x.device)
    rho, alpha, omega = ones, ones, ones

    def step(active: torch.Tensor) -> None:
        nonlocal rho, alpha, omega
        rho_next = blocks.dot(shadow, residual)
        beta = _ratio(rho_next * alpha, rho * omega)
        direction.sub_(blocks.spread(omega) * product).mul_(blocks.spread(beta)).add_(residual)
        preconditioned = blocks.inverse_diagonal * direction
        product.copy_(blocks.apply(preconditioned))
        alpha = _ratio(rho_next, blocks.dot(shadow, product)) * active
        residual.sub_(blocks.spread(alpha) * product)  # now s
        corrected = blocks.inverse_diagonal * residual
        second = blocks.apply(corrected)
        omega = _ratio(blocks.dot(second, residual), blocks.dot(second, second)) * active
        x.add_(blocks.spread(alpha) * preconditioned + blocks.spread(omega) * corrected)
        residual.sub_(blocks.spread(omega) * second)
        rho = rho_next

    return step


def solve_systems(
    systems: Sequence[tuple[scipy.sparse.csr_matrix, np.ndarray]],
    *,
    device: torch.device | str,
    symmetric: bool,
    x0: Sequence[np.ndarray | None] | None = None,
    rtol: float = 1e-10,
    max_iter: int = 20000,
    check_every: int = 8,
    dtype: torch.dtype = torch.float64,
) -> list[np.ndarray]:
    """Solutions X_k (n_k, C) of the K ``systems`` (A_k (n_k, n_k) sparse, B_k (n_k, C)), solved together.

    ``symmetric``: CG (A_k symmetric positive definite) rather than BiCGSTAB; the A_k need a nonzero
    diagonal (Jacobi preconditioner). ``x0``: initial guesses (n_k, C), None for zero. Each system and
    channel stops at ``|B - A X| <= rtol |B|`` (checked every ``check_every`` steps); a zero right-hand
    side gives X = 0. The default rtol (1e-10 in float64; float32 cannot reach it) kept the solutions
    of levin and local-linear within 3e-8 of a direct solve on real photos up to 512x640. Raises
    :class:`NotConvergedError` after ``max_iter`` steps with any residual above that, ValueError for
    inconsistent shapes.
    """
    if not systems:
        return []
    channels = {rhs.shape[1] if rhs.ndim == 2 else -1 for _, rhs in systems}
    if len(channels) != 1 or -1 in channels or any(a.shape != (b.shape[0],) * 2 for a, b in systems):
        raise ValueError("every system needs a square (n, n) matrix and an (n, C) right-hand side, with one C")
    x0 = x0 if x0 is not None else [None] * len(systems)
    if len(x0) != len(systems) or any(g is not None and g.shape != b.shape for g, (_, b) in zip(x0, systems)):
        raise ValueError("x0 needs one (n, C) guess (or None) per system")
    sizes = [b.shape[0] for _, b in systems]
    blocks = _Blocks([scipy.sparse.csr_matrix(a) for a, _ in systems], torch.device(device), dtype)

    def stacked(arrays: Sequence[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.concatenate(arrays)).to(device=blocks.matrix.device, dtype=dtype)

    rhs = stacked([b for _, b in systems])
    scale = blocks.dot(rhs, rhs).sqrt()
    x = stacked([np.zeros_like(b) if g is None else g for g, (_, b) in zip(x0, systems)])
    x.mul_(blocks.spread((scale > 0).to(dtype)))  # a zero right-hand side is solved by zero
    residual = rhs - blocks.apply(x)
    step = (_conjugate_gradients if symmetric else _bicgstab)(blocks, x, residual)
    done = 0
    while True:
        relative = _ratio(blocks.dot(*(rhs - blocks.apply(x),) * 2).sqrt(), scale)
        active = (relative > rtol).to(dtype)
        if not bool(active.any()) or done >= max_iter:
            break
        for _ in range(min(int(check_every), int(max_iter) - done)):
            step(active)
            done += 1
    _log.debug("%d systems x %d channels solved in %d iterations", blocks.count, rhs.shape[1], done)
    if bool(active.any()):
        raise NotConvergedError(
            f"{int(active.sum())} of {active.numel()} systems (x channels) above the relative residual {rtol:g} "
            f"after {max_iter} iterations (worst {float(relative.max()):.2e})")
    return [part.numpy() for part in torch.split(x.cpu(), sizes)]
