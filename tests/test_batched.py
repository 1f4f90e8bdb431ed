"""Batched internal fitting: packed generators, batched == single fits per image, seeds, colorize_batch, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from eiip.color import rgb_to_mono
from eiip.colorize import colorize_batch, get_colorizer
from eiip.data.samples import load_sample_photo
from eiip.colorize.internal import ColorHint, InternalColorizer, InternalConfig
from eiip.colorize.internal.batched import PackedGenerators, pack_generators
from eiip.colorize.internal.generator import ColorGenerator

SMALL = InternalConfig(steps=(3, 3), lrs=(0.01, 0.005), width=8, blocks=2)
THREE_LEVELS = InternalConfig(steps=(2, 2, 2), lrs=(0.01, 0.005, 0.003), width=8, blocks=2)
# (top, bottom, left, right) of each image's rectangular hole, in 48x48 coordinates (scaled to other sizes)
HOLES = ((10, 30, 12, 34), (4, 18, 2, 40), (26, 44, 18, 30))


def _batch(size: int = 48) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Astronaut, coffee and chelsea at size x size, each with its own hole: monos, rgb_known, known."""
    rgb = torch.stack([load_sample_photo(name, size) for name in ("astronaut", "coffee", "chelsea")])
    known = torch.ones(3, 1, size, size, dtype=torch.bool)
    for image, (top, bottom, left, right) in zip(known, HOLES):
        image[:, top * size // 48 : bottom * size // 48, left * size // 48 : right * size // 48] = False
    return rgb_to_mono(rgb), rgb * known, known


def _fit_singly(config: InternalConfig, monos, rgb_known, known, seeds, hints=None):
    hints = hints or [[] for _ in seeds]
    return [
        InternalColorizer(config, seed=seed, progress=False).fit(*image, hints=image_hints)
        for *image, seed, image_hints in zip(monos, rgb_known, known, seeds, hints)
    ]


def _generators(count: int, width: int = 8) -> list[ColorGenerator]:
    torch.manual_seed(0)
    return [ColorGenerator(4, 3, width, blocks=2) for _ in range(count)]


def test_packed_generators_run_each_generator_on_its_own_image() -> None:
    generators = _generators(3)
    inputs, targets = torch.rand(3, 4, 20, 20), torch.rand(3, 3, 20, 20)
    state = torch.get_rng_state()
    packed = PackedGenerators(generators)
    assert torch.equal(torch.get_rng_state(), state), "packing must leave the global RNG untouched"
    output = packed(inputs)
    separate = torch.cat([g(x[None]) for g, x in zip(generators, inputs)])
    assert output.shape == (3, 3, 20, 20)
    assert (output - separate).abs().max() < 1e-5
    (output - targets).abs().mean(dim=(1, 2, 3)).sum().backward()
    for generator, x, target in zip(generators, inputs, targets):
        (generator(x[None]) - target).abs().mean().backward()
    for name, parameter in packed.net.named_parameters():
        expected = torch.cat([g.get_parameter(name).grad for g in generators])
        torch.testing.assert_close(parameter.grad, expected, atol=1e-6, rtol=1e-4, msg=name)


def test_packed_convolutions_are_grouped_copies_of_the_generators_weights() -> None:
    generators = _generators(2)
    packed = pack_generators(generators)
    convs = [m for m in packed.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in packed.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(conv.groups == 2 for conv in convs) and convs[0].in_channels == 8 and convs[-1].out_channels == 6
    assert all(norm.num_features == 16 for norm in norms)
    first = generators[0].get_parameter("net.0.1.weight")
    second = generators[1].get_parameter("net.0.1.weight")
    assert torch.equal(packed.get_parameter("net.0.1.weight"), torch.cat([first, second]))
    assert packed.get_parameter("net.0.1.weight").data_ptr() != first.data_ptr()


def test_packing_rejects_what_it_cannot_pack() -> None:
    with pytest.raises(ValueError, match="no generators"):
        pack_generators([])
    with pytest.raises(ValueError, match="one architecture"):
        pack_generators([ColorGenerator(4, width=8, blocks=2), ColorGenerator(4, width=8, blocks=1)])
    with pytest.raises(TypeError, match="Linear"):
        pack_generators([nn.Sequential(nn.Linear(2, 2))] * 2)
    with pytest.raises(ValueError, match="batch of 2 images"):
        PackedGenerators(_generators(2))(torch.rand(3, 4, 8, 8))


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
def test_batched_fit_equals_single_fits_bit_for_bit_without_onednn() -> None:
    """Without oneDNN a grouped convolution runs group by group with the plain kernel, so no rounding differs.

    32x32 (levels 8, 16, 32): each image's block of an activation is a multiple of the SIMD width, so
    elementwise kernels (Sigmoid) split the packed tensor into vector and scalar parts as they split each image.
    """
    monos, rgb_known, known = _batch(32)
    seeds = (0, 5, 7)
    hints = [[], [ColorHint(x=20, y=10, rgb=(0.1, 0.9, 0.1))], []]
    with torch.backends.mkldnn.flags(enabled=False):
        batched = InternalColorizer(THREE_LEVELS, progress=False).fit_batch(monos, rgb_known, known, hints, seeds)
        singles = _fit_singly(THREE_LEVELS, monos, rgb_known, known, seeds, hints)
    for batch_result, single in zip(batched, singles):
        assert torch.equal(batch_result.colorized, single.colorized)
        assert torch.equal(batch_result.composite, single.composite)
        assert batch_result.final_losses == single.final_losses and len(single.final_losses) == 3


def test_batched_fit_is_close_to_single_fits_with_default_kernels() -> None:
    """oneDNN's grouped convolutions round differently; after a few steps per level the fits stay far
    closer to the single fits than a fit with another seed is."""
    monos, rgb_known, known = _batch()
    seeds = (0, 1, 2)
    batched = InternalColorizer(SMALL, progress=False).fit_batch(monos, rgb_known, known, seeds=seeds)
    singles = _fit_singly(SMALL, monos, rgb_known, known, seeds)
    other_seeds = _fit_singly(SMALL, monos, rgb_known, known, [seed + 10 for seed in seeds])
    for batch_result, single, other, image_known in zip(batched, singles, other_seeds, known):
        seed_spread = (single.colorized - other.colorized).abs().mean()
        assert (batch_result.colorized - single.colorized).abs().mean() < 0.1 * seed_spread
        kept = image_known.expand(3, -1, -1)
        assert torch.equal(batch_result.composite[kept], single.composite[kept])
        assert batch_result.final_losses == pytest.approx(single.final_losses, rel=0.1)


def test_a_batch_of_one_is_fit() -> None:
    monos, rgb_known, known = _batch(32)
    hints = [ColorHint(x=5, y=5, rgb=(0.9, 0.1, 0.1))]
    colorizer = InternalColorizer(SMALL, seed=4, progress=False)
    (batched,) = colorizer.fit_batch(monos[1:2], rgb_known[1:2], known[1:2], hints=[hints])
    single = colorizer.fit(monos[1], rgb_known[1], known[1], hints=hints)
    assert torch.equal(batched.colorized, single.colorized) and torch.equal(batched.composite, single.composite)
    assert batched.final_losses == single.final_losses


def test_per_image_seeds_are_respected() -> None:
    monos, rgb_known, known = (t[:1].expand(2, -1, -1, -1) for t in _batch(32))
    colorizer = InternalColorizer(SMALL, seed=3, progress=False)
    state = torch.get_rng_state()
    same = colorizer.colorize_batch(monos, rgb_known, known, seeds=[3, 3])
    assert torch.equal(torch.get_rng_state(), state), "the global RNG must be left untouched"
    assert torch.equal(colorizer.colorize_batch(monos, rgb_known, known), same), "default: self.seed for all"
    torch.testing.assert_close(same[0], same[1], atol=1e-5, rtol=0)
    different = colorizer.colorize_batch(monos, rgb_known, known, seeds=[3, 4])
    assert torch.equal(different[0], same[0])
    assert (different[1] - different[0]).abs().max() > 0.05


def test_colorize_batch_stacks_the_batched_fits() -> None:
    monos, rgb_known, known = _batch(32)
    colorizer = InternalColorizer(SMALL, seed=1, progress=False)
    stacked = torch.stack([r.colorized for r in colorizer.fit_batch(monos, rgb_known, known)])
    assert stacked.shape == (3, 3, 32, 32)
    assert torch.equal(colorizer.colorize_batch(monos, rgb_known, known), stacked)
    internal = get_colorizer("internal", levels=2, steps=3, width=8, blocks=2, seed=1)
    expected = internal.colorize_batch(monos, rgb_known, known)
    assert torch.equal(colorize_batch(internal, monos, rgb_known, known), expected)


@pytest.mark.parametrize("name", ["mean", "levin", "local-linear", "validated-blend", "dt"])
def test_colorize_batch_loops_over_classical_colorizers(name: str) -> None:
    monos, rgb_known, known = _batch(32)
    colorizer = get_colorizer(name)
    looped = torch.stack([colorizer(*image) for image in zip(monos, rgb_known, known)])
    assert torch.equal(colorize_batch(colorizer, monos, rgb_known, known), looped)


def test_batched_fit_rejects_inputs_that_do_not_fit() -> None:
    monos, rgb_known, known = _batch(32)
    fit_batch = InternalColorizer(SMALL, progress=False).fit_batch
    with pytest.raises(ValueError, match=r"monos must be a tensor of shape \(K, 1, H, W\), got \(1, 32, 32\)"):
        fit_batch(monos[0], rgb_known, known)
    with pytest.raises(ValueError, match=r"rgb_known must be .* \(K, 3, H, W\)"):
        fit_batch(monos, rgb_known[:, :1], known)
    with pytest.raises(ValueError, match="share K, H and W"):
        fit_batch(monos, rgb_known[:2], known)
    with pytest.raises(ValueError, match="share K, H and W"):
        fit_batch(monos, rgb_known[..., :16], known)
    with pytest.raises(ValueError, match="empty batch"):
        fit_batch(monos[:0], rgb_known[:0], known[:0])
    with pytest.raises(ValueError, match="hints has 2 entries for a batch of 3 images"):
        fit_batch(monos, rgb_known, known, hints=[[], []])
    with pytest.raises(ValueError, match="seeds has 1 entries for a batch of 3 images"):
        fit_batch(monos, rgb_known, known, seeds=[0])


def test_colorize_batch_rejects_inputs_that_do_not_fit() -> None:
    monos, rgb_known, known = _batch(32)
    mean = get_colorizer("mean")
    with pytest.raises(ValueError, match=r"monos must be a \(K, C, H, W\) tensor"):
        colorize_batch(mean, monos[0], rgb_known, known)
    with pytest.raises(ValueError, match="same number K >= 1"):
        colorize_batch(mean, monos, rgb_known, known[:2])
    with pytest.raises(ValueError, match="same number K >= 1"):
        colorize_batch(mean, monos[:0], rgb_known[:0], known[:0])
    no_known = known.clone()
    no_known[1] = False
    with pytest.raises(ValueError, match="image 1 of the batch: known has no known pixel"):
        colorize_batch(mean, monos, rgb_known, no_known)
    with pytest.raises(ValueError, match="image 0 of the batch: mono and rgb_known must share H and W|share H"):
        colorize_batch(mean, monos, rgb_known[..., :16], known)
