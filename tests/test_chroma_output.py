"""The chroma-only output of the internal colorizer: (I, Q) around the given monochrome, kept in gamut."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from eiip.color import rgb_to_mono, rgb_to_yiq
from eiip.colorize.internal import InternalColorizer, InternalConfig
from eiip.colorize.internal.chroma import chroma_to_rgb
from eiip.colorize.internal.generator import ColorGenerator
from eiip.metrics import psnr

CHROMA = InternalConfig(steps=(40, 40), lrs=(0.01, 0.005), width=16, blocks=2, output="chroma")


def test_chroma_of_a_real_photo_gives_the_photo_back(astronaut64: torch.Tensor) -> None:
    yiq = rgb_to_yiq(astronaut64.double())
    assert torch.allclose(chroma_to_rgb(yiq[:1], yiq[1:]), astronaut64.double(), atol=1e-12)


def test_out_of_gamut_chroma_is_scaled_towards_gray_keeping_the_mono() -> None:
    generator = torch.Generator().manual_seed(0)
    mono = torch.rand(2, 1, 16, 16, generator=generator, dtype=torch.float64)
    chroma = torch.randn(2, 2, 16, 16, generator=generator, dtype=torch.float64) * 2
    rgb = chroma_to_rgb(mono, chroma)
    assert rgb.min() >= -1e-12 and rgb.max() <= 1 + 1e-12
    assert torch.allclose(rgb_to_mono(rgb), mono, atol=1e-12)
    # the hue is kept: the output's chroma is a non-negative multiple t <= 1 of the given one
    scale = rgb_to_yiq(rgb)[:, 1:] / chroma
    assert torch.allclose(scale[:, 0], scale[:, 1], atol=1e-9) and scale.min() >= -1e-12 and scale.max() <= 1 + 1e-9
    assert scale.min() < 0.5, "the draw has colors far out of gamut"
    unscaled = chroma_to_rgb(mono, chroma, in_gamut=False)
    assert unscaled.min() < -0.5 and torch.allclose(rgb_to_mono(unscaled), mono, atol=1e-12)


def test_chroma_gradient_pulls_out_of_gamut_predictions_back() -> None:
    mono = torch.full((1, 1, 1, 1), 0.5)
    chroma = torch.tensor([1.5, 0.0]).view(1, 2, 1, 1).requires_grad_()
    target = chroma_to_rgb(mono, torch.tensor([0.1, 0.0]).view(1, 2, 1, 1))
    (chroma_to_rgb(mono, chroma, in_gamut=False) - target).square().sum().backward()
    assert chroma.grad[0, 0, 0, 0] > 0, "descent must shrink I towards the target"


def test_chroma_generator_has_two_linear_outputs_starting_at_gray() -> None:
    generator = ColorGenerator(4, 2, width=8, blocks=1, sigmoid=False)
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in generator.modules())
    assert torch.equal(generator(torch.rand(1, 4, 12, 12)), torch.zeros(1, 2, 12, 12))


def test_chroma_fit_keeps_the_input_mono_exactly(astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    mono = rgb_to_mono(astronaut64)
    result = InternalColorizer(CHROMA, seed=0, progress=False).fit(mono, astronaut64, rect_known)
    assert result.colorized.min() >= 0 and result.colorized.max() <= 1
    assert torch.allclose(rgb_to_mono(result.colorized), mono, atol=2e-6)
    assert psnr(result.colorized, astronaut64, rect_known) > 20.0
    rgb = InternalColorizer(replace(CHROMA, output="rgb"), progress=False)
    assert (rgb_to_mono(rgb(mono, astronaut64, rect_known)) - mono).abs().max() > 1e-3, "the RGB head re-predicts Y"


def test_unknown_output_is_rejected() -> None:
    with pytest.raises(ValueError, match="output"):
        InternalConfig(output="lab")
