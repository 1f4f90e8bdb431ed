"""Color hints for every colorizer (paper Fig. 11): points and a hint image, in the Python API and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from eiip.color import rgb_to_mono, rgb_to_yiq
from eiip.colorize import get_colorizer
from eiip.colorize.hints import ColorHint, colorize_with_hints, hint_layer, read_hint_image, with_hints
from eiip.errors import InputError
from eiip.io import read_image, write_image, write_mask
from helpers import run_cli

HINT = ColorHint(30, 32, (0.1, 0.35, 0.9))  # a blue inside the 20x24 hole of rect_known (rows 22..41, cols 18..41)


def _chroma_distance(rgb: torch.Tensor, x: int, y: int, color: tuple[float, float, float]) -> float:
    """Distance in (I, Q) between a pixel of rgb (3, H, W) and a color."""
    pixel = rgb_to_yiq(rgb[:, y:y + 1, x:x + 1].double())[1:, 0, 0]
    target = rgb_to_yiq(torch.tensor(color, dtype=torch.float64).view(3, 1, 1))[1:, 0, 0]
    return float((pixel - target).norm())


def test_point_hints_are_squares_of_known_pixels() -> None:
    layer = hint_layer([HINT, ColorHint(0, 0, (1.0, 0.0, 0.0))], 64, 64)
    assert int(layer.mask.sum()) == 9 + 4  # the corner's square is clipped to the image
    assert torch.equal(layer.rgb[:, 33, 31], torch.tensor(HINT.rgb))
    rgb, known = with_hints(torch.zeros(3, 64, 64), torch.zeros(1, 64, 64, dtype=torch.bool), layer)
    assert torch.equal(known, layer.mask) and torch.equal(rgb, layer.rgb * layer.mask)
    with pytest.raises(ValueError, match="outside the 64x64 image"):
        hint_layer([ColorHint(64, 3, (0.0, 0.0, 0.0))], 64, 64)


@pytest.mark.parametrize("name", ["levin", "local-linear", "validated-blend", "dt"])
def test_a_hint_moves_the_hole_towards_its_color(name: str, astronaut64: torch.Tensor, rect_known: torch.Tensor
                                                 ) -> None:
    mono = rgb_to_mono(astronaut64)
    colorizer = get_colorizer(name)
    plain = colorizer(mono, astronaut64 * rect_known, rect_known)
    hinted = colorize_with_hints(colorizer, mono, astronaut64 * rect_known, rect_known, [HINT], internal=False)
    neighbour = (HINT.x + 3, HINT.y)  # outside the hint's square, inside the hole
    assert _chroma_distance(hinted, HINT.x, HINT.y, HINT.rgb) < 0.5 * _chroma_distance(plain, HINT.x, HINT.y, HINT.rgb)
    assert _chroma_distance(hinted, *neighbour, HINT.rgb) < _chroma_distance(plain, *neighbour, HINT.rgb)


def _hint_image(path: Path, size: int = 64) -> Path:
    """A transparent layer with the 3x3 square of HINT drawn in its color."""
    layer = np.zeros((size, size, 4), dtype=np.uint8)
    color = [round(255 * channel) for channel in HINT.rgb]
    layer[HINT.y - 1:HINT.y + 2, HINT.x - 1:HINT.x + 2] = [*color, 255]
    Image.fromarray(layer, "RGBA").save(path)
    return path


@pytest.mark.parametrize("colorizer", ["levin", "validated-blend"])
def test_cli_hint_and_hint_image_give_the_same_result(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                      astronaut64: torch.Tensor, rect_known: torch.Tensor,
                                                      colorizer: str) -> None:
    image = write_image(tmp_path / "input.png", astronaut64 * rect_known)
    mask = write_mask(tmp_path / "mask.png", ~rect_known)
    gray = write_image(tmp_path / "gray.png", rgb_to_mono(astronaut64))  # the hole's structure (the image's is black)
    color = "#" + "".join(f"{round(255 * channel):02x}" for channel in HINT.rgb)
    base = ["colorize", "--image", image, "--mask", mask, "--gray", gray, "--colorizer", colorizer, "--quiet"]
    outputs = {}
    for label, option in (("point", ["--hint", f"{HINT.x},{HINT.y},{color}"]),
                          ("image", ["--hint-image", _hint_image(tmp_path / "hints.png")]), ("none", [])):
        outputs[label] = tmp_path / f"{label}.png"
        code, _, err = run_cli(capsys, *base, "--out", outputs[label], *option)
        assert code == 0, err
    point, drawn, plain = (read_image(outputs[label]) for label in ("point", "image", "none"))
    assert torch.equal(point, drawn)
    assert _chroma_distance(point, HINT.x, HINT.y, HINT.rgb) < _chroma_distance(plain, HINT.x, HINT.y, HINT.rgb)


def test_bad_hint_images_are_one_line_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                             astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    opaque = write_image(tmp_path / "opaque.png", astronaut64)
    with pytest.raises(InputError, match="no transparency"):
        read_hint_image(opaque, 64, 64)
    with pytest.raises(InputError, match="is 64x64 but the image is 32x64"):
        read_hint_image(_hint_image(tmp_path / "hints.png"), 64, 32)
    Image.fromarray(np.zeros((64, 64, 4), dtype=np.uint8), "RGBA").save(tmp_path / "empty.png")
    with pytest.raises(InputError, match="no hint"):
        read_hint_image(tmp_path / "empty.png", 64, 64)
    image = write_image(tmp_path / "input.png", astronaut64 * rect_known)
    mask = write_mask(tmp_path / "mask.png", ~rect_known)
    code, _, err = run_cli(capsys, "colorize", "--image", image, "--mask", mask, "--out", tmp_path / "o.png",
                           "--colorizer", "levin", "--hint", "64,10,#ffffff")
    assert code == 2 and err.count("\n") == 1 and "outside the 64x64 image" in err
    code, _, err = run_cli(capsys, "colorize", "--image", image, "--mask", mask, "--out", tmp_path / "o.png",
                           "--colorizer", "mean", "--hint", "10,10,#ffffff")
    assert code == 2 and err.count("\n") == 1 and "one chroma for the whole hole" in err
