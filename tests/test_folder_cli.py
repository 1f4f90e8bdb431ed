"""Folder mode of `eiip colorize`, `eiip inpaint` and `eiip recolor` on real photos: every image written
but the bad ones, one error line each, resumable, the same files from parallel workers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from eiip.cli import main
from eiip.color import rgb_to_mono
from eiip.data.samples import load_sample_photo
from eiip.io import read_image, write_image, write_mask
from eiip.metrics import hole_psnr

SIZE = (48, 64)
PHOTOS = {"astronaut": ".png", "chelsea": ".jpg", "china": ".png", "coffee": ".png"}
"""The good inputs of the folder and their file types."""
BAD = ("broken.png", "rocket.png")
"""A truncated PNG file, and a photo whose mask has another size."""
LEVIN = ["--colorizer", "levin", "--quiet"]


def rect_hole(height: int, width: int) -> torch.Tensor:
    """(1, H, W) bool: a rectangle of about 5% of the image."""
    hole = torch.zeros(1, height, width, dtype=torch.bool)
    hole[:, height * 5 // 16 : height // 2, width // 4 : width // 2] = True
    return hole


@pytest.fixture()
def folders(tmp_path: Path) -> dict[str, Path]:
    """images/ (four real photos, a truncated PNG, a photo with a mask of another size, a text file) and masks/."""
    images, masks = tmp_path / "images", tmp_path / "masks"
    for name, suffix in PHOTOS.items():
        write_image(images / f"{name}{suffix}", load_sample_photo(name, SIZE))
        write_mask(masks / f"{name}.png", rect_hole(*SIZE))
    (images / "broken.png").write_bytes((images / "astronaut.png").read_bytes()[:200])
    write_mask(masks / "broken.png", rect_hole(*SIZE))
    write_image(images / "rocket.png", load_sample_photo("rocket", SIZE))
    write_mask(masks / "rocket.png", rect_hole(32, 40))
    (images / "notes.txt").write_text("not an image")
    return {"images": images, "masks": masks, "out": tmp_path / "out"}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, list[str]]:
    """(exit status, stdout, the error lines of stderr)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, [line for line in captured.err.splitlines() if line.startswith("error:")]


def folder_args(folders: dict[str, Path]) -> list[str | Path]:
    return ["--input-dir", folders["images"], "--mask-dir", folders["masks"], "--out-dir", folders["out"]]


def check_outputs(out: Path, images: Path, min_hole_psnr: float) -> None:
    """Exactly the good photos written as <stem>.png (no temporary file), known pixels those of the input,
    the hole filled anew, closer to the photo than `min_hole_psnr` and than a mid-gray fill."""
    assert sorted(os.listdir(out)) == sorted(f"{name}.png" for name in PHOTOS)
    hole = rect_hole(*SIZE)
    known = (~hole).expand(3, -1, -1)
    for name, suffix in PHOTOS.items():
        result, image = read_image(out / f"{name}.png"), read_image(images / f"{name}{suffix}")
        assert (result[known] - image[known]).abs().max() <= 1 / 255 + 1e-6
        assert not torch.equal(result[~known], image[~known])
        gray_fill = hole_psnr(torch.full_like(image, 0.5), image, ~hole)
        assert hole_psnr(result, image, ~hole) > max(min_hole_psnr, gray_fill), name


def check_errors(errors: list[str], images: Path) -> None:
    """One line per bad input, naming it and its problem."""
    assert len(errors) == 2, errors
    assert errors[0].startswith(f"error: {images / 'broken.png'}: cannot read image")
    assert errors[1].startswith(f"error: {images / 'rocket.png'}: size mismatch")


def test_colorize_folder_writes_the_good_images_and_lists_the_bad_ones(
    capsys: pytest.CaptureFixture[str], folders: dict[str, Path]
) -> None:
    code, stdout, errors = run_cli(capsys, "colorize", *folder_args(folders), *LEVIN)
    assert code == 2
    check_errors(errors, folders["images"])
    assert "wrote 4 image(s)" in stdout and "skipped 0" in stdout and "2 failed" in stdout
    check_outputs(folders["out"], folders["images"], min_hole_psnr=20.0)


def test_rerun_skips_finished_outputs(capsys: pytest.CaptureFixture[str], folders: dict[str, Path]) -> None:
    run_cli(capsys, "colorize", *folder_args(folders), *LEVIN)
    written = {path.name: path.stat().st_mtime_ns for path in folders["out"].iterdir()}
    write_mask(folders["masks"] / "rocket.png", rect_hole(*SIZE))  # fix one of the two bad inputs
    code, stdout, errors = run_cli(capsys, "colorize", *folder_args(folders), "--colorizer", "levin")
    assert code == 2 and len(errors) == 1 and "broken.png" in errors[0]
    assert "wrote 1 image(s)" in stdout and "skipped 4 already there" in stdout
    assert {name: (folders["out"] / name).stat().st_mtime_ns for name in written} == written
    assert (folders["out"] / "rocket.png").is_file()


def test_inpaint_folder_with_two_workers_writes_the_same_files(
    capsys: pytest.CaptureFixture[str], folders: dict[str, Path]
) -> None:
    outputs = {}
    for workers in ("1", "2"):
        folders["out"] = folders["images"].parent / f"out{workers}"
        code, _, errors = run_cli(capsys, "inpaint", *folder_args(folders), "--backbone", "telea", *LEVIN,
                                  "--workers", workers)
        assert code == 2
        check_errors(errors, folders["images"])
        check_outputs(folders["out"], folders["images"], min_hole_psnr=10.0)  # telea at 48x64: 11-16 dB
        outputs[workers] = {path.name: path.read_bytes() for path in folders["out"].iterdir()}
    assert outputs["1"] == outputs["2"]


def test_recolor_folder_with_one_mask_for_all(capsys: pytest.CaptureFixture[str], folders: dict[str, Path]) -> None:
    for bad in BAD:
        (folders["images"] / bad).unlink()
    code, stdout, errors = run_cli(capsys, "recolor", "--input-dir", folders["images"], "--out-dir", folders["out"],
                                   "--mask", folders["masks"] / "astronaut.png", *LEVIN)
    assert (code, errors) == (0, [])
    assert "wrote 4 image(s)" in stdout
    check_outputs(folders["out"], folders["images"], min_hole_psnr=20.0)


def test_colorize_folder_with_completed_monochromes(
    capsys: pytest.CaptureFixture[str], folders: dict[str, Path]
) -> None:
    """--gray-dir: monochromes matched by stem; a missing monochrome or mask is an error of that image only."""
    grays, images = folders["images"].parent / "grays", folders["images"]
    for bad in BAD:
        (images / bad).unlink()
    hole = rect_hole(*SIZE)
    for name, suffix in PHOTOS.items():  # the photos with a white hole, their monochrome completed
        photo = read_image(images / f"{name}{suffix}")
        write_image(images / f"{name}{suffix}", torch.where(hole, torch.ones_like(photo), photo))
        if name != "china":
            write_image(grays / f"{name}.png", rgb_to_mono(photo))
    (folders["masks"] / "coffee.png").unlink()
    code, _, errors = run_cli(capsys, "colorize", *folder_args(folders), "--gray-dir", grays, *LEVIN)
    assert code == 2
    assert errors == [f"error: {images / 'china.png'}: no monochromes named china.* in {grays}",
                      f"error: {images / 'coffee.png'}: no masks named coffee.* in {folders['masks']}"]
    for name in ("astronaut", "chelsea"):
        result, gray = read_image(folders["out"] / f"{name}.png"), read_image(grays / f"{name}.png")
        assert (rgb_to_mono(result)[hole] - gray[0][hole[0]]).abs().mean() < 0.01


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--image", "a.png", "--mask", "m.png", "--input-dir", "d", "--out-dir", "o"], "exclude each other"),
     (["--out", "o.png", "--input-dir", "d", "--mask", "m.png"], "exclude each other"),
     (["--input-dir", "d", "--out-dir", "o", "--mask", "m.png", "--compare", "c.png"], "exclude each other"),
     (["--input-dir", "d", "--out-dir", "o"], "one of --mask-dir and --mask"),
     (["--input-dir", "d", "--out-dir", "o", "--mask", "m.png", "--mask-dir", "md"], "one of --mask-dir and --mask"),
     (["--input-dir", "d", "--mask-dir", "md"], "give --image, --mask and --out"),
     (["--image", "a.png", "--mask", "m.png"], "give --image, --mask and --out")],
)
@pytest.mark.parametrize("command", ["colorize", "recolor"])
def test_one_image_and_folder_modes_exclude_each_other(
    capsys: pytest.CaptureFixture[str], command: str, argv: list[str], message: str
) -> None:
    code, _, errors = run_cli(capsys, command, *argv)
    assert code == 2 and len(errors) == 1 and message in errors[0]


def test_bad_folders_are_one_error(capsys: pytest.CaptureFixture[str], folders: dict[str, Path]) -> None:
    cases = {
        "is not a folder": ["--input-dir", folders["images"] / "nope", "--mask-dir", folders["masks"]],
        "no images": ["--input-dir", folders["out"].parent, "--mask-dir", folders["masks"]],
        "mask not found": ["--input-dir", folders["images"], "--mask", folders["masks"] / "nope.png"],
        "is the input folder": ["--input-dir", folders["images"], "--mask-dir", folders["masks"],
                                "--out-dir", folders["images"]],
    }
    for message, argv in cases.items():
        argv = argv if "--out-dir" in argv else [*argv, "--out-dir", folders["out"]]
        code, _, errors = run_cli(capsys, "colorize", *argv, *LEVIN)
        assert code == 2 and len(errors) == 1 and message in errors[0], (message, errors)
    assert not folders["out"].exists()
