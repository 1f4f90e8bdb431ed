"""Standard mask sets: LaMa's thin/medium/thick (seeded) and the imported NVIDIA irregular-mask test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import file_bytes, run_cli
from eiip.lama_masks import MAX_HOLE_RATIO, PRESETS, preset_size
from eiip.masks import generate_mask, hole_ratio, load_mask_set


def test_lama_thick_set_is_seeded(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ["--kind", "lama-thick", "--n", "8", "--size", "512x512", "--seed", "0", "--quiet"]
    assert run_cli(capsys, "masks", "--out", tmp_path / "a", *args)[0] == 0
    assert run_cli(capsys, "masks", "--out", tmp_path / "b", *args)[0] == 0
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")
    masks, index = load_mask_set(tmp_path / "a")
    assert index["kind"] == "lama-thick" and len(masks) == 8
    assert all(0 < hole_ratio(mask) <= MAX_HOLE_RATIO for mask in masks)
    assert run_cli(capsys, "masks", "--out", tmp_path / "c", *args[:-3], "--seed", "1", "--quiet")[0] == 0
    assert file_bytes(tmp_path / "c")["00000.png"] != file_bytes(tmp_path / "a")["00000.png"]


def test_presets_follow_the_shorter_side_and_widths_scale() -> None:
    assert preset_size(256, 256) == 256 and preset_size(512, 680) == 512 and preset_size(128, 900) == 256
    assert PRESETS["thin", 256].boxes is None and PRESETS["thick", 512].strokes.max_width == 250
    rng = np.random.default_rng(0)
    thin = np.mean([hole_ratio(generate_mask("lama-thin", 256, 256, rng)) for _ in range(20)])
    assert 0 < thin <= MAX_HOLE_RATIO
    ranged = generate_mask("lama-medium", 256, 256, rng, ratio=(0.2, 0.3))
    assert 0.2 <= hole_ratio(ranged) <= 0.3


def test_lama_boxes_need_room() -> None:
    with pytest.raises(ValueError, match="too small for LaMa boxes"):
        generate_mask("lama-thick", 40, 40, np.random.default_rng(0))


# (hole rows of a 40x40 release mask, expected bin at 20x20): ratios 0.05, 0.15, 0.35, 0.55 and 0.75 (outside)
RELEASE = [(2, "0.01-0.1"), (6, "0.1-0.2"), (14, "0.3-0.4"), (22, "0.5-0.6"), (30, None)]


def write_release(folder: Path, hole_value: int) -> None:
    """A small folder laid out like the NVIDIA test set: 00000.png, ... with hole rows of `hole_value`."""
    folder.mkdir()
    for i, (rows, _) in enumerate(RELEASE):
        pixels = np.full((40, 40), 255 - hole_value, np.uint8)
        pixels[:rows] = hole_value
        Image.fromarray(pixels).save(folder / f"{i:05d}.png")


@pytest.mark.parametrize(("hole_color", "hole_value"), [("white", 255), ("black", 0)])
def test_import_nvidia_bins_by_ratio_at_the_test_size(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, hole_color: str, hole_value: int
) -> None:
    write_release(tmp_path / "release", hole_value)
    code, stdout, err = run_cli(capsys, "masks", "--import-nvidia", tmp_path / "release", "--out", tmp_path / "set",
                                "--size", "20x20", "--hole-color", hole_color)
    assert code == 0, err
    assert "imported 5 NVIDIA masks at 20x20" in stdout and "outside: 1" in stdout
    masks, index = load_mask_set(tmp_path / "set")
    assert (index["kind"], index["hole_color"], index["height"]) == ("nvidia", hole_color, 20)
    assert [entry["bin"] for entry in index["masks"]] == [expected for _, expected in RELEASE]
    assert [entry["source"] for entry in index["masks"]] == [f"{i:05d}.png" for i in range(5)]
    assert [hole_ratio(mask) for mask in masks] == pytest.approx([rows / 40 for rows, _ in RELEASE])
    assert masks[0][0].all() and not masks[0][-1].any()  # the hole is the top rows whatever the colour


def test_import_needs_pngs_and_generation_needs_n(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "masks", "--import-nvidia", tmp_path / "empty", "--out", tmp_path / "set",
                           "--size", "8x8")
    assert code == 2 and "no PNG masks" in err
    code, _, err = run_cli(capsys, "masks", "--out", tmp_path / "set", "--size", "8x8")
    assert code == 2 and "--n is required" in err
