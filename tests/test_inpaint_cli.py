"""`eiip inpaint` and `eiip recolor` end to end on real photos with drawn masks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from eiip.cli import main
from eiip.color import rgb_to_mono
from eiip.data.samples import load_sample_photo
from eiip.io import read_gray, read_image, read_mask, write_image
from eiip.metrics import hole_psnr
from test_pipeline import hole_mask, tiny_checkpoint

FAST = ["--colorizer", "levin"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny 1-step gatedconv checkpoints, mono and rgb."""
    root = tmp_path_factory.mktemp("checkpoints")
    return {bottleneck: tiny_checkpoint(root / f"{bottleneck}.ckpt", bottleneck) for bottleneck in ("mono", "rgb")}


def photo_files(root: Path, name: str, size: tuple[int, int]) -> dict[str, Path]:
    """A photo, the photo with its drawn hole painted white, and the mask, as PNG files under root."""
    photo = load_sample_photo(name, size)
    mask = hole_mask(*size)
    mask.save(root / f"{name}-mask.png")
    hole = read_mask(root / f"{name}-mask.png")
    return {
        "photo": write_image(root / f"{name}.png", photo),
        "input": write_image(root / f"{name}-input.png", torch.where(hole, torch.ones_like(photo), photo)),
        "mask": root / f"{name}-mask.png",
    }


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def check_result(out: Path, files: dict[str, Path]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(result, photo, hole): known pixels are those of the input, bit for bit; the hole was filled."""
    result, image, photo = read_image(out), read_image(files["input"]), read_image(files["photo"])
    hole = read_mask(files["mask"])
    known = (~hole).expand(3, -1, -1)
    assert torch.equal(result[known], image[known])
    assert not torch.equal(result[~known], image[~known])
    return result, photo, hole


def test_inpaint_with_telea_writes_result_monochrome_and_comparison(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    files = photo_files(tmp_path, "astronaut", (64, 64))
    out, mono_out, compare = tmp_path / "out.png", tmp_path / "mono.png", tmp_path / "compare.png"
    code, stdout, err = run_cli(capsys, "inpaint", "--image", files["input"], "--mask", files["mask"],
                                "--backbone", "telea", "--out", out, "--mono-out", mono_out, "--compare", compare,
                                *FAST)
    assert code == 0, err
    assert str(out) in stdout and str(mono_out) in stdout and "telea + levin" in stdout and "hole 8." in stdout
    result, photo, hole = check_result(out, files)
    # measured 15.3 dB (mono) and 14.6 dB (RGB); the white hole of the input scores 2.5 dB
    assert hole_psnr(read_gray(mono_out), rgb_to_mono(photo), ~hole) > 14.0
    assert hole_psnr(result, photo, ~hole) > 13.5
    assert read_image(compare).shape[-1] > 3 * 64


@pytest.mark.parametrize("bottleneck, size", [("mono", (64, 64)), ("rgb", (64, 64)), ("mono", (61, 77))])
def test_inpaint_with_a_checkpoint(
    bottleneck: str, size: tuple[int, int], capsys: pytest.CaptureFixture[str], tmp_path: Path,
    checkpoints: dict[str, Path],
) -> None:
    files = photo_files(tmp_path, "coffee", size)
    out, mono_out = tmp_path / "out.png", tmp_path / "mono.png"
    code, stdout, err = run_cli(capsys, "inpaint", "--image", files["input"], "--mask", files["mask"],
                                "--ckpt", checkpoints[bottleneck], "--out", out, "--mono-out", mono_out,
                                "--colorizer", "dt", "--device", "cpu")
    assert code == 0, err
    assert ("no colorizer" in stdout) == (bottleneck == "rgb")
    result, _, _ = check_result(out, files)
    assert result.shape == (3, *size)
    if bottleneck == "rgb":  # the monochrome of the RGB completion
        assert (read_gray(mono_out) - rgb_to_mono(result)).abs().max() <= 1 / 255 + 1e-6


def test_inpaint_with_the_internal_colorizer(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    files = photo_files(tmp_path, "chelsea", (64, 64))
    out = tmp_path / "out.png"
    code, stdout, err = run_cli(capsys, "inpaint", "--image", files["input"], "--mask", files["mask"],
                                "--backbone", "ns", "--out", out, "--colorizer", "internal", "--levels", "1",
                                "--steps", "40", "--quiet", "--device", "cpu")
    assert code == 0, err
    assert "ns + internal" in stdout
    result, photo, hole = check_result(out, files)
    assert hole_psnr(result, photo, ~hole) > 15.5  # measured 17.2 dB


def test_recolor_keeps_the_inpainted_structure_and_restores_colors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    files = photo_files(tmp_path, "astronaut", (64, 64))
    photo, hole = read_image(files["photo"]), read_mask(files["mask"])
    # another method's result: the right structure, washed-out gray colors in the hole
    gray = rgb_to_mono(photo).expand(3, -1, -1)
    files["input"] = write_image(tmp_path / "inpainted.png", torch.where(hole, gray, photo))
    out, compare = tmp_path / "recolored.png", tmp_path / "compare.png"
    code, stdout, err = run_cli(capsys, "recolor", "--image", files["input"], "--mask", files["mask"],
                                "--out", out, "--compare", compare, *FAST)
    assert code == 0, err
    assert "recolored with levin" in stdout and str(compare) in stdout
    result, _, _ = check_result(out, files)
    assert (rgb_to_mono(result) - rgb_to_mono(read_image(files["input"])))[hole].abs().mean() < 0.01
    # measured 24.8 dB against 17.8 dB for the gray hole
    assert hole_psnr(result, photo, ~hole) > hole_psnr(read_image(files["input"]), photo, ~hole) + 5.0


def test_bad_inputs_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, checkpoints: dict[str, Path]
) -> None:
    files = photo_files(tmp_path, "coffee", (64, 64))
    small = photo_files(tmp_path, "chelsea", (32, 48))
    base = ["--image", files["input"], "--out", tmp_path / "out.png", *FAST]
    cases = {
        "checkpoint not found": ["inpaint", *base, "--mask", files["mask"], "--ckpt", tmp_path / "none.ckpt"],
        "exactly one external stage": ["inpaint", *base, "--mask", files["mask"]],
        "exactly one": ["inpaint", *base, "--mask", files["mask"], "--backbone", "ns", "--ckpt", checkpoints["mono"]],
        "size mismatch": ["inpaint", *base, "--mask", small["mask"], "--backbone", "telea"],
        "size mismatch: image": ["recolor", *base, "--mask", small["mask"]],
    }
    for message, argv in cases.items():
        code, stdout, err = run_cli(capsys, *argv)
        assert code == 2, (argv, err)
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
        assert not (tmp_path / "out.png").exists()
