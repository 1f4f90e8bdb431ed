"""The monochrome constant, YIQ and compositing."""

from __future__ import annotations

import torch

from eiip.color import MONO_WEIGHTS, composite, mono_to_rgb, rgb_to_mono, rgb_to_yiq, yiq_to_rgb


def test_monochrome_is_030_059_011(astronaut64: torch.Tensor) -> None:
    assert MONO_WEIGHTS == (0.30, 0.59, 0.11)
    pure = torch.eye(3).view(3, 3, 1, 1)  # pure red, green, blue pixels
    assert rgb_to_mono(pure).flatten().tolist() == torch.tensor([0.30, 0.59, 0.11]).tolist()
    expected = 0.30 * astronaut64[0] + 0.59 * astronaut64[1] + 0.11 * astronaut64[2]
    assert torch.allclose(rgb_to_mono(astronaut64)[0], expected, atol=1e-6)


def test_yiq_luma_is_the_monochrome_and_round_trips(astronaut64: torch.Tensor) -> None:
    yiq = rgb_to_yiq(astronaut64)
    assert torch.allclose(yiq[:1], rgb_to_mono(astronaut64), atol=1e-6)
    assert torch.allclose(yiq_to_rgb(yiq), astronaut64, atol=1e-5)
    gray = mono_to_rgb(rgb_to_mono(astronaut64))
    assert rgb_to_yiq(gray)[1:].abs().max() < 1e-5  # a gray image has no chroma


def test_composite_keeps_known_pixels(astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    filled = torch.zeros_like(astronaut64)
    result = composite(filled, astronaut64, rect_known)
    assert torch.equal(result[:, ~rect_known[0]], filled[:, ~rect_known[0]])
    assert torch.equal(result[:, rect_known[0]], astronaut64[:, rect_known[0]])
