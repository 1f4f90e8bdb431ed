"""The torch path of the propagating colorizers (eiip.colorize.torch_solve): equal to the SciPy path, batched."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
import torch

from eiip.color import rgb_to_mono, rgb_to_yiq
from eiip.colorize import colorize_batch, get_colorizer
from eiip.colorize.classical import solve_device
from eiip.colorize.levin import levin_propagator
from eiip.colorize.local_linear import local_linear_propagator
from eiip.colorize.stencil import propagate_together
from eiip.colorize.torch_solve import NotConvergedError, solve_systems
from eiip.data.samples import load_sample_photo
from eiip.masks import generate_mask

TOLERANCE = 1e-4
"""Max abs chroma difference allowed between the torch and SciPy paths' float32 RGB (measured: below 1e-7)."""

PROPAGATORS = {"levin": levin_propagator, "local-linear": local_linear_propagator}


@pytest.fixture(autouse=True)
def one_thread():
    """Many steps on small tensors: one thread, as a thread pool stalls them on a loaded machine (25x measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _image(photo: str, kind: str, seed: int, size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(1, H, W) mono, (3, H, W) RGB and (1, H, W) known mask of a real photo with a 15-30 % hole."""
    rgb = load_sample_photo(photo, size)
    hole = generate_mask(kind, size, size, np.random.default_rng(seed), ratio=(0.15, 0.3))
    return rgb_to_mono(rgb), rgb, torch.from_numpy(hole < 0.5)[None]


def _chroma(rgb: torch.Tensor) -> torch.Tensor:
    return rgb_to_yiq(rgb.double())[..., 1:, :, :]


def _chroma_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return (_chroma(a) - _chroma(b)).abs().max().item()


@pytest.mark.parametrize("name", ["levin", "local-linear"])
@pytest.mark.parametrize("photo, kind", [("astronaut", "rect"), ("coffee", "freeform")])
def test_the_torch_path_equals_the_scipy_path_on_real_photos(name: str, photo: str, kind: str) -> None:
    mono, rgb, known = _image(photo, kind, seed=1)
    direct = get_colorizer(name)(mono, rgb, known)
    iterative = get_colorizer(name, solver="torch")(mono, rgb, known)
    assert _chroma_gap(iterative, direct) < TOLERANCE
    assert torch.equal(get_colorizer(name, solver="scipy")(mono, rgb, known), direct)  # auto on the CPU: SciPy
    # the float64 fills themselves (measured: within 1e-9)
    make = PROPAGATORS[name]
    y, values, mask = mono[0].double().numpy(), _chroma(rgb).numpy(), known[0].numpy()
    assert np.abs(make(y, device="cpu")(values, mask) - make(y)(values, mask)).max() < 1e-7


def test_calls_of_several_propagators_and_paths_solved_together_equal_each_alone() -> None:
    mono, rgb, known = _image("rocket", "freeform", seed=6)
    y, values, mask = mono[0].double().numpy(), _chroma(rgb).numpy(), known[0].numpy()
    wanted = np.zeros_like(mask)
    wanted[np.argwhere(~mask)[0][0], np.argwhere(~mask)[0][1]] = True
    calls = [(levin_propagator(y, device="cpu"), values, mask, None), (local_linear_propagator(y), values, mask, None),
             (local_linear_propagator(y, device="cpu"), values, mask, wanted),
             (levin_propagator(y, device="cpu"), values, mask, wanted)]
    for together, (propagate, *arguments) in zip(propagate_together(calls), calls):
        assert np.abs(together - propagate(*arguments)).max() < 1e-12


def test_the_validated_blend_through_the_torch_path_equals_the_scipy_path() -> None:
    """Its weights minimize a strictly convex quadratic of the candidates' held-out fills, which the
    two paths give within ~1e-8: the weights, and so the blend, move by the same order (measured below
    1e-7 in chroma), far inside the tolerance."""
    mono, rgb, known = _image("chelsea", "freeform", seed=2)
    direct = get_colorizer("validated-blend")(mono, rgb, known)
    assert _chroma_gap(get_colorizer("validated-blend", solver="torch")(mono, rgb, known), direct) < TOLERANCE


@pytest.mark.parametrize("name", ["levin", "validated-blend"])
def test_a_batch_solved_together_equals_each_image_solved_alone(name: str) -> None:
    images = [_image("astronaut", "rect", 3), _image("coffee", "freeform", 4), _image("rocket", "freeform", 5)]
    batch = [torch.stack(parts) for parts in zip(*images)]
    colorizer = get_colorizer(name, solver="torch")
    together = colorize_batch(colorizer, *batch)
    alone = torch.stack([colorizer(*image) for image in images])
    assert _chroma_gap(together, alone) < 1e-6  # measured: equal (each system iterates as if alone)
    assert _chroma_gap(together, colorize_batch(get_colorizer(name), *batch)) < TOLERANCE


def test_solve_systems_matches_a_direct_solve_per_system_and_channel() -> None:
    rng = np.random.default_rng(0)
    systems = []
    for n in (30, 0, 55):
        random = scipy.sparse.random(n, n, density=0.1, random_state=rng, format="csr")
        matrix = (random + random.T + scipy.sparse.diags(np.full(n, 4.0))).tocsr()  # symmetric, diagonally dominant
        systems.append((matrix, rng.normal(size=(n, 2))))
    systems[2][1][:, 1] = 0.0  # a zero right-hand side: solved by zero
    for symmetric in (True, False):
        solutions = solve_systems(systems, device="cpu", symmetric=symmetric, rtol=1e-12)
        assert [solution.shape for solution in solutions] == [rhs.shape for _, rhs in systems]
        for (matrix, rhs), solution in zip(systems[::2], solutions[::2]):
            assert np.abs(solution - scipy.sparse.linalg.spsolve(matrix.tocsc(), rhs)).max() < 1e-9


def test_levin_rows_need_bicgstab_and_an_initial_guess_is_used() -> None:
    mono, rgb, known = _image("astronaut", "rect", seed=1, size=32)
    values = _chroma(rgb).numpy()
    matrix, rhs, _ = levin_propagator(mono[0].double().numpy()).system(values, known[0].numpy())
    exact = scipy.sparse.linalg.spsolve(matrix.tocsc(), rhs)
    assert np.abs(solve_systems([(matrix, rhs)], device="cpu", symmetric=False)[0] - exact).max() < 1e-8
    # the exact solution as initial guess: converged before the first step (max_iter=0 does not raise)
    solve_systems([(matrix, rhs)], device="cpu", symmetric=False, x0=[exact], max_iter=0, rtol=1e-8)


def test_max_iter_without_convergence_raises_with_the_residual_reached() -> None:
    mono, rgb, known = _image("astronaut", "freeform", seed=1, size=32)
    matrix, rhs, _ = levin_propagator(mono[0].double().numpy()).system(_chroma(rgb).numpy(), known[0].numpy())
    with pytest.raises(NotConvergedError, match=r"after 1 iterations \(worst [0-9.]+e[-+]\d+\)"):
        solve_systems([(matrix, rhs)], device="cpu", symmetric=False, max_iter=1)


def test_solver_option() -> None:
    cpu = torch.device("cpu")
    assert solve_device("auto", cpu) is None and solve_device("scipy", cpu) is None
    assert solve_device("torch", cpu) == cpu and solve_device("auto", torch.device("cuda")) == torch.device("cuda")
    with pytest.raises(ValueError, match="solver"):
        get_colorizer("levin", solver="cholmod")(*_image("astronaut", "rect", seed=1, size=16))
