"""The internal colorizer: pyramid shapes, no hole leakage into the loss, fitting, determinism, hints."""

from __future__ import annotations

import pytest
import torch

from eiip.color import rgb_to_mono
from eiip.colorize.internal import ColorHint, InternalColorizer, InternalConfig, build_pyramid
from eiip.colorize.internal.colorizer import masked_loss
from eiip.colorize.internal.generator import ColorGenerator
from eiip.metrics import psnr

FAST = InternalConfig(steps=(40, 40), lrs=(0.01, 0.005), width=16, blocks=2)


def test_pyramid_sizes_halve_per_level_and_round_up() -> None:
    mono, rgb = torch.rand(1, 256, 256), torch.rand(3, 256, 256)
    known = torch.ones(1, 256, 256, dtype=torch.bool)
    known[:, 100:140, 90:150] = False
    pyramid = build_pyramid(mono, rgb, known, levels=3)
    assert pyramid.sizes() == [(64, 64), (128, 128), (256, 256)]
    odd = build_pyramid(torch.rand(1, 101, 77), torch.rand(3, 101, 77), known[:, :101, :77], levels=3)
    assert odd.sizes() == [(26, 20), (51, 39), (101, 77)]
    for level in range(3):
        assert odd.rgb[level].shape[1:] == (3, *odd.sizes()[level])
        assert odd.known[level].shape[1:] == (1, *odd.sizes()[level])


def test_hole_grows_by_max_pooling() -> None:
    known = torch.ones(1, 32, 32, dtype=torch.bool)
    known[0, 10, 10] = False
    pyramid = build_pyramid(torch.rand(1, 32, 32), torch.rand(3, 32, 32), known, levels=2)
    coarse_hole = ~pyramid.known[0][0, 0]
    # full-res row/col 10 lies in the 3x3 stride-2 windows centred on coarse 5 (rows 9..11) only
    assert coarse_hole.nonzero().tolist() == [[5, 5]]


@pytest.mark.parametrize("levels", [1, 2, 3, 4])
def test_no_hole_value_reaches_any_level_target(astronaut64: torch.Tensor, rect_known: torch.Tensor, levels: int) -> None:
    mono = rgb_to_mono(astronaut64)
    white = build_pyramid(mono, astronaut64, rect_known, levels)
    garbage_rgb = torch.where(rect_known, astronaut64, torch.rand_like(astronaut64) * 50 - 25)
    garbage = build_pyramid(mono, garbage_rgb, rect_known, levels, hole_fill=-3.0)
    for level in range(levels):
        known = white.known[level].expand_as(white.rgb[level])
        assert torch.equal(white.rgb[level][known], garbage.rgb[level][known])
        assert (~white.known[level]).any(), "every level keeps a hole"


def test_official_bicubic_resize_lets_the_hole_bleed(astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    """Documents why 'area' is the default: the release's resize leaks the hole fill into known targets."""
    mono = rgb_to_mono(astronaut64)
    white = build_pyramid(mono, astronaut64, rect_known, 3, downsample="bicubic", hole_fill=1.0)
    black = build_pyramid(mono, astronaut64, rect_known, 3, downsample="bicubic", hole_fill=0.0)
    known = white.known[0].expand_as(white.rgb[0])
    assert (white.rgb[0][known] - black.rgb[0][known]).abs().max() > 0.02


def test_masked_loss_ignores_hole_outputs() -> None:
    output = torch.rand(1, 3, 16, 16, requires_grad=True)
    target = torch.rand(1, 3, 16, 16)
    known = torch.rand(1, 1, 16, 16) > 0.3
    for kind in ("l1", "mse"):
        output.grad = None
        masked_loss(output, target, known, kind).backward()
        assert torch.all(output.grad[known.expand_as(output).logical_not()] == 0)
        assert torch.all(output.grad[known.expand_as(output)] != 0)
    expected = (output - target).abs()[known.expand_as(output)].mean()
    assert masked_loss(output, target, known, "l1").item() == pytest.approx(expected.item(), rel=1e-6)


def test_fit_is_independent_of_hole_content(astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    mono = rgb_to_mono(astronaut64)
    garbage = torch.where(rect_known, astronaut64, torch.rand_like(astronaut64))
    colorizer = InternalColorizer(FAST, seed=3, progress=False)
    assert torch.equal(colorizer(mono, astronaut64, rect_known), colorizer(mono, garbage, rect_known))


def test_generator_matches_published_architecture() -> None:
    generator = ColorGenerator(in_channels=4)
    convs = [m for m in generator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 8 * 2 + 2
    assert all(c.kernel_size == (3, 3) and c.padding == (0, 0) for c in convs)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in generator.modules()) == 8 * 2 + 1
    assert sum(isinstance(m, torch.nn.ReflectionPad2d) for m in generator.modules()) == len(convs)
    assert convs[0].in_channels == 4 and convs[-1].out_channels == 3
    output = generator(torch.rand(1, 4, 20, 24))
    assert output.shape == (1, 3, 20, 24) and output.min() > 0 and output.max() < 1


def test_fitted_colorizer_reproduces_known_pixels(astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    config = InternalConfig(steps=(60, 60, 120), lrs=(0.01, 0.005, 0.003))
    result = InternalColorizer(config, seed=0, progress=False).fit(rgb_to_mono(astronaut64), astronaut64, rect_known)
    assert result.colorized.shape == astronaut64.shape
    assert psnr(result.colorized, astronaut64, rect_known) > 25.0
    assert torch.equal(result.composite[rect_known.expand(3, -1, -1)], astronaut64[rect_known.expand(3, -1, -1)])
    assert len(result.final_losses) == 3 and result.final_losses[-1] < 0.05


def test_same_seed_same_result_other_seed_differs(astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    mono = rgb_to_mono(astronaut64)
    state = torch.get_rng_state()
    first = InternalColorizer(FAST, seed=1, progress=False)(mono, astronaut64, rect_known)
    assert torch.equal(torch.get_rng_state(), state), "the global RNG must be left untouched"
    again = InternalColorizer(FAST, seed=1, progress=False)(mono, astronaut64, rect_known)
    other = InternalColorizer(FAST, seed=2, progress=False)(mono, astronaut64, rect_known)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_mse_loss_option_fits_too(astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    config = InternalConfig(**{**FAST.__dict__, "loss": "mse"})
    result = InternalColorizer(config, progress=False).fit(rgb_to_mono(astronaut64), astronaut64, rect_known)
    assert psnr(result.colorized, astronaut64, rect_known) > 20.0


def test_hint_pulls_the_hole_towards_its_color(astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    mono = rgb_to_mono(astronaut64)
    green = (0.1, 0.9, 0.1)
    hint = ColorHint(x=30, y=32, rgb=green)
    colorizer = InternalColorizer(FAST, seed=0, progress=False)
    plain = colorizer.fit(mono, astronaut64, rect_known).colorized
    hinted = colorizer.fit(mono, astronaut64, rect_known, hints=[hint]).colorized
    target = torch.tensor(green).view(3, 1)
    distance = lambda image: (image[:, 30:35, 27:34].reshape(3, -1) - target).abs().mean()  # noqa: E731
    assert distance(hinted) < distance(plain) - 0.1


def test_hint_outside_the_image_is_rejected(astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="outside"):
        InternalColorizer(FAST, progress=False).fit(
            rgb_to_mono(astronaut64), astronaut64, rect_known, hints=[ColorHint(64, 0, (1.0, 0.0, 0.0))]
        )


def test_published_presets() -> None:
    paper = InternalConfig.paper()
    assert paper.steps == (401, 401, 401) and paper.lrs == (0.01, 0.005, 0.003)
    assert paper.loss == "l1" and paper.width == 32 and paper.blocks == 8
    assert InternalConfig.paper(5).lrs == (0.04, 0.02, 0.01, 0.005, 0.002)
    base = InternalConfig.base()
    assert base.levels == 1 and base.steps == (1001,) and base.lrs == (0.01,)
    assert InternalConfig.paper(loss="mse").loss == "mse"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"steps": (10,), "lrs": (0.1, 0.2)},
        {"steps": (), "lrs": ()},
        {"steps": (0,), "lrs": (0.1,)},
        {"loss": "l2"},
        {"downsample": "nearest"},
    ],
)
def test_invalid_config_is_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        InternalConfig(**kwargs)
    with pytest.raises(ValueError):
        InternalConfig.paper(6)
