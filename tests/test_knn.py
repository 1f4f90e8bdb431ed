"""The non-local ``knn`` propagator and colorizer: colors from alike pixels anywhere, a bounded search, the fill's equation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import torch
from skimage import data

from eiip.color import composite, rgb_to_mono, rgb_to_yiq
from eiip.colorize import get_colorizer, validated_blend_colorize
from eiip.colorize.knn import KnnPropagator, _sample, knn_features
from eiip.colorize.levin import levin_propagator
from eiip.metrics import hole_psnr

RED_IQ = np.array([0.2, 0.1])
BLUE_IQ = np.array([-0.2, 0.15])


def two_discs(size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A gray-0.3 blue background with two gray-0.7 red discs; the hole covers the right disc and a band of
    background around it, so the right disc touches no known pixel. Returns y, chroma (2, H, W), known, disc."""
    rows, cols = np.mgrid[:size, :size]
    left = (rows - size // 2) ** 2 + (cols - size // 4) ** 2 <= (size // 8) ** 2
    right = (rows - size // 2) ** 2 + (cols - 3 * size // 4) ** 2 <= (size // 8) ** 2
    y = np.where(left | right, 0.7, 0.3)
    chroma = np.where(left | right, RED_IQ[:, None, None], BLUE_IQ[:, None, None])
    hole = (rows - size // 2) ** 2 + (cols - 3 * size // 4) ** 2 <= (size // 8 + 5) ** 2
    return y, chroma, ~hole, right


def astronaut_with_hole(step: int, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """skimage's astronaut taken every ``step`` pixels, with a rectangular hole: y, the known mask, and the
    chroma (2, H, W) with zeros in the hole."""
    photo = torch.from_numpy(data.astronaut()[::step, ::step].copy()).permute(2, 0, 1).double() / 255
    chroma = rgb_to_yiq(photo)[1:].numpy()
    known = np.ones(photo.shape[1:], dtype=bool)
    known[rows, cols] = False
    return rgb_to_mono(photo)[0].numpy(), known, np.where(known, chroma, 0.0)


def test_a_hole_pixel_takes_the_colour_of_alike_pixels_elsewhere_where_levin_takes_the_border() -> None:
    y, chroma, known, disc = two_discs()
    given = np.where(known, chroma, 0.0)
    knn = KnnPropagator(y)(given, known)
    levin = levin_propagator(y)(given, known)
    core = scipy.ndimage.binary_erosion(disc, iterations=2)  # the disc's rim mixes with its blue neighbours
    knn_error = np.abs(knn[:, core] - RED_IQ[:, None]).max()
    levin_error = np.abs(levin[:, core] - RED_IQ[:, None]).max()
    assert knn_error < 0.02 and levin_error > 0.39  # levin carries the blue border into the disc
    assert np.array_equal(knn[:, known], chroma[:, known])


def test_only_wanted_pixels_are_filled_and_the_fill_is_deterministic() -> None:
    y, chroma, known, _ = two_discs()
    given = np.where(known, chroma, -5.0)
    wanted = ~known & (np.arange(64)[None, :] < 48)
    first = KnnPropagator(y)(given, known, wanted)
    assert np.array_equal(first, KnnPropagator(y)(given, known, wanted))
    assert np.array_equal(first[:, ~wanted], given[:, ~wanted])
    assert (first[:, wanted] > -1).all()


def test_the_fill_solves_its_smoothing_equation() -> None:
    """x = (1 - s) estimate + s * mean of the known-or-solved 4-neighbours, at every solved pixel."""
    y, known, given = astronaut_with_hole(4, slice(40, 80), slice(60, 100))
    estimate = KnnPropagator(y, smoothness=0.0)(given, known)
    fill = KnnPropagator(y, smoothness=0.5)(given, known)
    padded = np.pad(fill, ((0, 0), (1, 1), (1, 1)))
    neighbours = sum(padded[:, 1 + dy : 1 + dy + y.shape[0], 1 + dx : 1 + dx + y.shape[1]]
                     for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0))) / 4  # the hole is away from the border
    expected = 0.5 * estimate + 0.5 * neighbours
    assert np.abs(fill - expected)[:, ~known].max() < 1e-8
    assert not np.allclose(fill[:, ~known], estimate[:, ~known])


def test_the_search_is_the_ring_and_a_bounded_grid_whatever_the_image_size() -> None:
    for side in (200, 800):
        known = np.ones((side, side), dtype=bool)
        known[50:60, 70:90] = False
        searched = _sample(known, ~known, ring=8, sample=2000)
        ring = (10 + 16) * (20 + 16) - 10 * 20
        assert ring < searched.size <= ring + 2000 + 2 * side  # the grid rounds its stride
        assert known.ravel()[searched].all()
        near = np.unravel_index(searched, known.shape)
        assert ((abs(near[0] - 55) <= 13) & (abs(near[1] - 80) <= 18)).sum() >= ring


def test_a_lone_known_pixel_off_the_grid_and_far_from_the_hole_still_colours_it() -> None:
    y = np.linspace(0, 1, 60 * 60).reshape(60, 60)
    known = np.zeros((60, 60), dtype=bool)
    known[59, 58] = True
    values = np.zeros((2, 60, 60))
    values[:, 59, 58] = [0.1, -0.05]
    filled = KnnPropagator(y, sample=4, ring=2)(values, known, wanted=np.pad(np.ones((5, 5), bool), ((0, 55), (0, 55))))
    assert np.allclose(filled[:, :5, :5], np.array([0.1, -0.05])[:, None, None])


def test_features_are_gray_window_statistics_and_scaled_position() -> None:
    y = np.zeros((10, 20))
    y[:, 10:] = 1.0
    features = knn_features(y, np.array([5, 5]), np.array([2, 10]), spatial=2.0)
    assert np.allclose(features[0], [0.0, 0.0, 0.0, 2 * 2 / 20, 2 * 5 / 20])
    assert np.allclose(features[1], [1.0, 0.6, np.sqrt(0.24), 2 * 10 / 20, 2 * 5 / 20])


@pytest.mark.parametrize("options", [{"neighbours": 0}, {"sample": 0}, {"ring": -1}, {"smoothness": 1.0},
                                     {"spatial": -1.0}, {"neighbours": 2.5}])
def test_bad_options_are_refused(options: dict) -> None:
    with pytest.raises(ValueError):
        KnnPropagator(np.zeros((8, 8)), **options)


def test_the_colorizer_keeps_the_monochrome_and_beats_the_mean_on_a_photo() -> None:
    photo = torch.from_numpy(data.coffee()[::3, ::3].copy()).permute(2, 0, 1).float() / 255
    known = torch.ones(1, *photo.shape[1:], dtype=torch.bool)
    known[:, 50:110, 60:140] = False
    mono = rgb_to_mono(photo)
    result = composite(get_colorizer("knn")(mono, photo, known), photo, known)
    assert torch.allclose(rgb_to_mono(result), mono, atol=1e-5)
    mean = composite(get_colorizer("mean")(mono, photo, known), photo, known)
    assert hole_psnr(result, photo, known) > hole_psnr(mean, photo, known) + 3


def test_validated_blend_takes_knn_as_a_candidate() -> None:
    y, chroma, known, disc = two_discs()
    rgb = torch.from_numpy(np.stack([y + 0.956 * chroma[0] + 0.621 * chroma[1],
                                     y - 0.272 * chroma[0] - 0.647 * chroma[1],
                                     y - 1.106 * chroma[0] + 1.703 * chroma[1]])).float()
    mono = torch.from_numpy(y)[None].float()
    mask = torch.from_numpy(known)[None]
    blend = get_colorizer("validated-blend", candidates=("levin", "knn"))(mono, rgb, mask)
    assert hole_psnr(composite(blend, rgb, mask), rgb, mask) > \
        hole_psnr(composite(validated_blend_colorize(mono, rgb, mask), rgb, mask), rgb, mask) + 5


def test_the_colorizer_converts_only_what_it_reads_and_equals_the_whole_array_propagation() -> None:
    from eiip.colorize.classical import _prepare, _to_rgb_in_gamut

    photo = torch.from_numpy(data.chelsea()[::3, ::3].copy()).permute(2, 0, 1).float() / 255
    known = torch.ones(1, *photo.shape[1:], dtype=torch.bool)
    known[:, 30:70, 20:90] = False
    known[:, 5:9, 100:140] = False
    mono = rgb_to_mono(photo)
    y, chroma, mask = _prepare(mono, photo, known)
    expected = _to_rgb_in_gamut(y, KnnPropagator(y)(chroma, mask), mono)
    result = get_colorizer("knn")(mono, photo, known)
    assert (result - expected)[:, ~mask].abs().max() < 1e-6
    assert torch.equal(result[:, mask], photo[:, mask])


def test_shrink_last_mixes_the_fits_with_and_without_the_last_candidate() -> None:
    from eiip.colorize.validated_blend import validated_blend

    y, known, given = astronaut_with_hole(8, slice(20, 40), slice(24, 44))
    two = [levin_propagator(y), KnnPropagator(y)]
    _, full = validated_blend(two + [KnnPropagator(y, spatial=0.0)], given, known, 4)
    blended_two, without = validated_blend(two, given, known, 4)
    blended, shrunk = validated_blend(two + [KnnPropagator(y, spatial=0.0)], given, known, 4, shrink_last=1.0)
    assert np.allclose(blended, blended_two, atol=1e-12) and shrunk[-1] == 0
    _, half = validated_blend(two + [KnnPropagator(y, spatial=0.0)], given, known, 4, shrink_last=0.5)
    assert full[-1] > 0.05 and np.allclose(half, 0.5 * full + 0.5 * np.append(without, 0.0))
    mono = torch.from_numpy(y)[None].float()
    for bad in (-0.1, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match="shrink_last"):
            get_colorizer("validated-blend", shrink_last=bad)(mono, mono.expand(3, -1, -1), torch.from_numpy(known)[None])
