"""The commands on images above a (lowered) size threshold: neighbourhood colorization and the HD strategy
give the whole-image result where that is exact, and images over --max-pixels are refused with one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from eiip.io import read_image, read_mask, write_image
from helpers import run_cli
from test_inpaint_cli import photo_files
from test_pipeline import tiny_checkpoint

SIZE = (120, 160)
WHOLE = ["--neighbourhood-above", "100000000"]
CUT = ["--neighbourhood-above", "0"]


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    return photo_files(tmp_path, "coffee", SIZE)


@pytest.mark.parametrize("colorizer", ["levin", "local-linear"])
def test_colorize_in_neighbourhoods_equals_the_whole_image(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                           files: dict[str, Path], colorizer: str) -> None:
    outputs = {}
    for label, option in (("whole", WHOLE), ("cut", CUT)):
        outputs[label] = tmp_path / f"{label}.png"
        code, _, err = run_cli(capsys, "colorize", "--image", files["photo"], "--mask", files["mask"], "--out",
                               outputs[label], "--colorizer", colorizer, "--quiet", *option)
        assert code == 0, err
    assert torch.equal(read_image(outputs["cut"]), read_image(outputs["whole"]))


def test_inpaint_telea_cropped_and_recolor_equal_the_whole_image(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                                 files: dict[str, Path]) -> None:
    base = ["--image", files["input"], "--mask", files["mask"], "--colorizer", "levin", "--quiet"]
    whole, cut = tmp_path / "whole.png", tmp_path / "cut.png"
    assert run_cli(capsys, "inpaint", *base, "--out", whole, "--backbone", "telea", *WHOLE)[0] == 0
    assert run_cli(capsys, "inpaint", *base, "--out", cut, "--backbone", "telea", "--hd-pixels", "4096", *CUT)[0] == 0
    assert torch.equal(read_image(cut), read_image(whole))
    for label, option in (("whole", WHOLE), ("cut", CUT)):
        code, _, err = run_cli(capsys, "recolor", *base, "--out", tmp_path / f"re-{label}.png", *option)
        assert code == 0, err
    assert torch.equal(read_image(tmp_path / "re-cut.png"), read_image(tmp_path / "re-whole.png"))


def test_inpaint_checkpoint_crops_above_its_working_size(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                         files: dict[str, Path]) -> None:
    checkpoint = tiny_checkpoint(tmp_path / "mono.ckpt", "mono")
    out = tmp_path / "out.png"
    code, stdout, err = run_cli(capsys, "inpaint", "--image", files["input"], "--mask", files["mask"], "--out", out,
                                "--ckpt", checkpoint, "--hd-pixels", "2048", "--colorizer", "levin", "--quiet", *CUT)
    assert code == 0, err
    result, image, hole = read_image(out), read_image(files["input"]), read_mask(files["mask"])
    known = (~hole).expand(3, -1, -1)
    assert torch.equal(result[known], image[known]) and "wrote" in stdout
    code, _, err = run_cli(capsys, "inpaint", "--image", files["input"], "--mask", files["mask"], "--out", out,
                           "--backbone", "telea", "--colorizer", "internal", "--neighbourhood-above", "0")
    assert code == 2 and err.count("\n") == 1 and "--neighbourhood-above works with the stencil" in err


def test_images_over_max_pixels_are_refused_with_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                          files: dict[str, Path]) -> None:
    out = tmp_path / "out.png"
    code, _, err = run_cli(capsys, "colorize", "--image", files["photo"], "--mask", files["mask"], "--out", out,
                           "--max-pixels", "10000")
    assert code == 2 and not out.exists()
    assert err.count("\n") == 1 and "--max-pixels" in err
    assert "is 160x120 (0.0 MP), more than the limit of 0.01 MP" in err


def test_decompression_bomb_guard_becomes_the_same_line(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, files: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL refuses files over 2000 pixels before our check
    code, _, err = run_cli(capsys, "colorize", "--image", files["photo"], "--mask", files["mask"], "--out",
                           tmp_path / "out.png", "--max-pixels", "100")
    assert code == 2 and err.count("\n") == 1 and "larger than twice the limit" in err and "--max-pixels" in err
    assert Image.MAX_IMAGE_PIXELS == 1000  # restored


def test_folder_mode_refuses_only_the_large_image(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for name, size in (("small", (60, 80)), ("large", SIZE)):
        files = photo_files(tmp_path, "coffee", size)
        write_image(inputs / f"{name}.png", read_image(files["photo"]))
    mask = Image.new("L", (80, 60), 0)
    mask.paste(255, (20, 20, 40, 30))
    mask.save(tmp_path / "small-mask.png")
    code, _, err = run_cli(capsys, "colorize", "--input-dir", inputs, "--mask", tmp_path / "small-mask.png",
                           "--out-dir", out, "--colorizer", "levin", "--max-pixels", "5000", "--quiet")
    assert code == 2 and (out / "small.png").exists() and not (out / "large.png").exists()
    assert "large.png" in err and "more than the limit" in err
