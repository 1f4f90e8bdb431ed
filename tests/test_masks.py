import json

import numpy as np
import pytest
from PIL import Image

from eiip.masks import (
    box_mask,
    free_form_mask,
    generate_mask,
    generate_masks,
    hole_ratio,
    load_mask_set,
    save_mask_set,
)


def rng(seed):
    return np.random.default_rng(seed)


# --- reproducibility -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["freeform", "rect", "mixed"])
def test_same_seed_same_masks_different_seed_different(kind):
    a = generate_masks(kind, 8, 64, 80, seed=11)
    b = generate_masks(kind, 8, 64, 80, seed=11)
    c = generate_masks(kind, 8, 64, 80, seed=12)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    assert len({m.tobytes() for m in a}) > 1


def test_generators_use_only_the_given_rng():
    np.random.seed(0)
    first = free_form_mask(96, 96, rng(5))
    np.random.seed(123)
    assert np.array_equal(first, free_form_mask(96, 96, rng(5)))


def test_generate_masks_prefix_property():
    many = generate_masks("mixed", 30, 48, 48, seed=3, ratio=(0.2, 0.4))
    few = generate_masks("mixed", 10, 48, 48, seed=3, ratio=(0.2, 0.4))
    assert len(many) == 30 and len(few) == 10
    assert all(np.array_equal(x, y) for x, y in zip(few, many[:10]))
    assert generate_masks("rect", 0, 8, 8, seed=3) == []


# --- free-form -------------------------------------------------------------------------------


def test_free_form_statistics_256():
    masks = [free_form_mask(256, 256, rng([2024, i])) for i in range(50)]
    ratios = np.array([hole_ratio(m) for m in masks])
    for m in masks:
        assert m.dtype == bool and m.shape == (256, 256)
        assert m.any() and not m.all()
    # Measured mean 0.151 (std 0.080) over 2000 masks; 50 masks give a looser band.
    assert 0.10 < ratios.mean() < 0.22
    assert 0.03 < ratios.std() < 0.14
    # Up to 3 strokes of width < 40 px and <= 12 segments cannot cover half of a 256x256 image.
    assert ratios.max() < 0.5
    assert len({m.tobytes() for m in masks}) == 50


def test_free_form_scales_with_image_size_and_stroke_count():
    small = np.mean([hole_ratio(free_form_mask(512, 640, rng([9, i]))) for i in range(30)])
    assert 0.04 < small < 0.13  # measured mean 0.080: stroke widths are fixed in px
    one = np.mean([hole_ratio(free_form_mask(128, 128, rng([4, i]), max_strokes=1)) for i in range(30)])
    many = np.mean([hole_ratio(free_form_mask(128, 128, rng([4, i]), max_strokes=10)) for i in range(30)])
    assert one < many


def test_free_form_strokes_are_thick():
    # Every hole pixel lies in a run of at least 12 px (the minimum brush width) along some axis.
    m = free_form_mask(200, 300, rng(1), max_strokes=1)
    assert m.any()
    eroded = m.copy()
    for shift in range(1, 6):
        eroded[shift:, :] &= m[:-shift, :]
        eroded[:, shift:] &= m[:, :-shift]
    assert eroded.sum() > 0.3 * m.sum()


def test_free_form_rejects_bad_arguments():
    with pytest.raises(ValueError, match="max_strokes"):
        free_form_mask(32, 32, rng(0), max_strokes=0)
    with pytest.raises(ValueError, match="positive"):
        free_form_mask(0, 32, rng(0))


# --- box -------------------------------------------------------------------------------------


@pytest.mark.parametrize("area_ratio", [0.05, 0.25, 0.5, 0.734, 0.95])
@pytest.mark.parametrize("seed", range(5))
def test_box_mask_is_one_rectangle_of_the_requested_area(area_ratio, seed):
    m = box_mask(120, 200, rng([seed, 1]), area_ratio=area_ratio)
    rows, cols = np.nonzero(m)
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    assert m[top : bottom + 1, left : right + 1].all()
    assert m.sum() == (bottom - top + 1) * (right - left + 1)
    assert abs(hole_ratio(m) - area_ratio) < 0.02


def test_box_mask_aspect_range():
    for seed in range(20):
        m = box_mask(400, 400, rng(seed), area_ratio=0.1, aspect_range=(3.0, 3.0))
        rows, cols = np.nonzero(m)
        aspect = (np.ptp(cols) + 1) / (np.ptp(rows) + 1)
        assert aspect == pytest.approx(3.0, rel=0.03)


def test_box_mask_rejects_bad_arguments():
    with pytest.raises(ValueError, match="area_ratio"):
        box_mask(10, 10, rng(0), area_ratio=1.5)
    with pytest.raises(ValueError, match="aspect_range"):
        box_mask(10, 10, rng(0), area_ratio=0.5, aspect_range=(2.0, 1.0))


def test_hole_ratio():
    m = np.zeros((4, 5), dtype=bool)
    m[0, :4] = True
    assert hole_ratio(m) == 0.2
    assert hole_ratio(np.ones((3, 3), dtype=bool)) == 1.0


# --- ratio targeting -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["freeform", "rect", "mixed"])
@pytest.mark.parametrize("ratio", [(0.2, 0.4), (0.225, 0.734), (0.6, 0.75)])
def test_generate_mask_hits_ratio_range(kind, ratio):
    lo, hi = ratio
    masks = generate_masks(kind, 25, 256, 256, seed=77, ratio=ratio)
    for m in masks:
        assert m.dtype == bool and m.shape == (256, 256)
        assert lo <= hole_ratio(m) <= hi


def test_mixed_gives_both_kinds():
    masks = generate_masks("mixed", 20, 64, 64, seed=5)
    is_box = []
    for m in masks:
        rows, cols = np.nonzero(m)
        is_box.append(bool(m[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()))
    assert 3 <= sum(is_box) <= 17


def test_rect_without_ratio_is_a_box():
    m = generate_mask("rect", 90, 70, rng(2))
    rows, cols = np.nonzero(m)
    assert m[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()
    assert 0.08 <= hole_ratio(m) <= 0.52


def test_generate_mask_errors():
    with pytest.raises(ValueError, match="freeform, rect, mixed"):
        generate_mask("circle", 32, 32, rng(0))
    for bad in [(0.5, 0.4), (-0.1, 0.3), (0.2, 1.0), (0.2, float("nan"))]:
        with pytest.raises(ValueError, match="ratio"):
            generate_mask("freeform", 32, 32, rng(0), bad)
    with pytest.raises(ValueError, match="positive"):
        generate_mask("rect", 32, -1, rng(0))
    with pytest.raises(ValueError, match="n must be"):
        generate_masks("rect", -1, 8, 8, seed=0)


@pytest.mark.parametrize("kind", ["freeform", "rect", "mixed"])
def test_impossible_range_raises(kind):
    with pytest.raises(ValueError, match=r"could not reach .* 8x8"):
        generate_mask(kind, 8, 8, rng(0), (0.999, 0.9999))


# --- mask sets on disk -----------------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    masks = generate_masks("mixed", 6, 40, 56, seed=9, ratio=(0.2, 0.4))
    index_path = save_mask_set(tmp_path / "set", masks, kind="mixed", seed=9, ratio=(0.2, 0.4))
    assert index_path == tmp_path / "set" / "index.json"
    names = sorted(p.name for p in (tmp_path / "set").iterdir())
    assert names == [f"0000{i}.png" for i in range(6)] + ["index.json"]

    index = json.loads(index_path.read_text())
    assert index["kind"] == "mixed" and index["seed"] == 9 and index["ratio"] == [0.2, 0.4]
    assert (index["height"], index["width"], index["count"]) == (40, 56, 6)
    assert [e["file"] for e in index["masks"]] == [f"0000{i}.png" for i in range(6)]
    for entry, m in zip(index["masks"], masks):
        assert entry["hole_ratio"] == pytest.approx(hole_ratio(m), abs=1e-6)

    with Image.open(tmp_path / "set" / "00000.png") as image:
        pixels = np.asarray(image)
    assert image.mode == "L" and set(np.unique(pixels)) <= {0, 255}
    assert np.array_equal(pixels == 255, masks[0])

    loaded, loaded_index = load_mask_set(tmp_path / "set")
    assert loaded_index == index
    assert len(loaded) == 6
    for a, b in zip(loaded, masks):
        assert a.dtype == bool and np.array_equal(a, b)


def test_save_without_ratio_and_rejects_bad_sets(tmp_path):
    save_mask_set(tmp_path, generate_masks("freeform", 2, 16, 16, seed=1), kind="freeform", seed=1)
    assert json.loads((tmp_path / "index.json").read_text())["ratio"] is None
    with pytest.raises(ValueError, match="empty"):
        save_mask_set(tmp_path / "e", [], kind="rect", seed=0)
    with pytest.raises(ValueError, match="shape"):
        save_mask_set(tmp_path / "s", [np.zeros((4, 4), bool), np.zeros((4, 5), bool)], kind="rect", seed=0)


def test_load_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="index.json"):
        load_mask_set(tmp_path)

    save_mask_set(tmp_path, generate_masks("rect", 3, 20, 30, seed=2), kind="rect", seed=2)
    (tmp_path / "00001.png").unlink()
    with pytest.raises(FileNotFoundError, match="00001.png"):
        load_mask_set(tmp_path)

    Image.new("L", (31, 20)).save(tmp_path / "00001.png")
    with pytest.raises(ValueError, match="00001.png.*differs"):
        load_mask_set(tmp_path)

    index = json.loads((tmp_path / "index.json").read_text())
    index["count"] = 5
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="count"):
        load_mask_set(tmp_path)
