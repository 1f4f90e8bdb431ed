"""The local linear (matting Laplacian) chroma propagation: the Laplacian's algebra and what it recovers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eiip.color import rgb_to_mono, rgb_to_yiq, yiq_to_rgb
from eiip.colorize import levin_colorize, local_linear_colorize
from eiip.colorize.local_linear import local_linear_laplacian, local_linear_propagator


def _mono(photo: torch.Tensor) -> np.ndarray:
    return rgb_to_mono(photo.double())[0].numpy()


def test_laplacian_is_symmetric_and_annihilates_constants(astronaut64: torch.Tensor) -> None:
    laplacian = local_linear_laplacian(_mono(astronaut64), 1e-5)
    assert laplacian.shape == (64 * 64, 64 * 64)
    assert abs(laplacian - laplacian.T).max() < 1e-9
    assert np.abs(laplacian @ np.ones(64 * 64)).max() < 1e-9
    # positive semi-definite: random quadratic forms are >= 0
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.normal(size=64 * 64)
        assert x @ (laplacian @ x) > 0.0


def test_affine_functions_of_the_mono_cost_only_the_slope_penalty(astronaut64: torch.Tensor) -> None:
    """U = a Y + b fits every window exactly, so its energy is the slope penalty: windows * eps * a^2 (at most)."""
    y = _mono(astronaut64)
    eps, slope = 1e-5, 0.4
    u = (slope * y + 0.1).ravel()
    energy = u @ (local_linear_laplacian(y, eps) @ u)
    windows = 62 * 62
    assert 0.0 < energy <= windows * eps * slope**2
    # a chroma that ignores the mono pays far more
    noise = np.random.default_rng(1).normal(scale=0.05, size=u.shape)
    assert (u + noise) @ (local_linear_laplacian(y, eps) @ (u + noise)) > 100 * energy


def test_chroma_affine_in_the_mono_is_recovered_in_the_hole(astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    """Shading with one albedo: chroma = a Y + b. The local linear model restores it; Levin's mean of neighbours cannot."""
    y = 0.2 + 0.6 * rgb_to_mono(astronaut64.double())
    yiq = torch.cat([y, 0.25 * y - 0.08, -0.1 * y + 0.03])
    rgb = yiq_to_rgb(yiq)
    assert rgb.min() > 0.0 and rgb.max() < 1.0
    mono = y.float()
    hole = ~rect_known[0]
    errors = {}
    for name, colorize in (("local-linear", local_linear_colorize), ("levin", levin_colorize)):
        out = colorize(mono, rgb.float(), rect_known)
        errors[name] = (rgb_to_yiq(out.double())[1:] - yiq[1:])[:, hole].abs().max().item()
    assert errors["local-linear"] < 2e-3
    assert errors["levin"] > 10 * errors["local-linear"]


def test_output_keeps_the_mono_exactly_and_known_pixels(astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    mono = rgb_to_mono(astronaut64)
    out = local_linear_colorize(mono, astronaut64, rect_known)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert (rgb_to_mono(out) - mono).abs().max().item() < 2e-6  # chroma scaled into the gamut, never clipped
    assert (out - astronaut64)[:, rect_known[0]].abs().max().item() < 1e-5


def test_propagator_reuses_its_laplacian_for_any_hole(astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    y = _mono(astronaut64)
    chroma = rgb_to_yiq(astronaut64.double())[1:].numpy()
    propagate = local_linear_propagator(y)
    known = rect_known[0].numpy()
    first = propagate(chroma, known)
    assert np.array_equal(first[:, known], chroma[:, known])
    other = np.roll(known, 16, axis=1)
    second = propagate(chroma, other)
    assert np.allclose(second, local_linear_propagator(y)(chroma, other))
    assert not np.allclose(first, second)
    assert np.array_equal(propagate(chroma, np.ones_like(known)), chroma)  # no hole: unchanged


def test_bad_settings_and_tiny_images_are_rejected() -> None:
    with pytest.raises(ValueError, match="eps"):
        local_linear_laplacian(np.zeros((8, 8)), 0.0)
    with pytest.raises(ValueError, match="radius"):
        local_linear_laplacian(np.zeros((8, 8)), 1e-5, radius=0)
    with pytest.raises(ValueError, match="at least 5x5"):
        local_linear_laplacian(np.zeros((4, 9)), 1e-5, radius=2)


def test_options_reach_the_colorizer(astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    """Larger eps flattens the fill towards the border's mean; 5x5 windows still recover affine chroma."""
    from eiip.colorize import get_colorizer

    y = 0.2 + 0.6 * rgb_to_mono(astronaut64.double())
    yiq = torch.cat([y, 0.25 * y - 0.08, -0.1 * y + 0.03])
    rgb, mono, hole = yiq_to_rgb(yiq).float(), y.float(), ~rect_known[0]

    def hole_error(**options) -> float:
        out = get_colorizer("local-linear", **options)(mono, rgb, rect_known)
        return (rgb_to_yiq(out.double())[1:] - yiq[1:])[:, hole].abs().max().item()

    assert hole_error(radius=2) < 2e-3
    assert hole_error(eps=1.0) > 5 * hole_error()
