"""The validated blend: held-out sets, exact simplex weights, and the colorizer built on them."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
import torch

from eiip.color import rgb_to_mono, rgb_to_yiq, yiq_to_rgb
from eiip.colorize import get_colorizer, levin_colorize, local_linear_colorize, validated_blend_colorize
from eiip.colorize.levin import levin_propagator
from eiip.colorize.local_linear import local_linear_propagator
from eiip.colorize.validated_blend import HOLDOUT_SHIFTS, area_downsample, blend_weights, holdout_masks, validated_blend


def test_holdout_masks_are_shifted_holes_inside_the_known_pixels(rect_known: torch.Tensor) -> None:
    known = rect_known[0].numpy()
    masks = holdout_masks(known, 4)
    assert len(masks) == 4
    for held_out, (fy, fx) in zip(masks, HOLDOUT_SHIFTS):
        assert held_out.any() and not (held_out & ~known).any()  # only known pixels are held out
        assert held_out.sum() <= (~known).sum()
        assert np.array_equal(held_out, np.roll(~known, (round(fy * 64), round(fx * 64)), axis=(0, 1)) & known)
    for bad in (0, len(HOLDOUT_SHIFTS) + 1, 2.5, True):
        with pytest.raises(ValueError, match="held-out"):
            holdout_masks(known, bad)


def test_holdout_masks_drop_sets_that_leave_nothing_to_learn_from() -> None:
    known = np.zeros((16, 16), dtype=bool)
    known[0, 0] = True  # a hole over everything but one pixel: holding it out leaves no known pixel
    assert holdout_masks(known, 8) == []


def test_blend_weights_recover_a_mixture_and_stay_on_the_simplex() -> None:
    rng = np.random.default_rng(0)
    predictions = rng.normal(size=(3, 500))
    assert np.allclose(blend_weights(predictions, 0.3 * predictions[0] + 0.7 * predictions[2]), [0.3, 0.0, 0.7])
    assert np.allclose(blend_weights(predictions, predictions[1]), [0.0, 1.0, 0.0])
    # beyond a candidate (negative weight needed): the constrained optimum sits on the edge
    assert np.allclose(blend_weights(predictions[:2], 1.5 * predictions[1] - 0.5 * predictions[0]), [0.0, 1.0])


def test_blend_weights_match_a_brute_force_search() -> None:
    rng = np.random.default_rng(1)
    predictions = rng.normal(size=(3, 200))
    target = rng.normal(size=200) + 0.5 * predictions[0]
    weights = blend_weights(predictions, target)
    assert weights.min() >= 0 and abs(weights.sum() - 1) < 1e-12
    best = np.inf
    grid = np.linspace(0, 1, 101)
    for a, b in itertools.product(grid, grid):
        if a + b <= 1:
            best = min(best, np.sum((a * predictions[0] + b * predictions[1] + (1 - a - b) * predictions[2] - target) ** 2))
    assert np.sum((weights @ predictions - target) ** 2) <= best + 1e-9


def test_validated_blend_trusts_the_candidate_that_is_right_on_held_out_pixels(astronaut64: torch.Tensor,
                                                                               rect_known: torch.Tensor) -> None:
    values = rgb_to_yiq(astronaut64.double())[1:].numpy()
    known = rect_known[0].numpy()

    def truth(v: np.ndarray, k: np.ndarray, wanted: np.ndarray) -> np.ndarray:  # an oracle that knows every pixel
        return values.copy()

    def gray(v: np.ndarray, k: np.ndarray, wanted: np.ndarray) -> np.ndarray:
        return np.where(k, v, 0.0)

    blended, weights = validated_blend([gray, truth], values, known, holdouts=4)
    assert np.allclose(weights, [0.0, 1.0])
    assert np.allclose(blended, values)
    blended, weights = validated_blend([gray], values, known, holdouts=2)
    assert weights.tolist() == [1.0] and np.array_equal(blended, gray(values, known, ~known))
    with pytest.raises(ValueError, match="at least one"):
        validated_blend([], values, known, holdouts=2)


def _shaded_photo(photo: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The photo's mono with chroma affine in it (one albedo under shading), and that mono."""
    y = 0.2 + 0.6 * rgb_to_mono(photo.double())
    rgb = yiq_to_rgb(torch.cat([y, 0.25 * y - 0.08, -0.1 * y + 0.03]))
    return rgb.float(), y.float()


def test_colorizer_weighs_local_linear_up_where_it_is_right(astronaut64: torch.Tensor, rect_known: torch.Tensor,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    rgb, mono = _shaded_photo(astronaut64)
    with caplog.at_level(logging.DEBUG, logger="eiip.colorize"):
        out = validated_blend_colorize(mono, rgb, rect_known)
    assert "'local-linear': 1.0" in caplog.text and "'levin': 0.0" in caplog.text
    assert torch.allclose(out, local_linear_colorize(mono, rgb, rect_known), atol=1e-6)


def _hole_mse(out: torch.Tensor, truth: torch.Tensor, known: torch.Tensor) -> float:
    return float(((out - truth)[:, ~known[0]] ** 2).mean())


@pytest.mark.parametrize("photo_name", ["astronaut", "coffee"])
def test_on_a_real_photo_the_blend_is_never_worse_than_its_worse_candidate(photo_name: str, rect_known: torch.Tensor) -> None:
    """A convex blend's squared error is at most the worse candidate's; on the two photos it is below it."""
    from eiip.data.samples import load_sample_photo

    photo = load_sample_photo(photo_name, 64)
    mono = rgb_to_mono(photo)
    levin_gamut = get_colorizer("validated-blend", candidates=["levin"])(mono, photo, rect_known)
    local = local_linear_colorize(mono, photo, rect_known)
    blend = validated_blend_colorize(mono, photo, rect_known)
    errors = [_hole_mse(levin_gamut, photo, rect_known), _hole_mse(local, photo, rect_known)]
    assert _hole_mse(blend, photo, rect_known) <= max(errors) + 1e-7
    assert (rgb_to_mono(blend) - mono).abs().max().item() < 2e-6  # the mono is kept exactly
    # the shipped levin clips its RGB; the blend's single-candidate form only rescales chroma
    assert _hole_mse(levin_gamut, photo, rect_known) <= _hole_mse(levin_colorize(mono, photo, rect_known), photo, rect_known) + 1e-7


def test_other_registered_colorizers_can_be_candidates(astronaut64: torch.Tensor, rect_known: torch.Tensor,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    mono = rgb_to_mono(astronaut64)
    with caplog.at_level(logging.DEBUG, logger="eiip.colorize"):
        out = get_colorizer("validated-blend", candidates=("levin", "dt", "mean"), holdouts=2)(mono, astronaut64, rect_known)
    assert "'dt'" in caplog.text and "'mean'" in caplog.text
    assert torch.isfinite(out).all() and (out - astronaut64)[:, rect_known[0]].abs().max() < 1e-5


@pytest.mark.parametrize("options, message", [
    ({"candidates": ("levin", "nope")}, "registered colorizer"),
    ({"candidates": ("levin", "levin")}, "distinct"),
    ({"candidates": ()}, "registered colorizer"),
    ({"candidates": ("validated-blend",)}, "its own candidate"),
    ({"holdouts": 0}, "held-out"),
    ({"validation_scale": 0}, "validation_scale"),
    ({"validation_scale": 1.5}, "validation_scale"),
])
def test_bad_options_are_rejected(options: dict, message: str, astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=message):
        get_colorizer("validated-blend", **options)(rgb_to_mono(astronaut64), astronaut64, rect_known)


@pytest.mark.parametrize("make", ["levin", "local-linear"])
def test_propagators_never_read_the_pixels_they_fill(make: str, astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    """Held-out pixels keep their true values in the array handed over: a propagator must not read them."""
    from eiip.colorize.levin import levin_propagator
    from eiip.colorize.local_linear import local_linear_propagator

    propagate = {"levin": levin_propagator, "local-linear": local_linear_propagator}[make](
        rgb_to_mono(astronaut64.double())[0].numpy())
    values = rgb_to_yiq(astronaut64.double())[1:].numpy()
    known = rect_known[0].numpy() & ~holdout_masks(rect_known[0].numpy(), 1)[0]
    poisoned = np.where(known, values, np.nan)
    assert np.array_equal(propagate(poisoned, known), propagate(values, known))


def test_area_downsample_averages_blocks_and_knows_a_block_only_when_all_of_it_is_known() -> None:
    y = np.arange(5 * 6, dtype=float).reshape(5, 6)
    values = np.stack([y, -y])
    known = np.ones((5, 6), dtype=bool)
    known[0, 0] = False
    small_y, small_values, small_known = area_downsample(y, values, known, 2)
    assert small_y.shape == (2, 3) and small_values.shape == (2, 2, 3)  # the odd last row is dropped
    assert small_y[1, 2] == np.mean([16, 17, 22, 23]) and np.array_equal(small_values[1], -small_y)
    assert small_known.tolist() == [[False, True, True], [True, True, True]]


def test_weights_fitted_on_a_downsampled_copy_blend_the_full_resolution_fills(astronaut64: torch.Tensor,
                                                                              rect_known: torch.Tensor) -> None:
    y = rgb_to_mono(astronaut64.double())[0].numpy()
    values = rgb_to_yiq(astronaut64.double())[1:].numpy()
    known = rect_known[0].numpy()
    small_y, small_values, small_known = area_downsample(y, values, known, 2)
    small = ([levin_propagator(small_y), local_linear_propagator(small_y)], small_values, small_known)
    full = [levin_propagator(y), local_linear_propagator(y)]
    blended, weights = validated_blend(full, values, known, 4, validation=small)
    _, small_weights = validated_blend(*small, 4)
    assert np.array_equal(weights, small_weights) and 0 < weights[0] < 1
    fills = [propagate(values, known, ~known) for propagate in full]
    assert np.allclose(blended, np.where(known, values, weights[0] * fills[0] + weights[1] * fills[1]), atol=1e-12)
    threaded, threaded_weights = validated_blend(full, values, known, 4, validation=small, threads=2)
    assert np.array_equal(threaded, blended) and np.array_equal(threaded_weights, weights)


def test_a_candidate_other_than_a_stencil_propagator_fills_the_hole_only_with_a_positive_weight(
        astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    values = rgb_to_yiq(astronaut64.double())[1:].numpy()
    known = rect_known[0].numpy()
    y = rgb_to_mono(astronaut64.double())[0].numpy()
    calls: list[bool] = []
    levin = levin_propagator(y)

    def worse(v: np.ndarray, k: np.ndarray, wanted: np.ndarray) -> np.ndarray:  # levin's error x 3: weight 0
        calls.append(bool((k == known).all()))  # True: the hole's fill
        return v + 3.0 * (levin(v, k, wanted) - v)  # (an oracle: v holds the true values everywhere)

    blended, weights = validated_blend([levin, worse], values, known, holdouts=2, threads=2)
    assert weights.tolist() == [1.0, 0.0]
    assert calls == [False, False]  # the two held-out sets, never the hole
    assert np.allclose(blended, levin(values, known))
