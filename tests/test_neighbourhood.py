"""Hole regions, and the colorizers solving a large image in its holes' neighbourhoods only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eiip.color import rgb_to_mono
from eiip.colorize import get_colorizer
from eiip.colorize.neighbourhood import cut_pieces
from eiip.data.samples import load_sample_photo
from eiip.regions import hole_regions


def _two_holes(height: int, width: int) -> torch.Tensor:
    """(1, H, W) known mask with an ellipse and a thin stroke far apart, and a speck beside the ellipse."""
    rows, cols = np.mgrid[:height, :width]
    hole = ((rows - 40) / 14.0) ** 2 + ((cols - 50) / 20.0) ** 2 <= 1.0
    hole |= (np.abs(rows - cols // 2 - 70) <= 2) & (cols > 110) & (cols < 170)
    hole[40, 73] = True  # 3 pixels right of the ellipse: its own group only with link 0
    return torch.from_numpy(~hole)[None]


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    return load_sample_photo("coffee", (144, 192))


def test_regions_group_nearby_pixels_and_grow_by_the_margin() -> None:
    known = _two_holes(144, 192)[0].numpy()
    linked = hole_regions(~known, margin=5, link=2)
    assert len(linked) == 2  # ellipse + speck, stroke
    alone = hole_regions(~known, margin=5, link=0)
    assert len(alone) == 3
    members = np.zeros_like(known)
    for region in linked:
        rows, cols = region.box.slices
        assert not (members[rows, cols] & region.members).any()  # each hole pixel in one group
        members[rows, cols] |= region.members
    np.testing.assert_array_equal(members, ~known)
    ellipse = next(region for region in linked if region.box.top < 40 < region.box.bottom and region.box.left < 50)
    assert (ellipse.box.top, ellipse.box.left, ellipse.box.bottom) == (26 - 5, 30 - 5, 55 + 5)
    assert ellipse.box.right == 74 + 5  # the speck at column 73 widens it
    assert hole_regions(np.zeros((4, 4), dtype=bool), 3) == []


def test_regions_clip_to_the_image_and_take_a_size_dependent_margin() -> None:
    hole = np.zeros((50, 60), dtype=bool)
    hole[0:10, 50:60] = True
    (region,) = hole_regions(hole, margin=lambda h, w: 2 * max(h, w))
    assert (region.box.top, region.box.left, region.box.bottom, region.box.right) == (0, 30, 30, 60)


def test_small_images_stay_whole_and_large_ones_are_cut() -> None:
    known = _two_holes(144, 192)[None]
    assert [piece.region for piece in cut_pieces(known, 144 * 192, 4, 2)] == [None]
    assert [piece.region for piece in cut_pieces(known, None, 4, 2)] == [None]
    assert len(cut_pieces(known, 0, 4, 2)) == 2
    with pytest.raises(ValueError, match="neighbourhood_above"):
        cut_pieces(known, -1, 4, 2)


@pytest.mark.parametrize("name", ["levin", "local-linear", "mean"])
def test_stencil_colorizers_in_neighbourhoods_equal_the_whole_image_solve(photo: torch.Tensor, name: str) -> None:
    known = _two_holes(*photo.shape[-2:])
    mono = rgb_to_mono(photo)
    whole = get_colorizer(name, neighbourhood_above=None)(mono, photo * known, known)
    cut = get_colorizer(name, neighbourhood_above=0)(mono, photo * known, known)
    hole = ~known[0]
    torch.testing.assert_close(cut[:, hole], whole[:, hole], rtol=0, atol=1e-6)
    torch.testing.assert_close(cut[:, ~hole], photo[:, ~hole])  # outside the hole: the known pixels as given


@pytest.mark.parametrize("candidates", [("levin", "local-linear"), ("levin",)])
def test_validated_blend_in_pieces_equals_the_whole_image_solve(photo: torch.Tensor, candidates: tuple[str, ...]
                                                                ) -> None:
    """The held-out sets are cut like the hole: the same fills at their pixels, so the same weights and result."""
    known = _two_holes(*photo.shape[-2:])
    mono = rgb_to_mono(photo)
    hole = ~known[0]
    whole = get_colorizer("validated-blend", candidates=candidates, neighbourhood_above=None)(mono, photo * known, known)
    cut = get_colorizer("validated-blend", candidates=candidates, neighbourhood_above=0)(mono, photo * known, known)
    torch.testing.assert_close(cut[:, hole], whole[:, hole], rtol=0, atol=1e-6)
    torch.testing.assert_close(cut[:, ~hole], photo[:, ~hole])


def test_validated_blend_in_pieces_batch_equals_one_by_one(photo: torch.Tensor) -> None:
    small = photo[:, :60, :80]
    known = torch.stack([_two_holes(*photo.shape[-2:]), _two_holes(*photo.shape[-2:]).roll(7, dims=2)])
    monos, images = rgb_to_mono(photo).expand(2, -1, -1, -1), photo.expand(2, -1, -1, -1)
    colorizer = get_colorizer("validated-blend", neighbourhood_above=0)
    batch = colorizer.colorize_batch(monos, images * known, known)
    for index in range(2):
        one = colorizer(monos[index], images[index] * known[index], known[index])
        torch.testing.assert_close(batch[index], one, rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="validation_scale"):
        get_colorizer("validated-blend", neighbourhood_above=0, validation_scale=2)(
            rgb_to_mono(small), small, torch.ones(1, 60, 80, dtype=torch.bool).index_fill_(2, torch.tensor([5]), False))
