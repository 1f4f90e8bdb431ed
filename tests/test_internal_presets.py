"""Presets of the internal colorizer (reference = the official release, fast = the default) and the
options `fast` is made of: crop windows, warm start, cosine schedule, ensembles; batched == single with them."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from eiip.color import rgb_to_mono
from eiip.colorize import get_colorizer
from eiip.data.samples import load_sample_photo
from eiip.colorize.internal import InternalColorizer, InternalConfig, internal_preset
from eiip.colorize.internal.batched import PackedGenerators
from eiip.colorize.internal.colorizer import member_seeds
from eiip.colorize.internal.generator import ColorGenerator, inherit_weights
from eiip.colorize.internal.windows import LevelWindows

CROPPED = InternalConfig(steps=(3, 3), lrs=(0.01, 0.005), width=8, blocks=2, crop=16, crops_per_step=2,
                         warm_start=True, schedule="cosine", output="chroma")


def _images(size: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rgb = torch.stack([load_sample_photo(name, size) for name in ("astronaut", "coffee")])
    known = torch.ones(2, 1, size, size, dtype=torch.bool)
    known[0, :, 8:20, 6:22] = False
    known[1, :, 2:12, 14:30] = False
    return rgb_to_mono(rgb), rgb * known, known


def test_reference_is_the_official_release_and_fast_the_default() -> None:
    reference = internal_preset("reference")
    assert reference.steps == (401, 401, 401) and reference.lrs == (0.01, 0.005, 0.003)
    assert (reference.loss, reference.downsample, reference.crop, reference.warm_start) == ("mse", "bicubic", None, False)
    assert reference.schedule == "constant" and (reference.width, reference.blocks) == (32, 8)
    paper = internal_preset("paper")
    assert (paper.loss, paper.downsample, paper.steps) == ("l1", "area", (401, 401, 401))
    fast = internal_preset("fast")
    assert fast.levels == 3 and fast.steps == (400, 400, 400)
    assert (fast.fit_pixels, fast.crop, reference.fit_pixels, paper.fit_pixels) == (64 * 80, None, None, None)
    assert (fast.output, reference.output, paper.output) == ("chroma", "rgb", "rgb")
    assert (fast.ensemble, fast.width, fast.blocks, reference.ensemble, paper.ensemble) == (8, 16, 2, 1, 1)
    assert get_colorizer("internal").config == fast
    assert get_colorizer("internal", preset="reference").config == reference
    assert get_colorizer("internal-base").config == internal_preset("base") == InternalConfig.base()
    assert internal_preset("fast", levels=2, steps=7).steps == (7, 7)
    with pytest.raises(ValueError, match="unknown internal preset"):
        internal_preset("turbo")


@pytest.mark.parametrize("kwargs", [{"crop": 4}, {"crops_per_step": 0}, {"schedule": "linear"}, {"ensemble": 0}])
def test_invalid_fast_options_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        InternalConfig(**kwargs)


def test_windows_cut_the_same_places_of_input_target_and_weight() -> None:
    net_input = torch.arange(2 * 4 * 20 * 24, dtype=torch.float32).reshape(2, 4, 20, 24)
    target, weight = net_input[:, :3] * 2, net_input[:, :1] * 3
    windows = LevelWindows(net_input, target, weight, crop=8, per_step=3, seeds=[(0, 1), (5, 1)])
    cut_input, cut_target, cut_weight = windows.sample()
    assert cut_input.shape == (2, 3, 4, 8, 8) and cut_target.shape == (2, 3, 3, 8, 8) and cut_weight.shape == (2, 3, 1, 8, 8)
    assert torch.equal(cut_target, cut_input[:, :, :3] * 2) and torch.equal(cut_weight, cut_input[:, :, :1] * 3)
    for image in range(2):
        for crop in cut_input[image]:  # a contiguous window of the image: rows step by 24, columns by 1
            top_left = int(crop[0, 0, 0]) - image * 4 * 20 * 24
            row, column = divmod(top_left, 24)
            assert torch.equal(crop, net_input[image, :, row:row + 8, column:column + 8])


def test_windows_depend_on_the_image_seed_only_and_small_levels_stay_whole() -> None:
    level = torch.rand(1, 4, 40, 40)
    alone = LevelWindows(level, level[:, :3], level[:, :1], 16, 2, [(7, 2)]).sample()[0]
    pair = LevelWindows(level.expand(2, -1, -1, -1), level[:, :3].expand(2, -1, -1, -1),
                        level[:, :1].expand(2, -1, -1, -1), 16, 2, [(3, 2), (7, 2)]).sample()[0]
    assert torch.equal(pair[1], alone[0]) and not torch.equal(pair[0], pair[1])
    whole = LevelWindows(level, level[:, :3], level[:, :1], 64, 2, [(0, 0)]).sample()
    assert whole[0] is level


def test_packed_generators_normalize_each_image_over_its_own_crops() -> None:
    torch.manual_seed(0)
    generators = [ColorGenerator(4, 3, 8, blocks=1) for _ in range(2)]
    crops = torch.rand(2, 3, 4, 12, 12)
    packed = PackedGenerators(generators)(crops)
    assert packed.shape == (2, 3, 3, 12, 12)
    for image, generator in enumerate(generators):
        assert torch.allclose(packed[image], generator(crops[image]), atol=1e-5)


def test_warm_start_copies_weights_and_zeroes_the_new_input_channels() -> None:
    torch.manual_seed(0)
    coarse, fine = ColorGenerator(1, 3, 8, blocks=1), ColorGenerator(4, 3, 8, blocks=1)
    inherit_weights(fine, coarse)
    first = fine.net[0][1].weight
    assert torch.equal(first[:, :1], coarse.net[0][1].weight) and not first[:, 1:].any()
    mono = torch.rand(1, 1, 16, 16)
    previous_rgb = torch.rand(1, 3, 16, 16)
    assert torch.allclose(fine(torch.cat([mono, previous_rgb], 1)), coarse(mono), atol=1e-6)
    with pytest.raises(ValueError, match="cannot inherit"):
        inherit_weights(ColorGenerator(4, 3, 16, blocks=1), coarse)


def test_cosine_schedule_ends_at_zero_learning_rate() -> None:
    monos, rgb_known, known = _images()
    changed = InternalConfig(steps=(1,), lrs=(0.01,), width=8, blocks=1, schedule="cosine")
    # one step of cosine annealing over one step: the step itself uses lr 0.01, so it still learns
    result = InternalColorizer(changed, progress=False).fit(monos[0], rgb_known[0], known[0])
    assert result.final_losses[0] > 0


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
def test_cropped_warm_started_batched_fit_equals_single_fits_without_onednn() -> None:
    monos, rgb_known, known = _images()
    seeds = (0, 3)
    with torch.backends.mkldnn.flags(enabled=False):
        batched = InternalColorizer(CROPPED, progress=False).fit_batch(monos, rgb_known, known, seeds=seeds)
        singles = [InternalColorizer(CROPPED, seed=seed, progress=False).fit(*image)
                   for *image, seed in zip(monos, rgb_known, known, seeds)]
    for batch_result, single in zip(batched, singles):
        assert torch.equal(batch_result.colorized, single.colorized)
        assert batch_result.final_losses == pytest.approx(single.final_losses, rel=1e-5)  # summation order


def test_fast_fit_keeps_known_pixels_and_is_seeded() -> None:
    monos, rgb_known, known = _images()
    first = InternalColorizer(CROPPED, seed=1, progress=False).fit(monos[0], rgb_known[0], known[0])
    again = InternalColorizer(CROPPED, seed=1, progress=False).fit(monos[0], rgb_known[0], known[0])
    assert torch.equal(first.colorized, again.colorized)
    kept = known[0].expand(3, -1, -1)
    assert torch.equal(first.composite[kept], rgb_known[0][kept])


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
def test_an_ensemble_is_the_mean_of_its_members_fitted_alone() -> None:
    """Each image's M members are plain fits with the member seeds; the result averages their colorizations."""
    monos, rgb_known, known = _images()
    seeds = (0, 3)
    ensemble = replace(CROPPED, ensemble=3)
    with torch.backends.mkldnn.flags(enabled=False):
        results = InternalColorizer(ensemble, progress=False).fit_batch(monos, rgb_known, known, seeds=seeds)
        for result, *image, seed in zip(results, monos, rgb_known, known, seeds):
            members = [InternalColorizer(CROPPED, seed=s, progress=False).fit(*image) for s in member_seeds(seed, 3)]
            torch.testing.assert_close(result.colorized, torch.stack([m.colorized for m in members]).mean(0),
                                       rtol=0, atol=1e-6)
            mean_losses = [sum(level) / 3 for level in zip(*(m.final_losses for m in members))]
            assert result.final_losses == pytest.approx(mean_losses, rel=1e-5)
            # the members are distinct fits (torch seeds with the low 32 bits: the member seeds must differ there)
            spreads = [(a.colorized - b.colorized).abs().mean() for a, b in zip(members, members[1:])]
            assert min(spreads) > 1e-3
            # chroma members all keep the monochrome, and so does their mean
            torch.testing.assert_close(rgb_to_mono(result.colorized), image[0], rtol=0, atol=1e-5)


def test_member_seeds_start_with_the_image_seed_and_never_repeat_low_bits() -> None:
    assert member_seeds(7, 1) == [7]
    seeds = member_seeds(7, 4)
    assert seeds[0] == 7 and len({s % 2**32 for s in seeds}) == 4
    assert not set(member_seeds(0, 3)) & set(member_seeds(1, 3))
