"""The `eiip` command: colorize and demo end to end, one clear line for every bad input, parsers without torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from eiip.choices import COLORIZER_NAMES
from eiip.cli import main
from eiip.commands.colorize import parse_hint
from eiip.color import rgb_to_mono
from eiip.io import read_image, write_image, write_mask
from eiip.metrics import hole_psnr

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_DEMO = REPOSITORY.parent / "shared" / "demo"
FAST_INTERNAL = ["--colorizer", "internal", "--levels", "2", "--steps", "10", "--quiet"]


@pytest.fixture()
def photo_files(tmp_path: Path, astronaut64: torch.Tensor, rect_known: torch.Tensor) -> dict[str, Path]:
    """The astronaut photo, the photo with a white rectangular hole, its mask, and its monochrome, as files."""
    masked = torch.where(rect_known, astronaut64, torch.ones_like(astronaut64))
    return {
        "photo": write_image(tmp_path / "photo.png", astronaut64),
        "image": write_image(tmp_path / "input.png", masked),
        "mask": write_mask(tmp_path / "mask.png", ~rect_known),
        "gray": write_image(tmp_path / "gray.png", rgb_to_mono(astronaut64)),
    }


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("colorizer", [[], ["--colorizer", "levin"], ["--colorizer", "dt"], ["--colorizer", "mean"],
                                       ["--colorizer", "local-linear"], FAST_INTERNAL])
def test_colorize_writes_a_composite_keeping_known_pixels(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, photo_files: dict[str, Path], astronaut64: torch.Tensor,
    rect_known: torch.Tensor, colorizer: list[str],
) -> None:
    out = tmp_path / "out.png"
    # the natural-monochrome protocol: the photo's own monochrome, its colors outside the hole
    code, stdout, err = run_cli(capsys, "colorize", "--image", photo_files["photo"], "--mask", photo_files["mask"],
                                "--out", out, *colorizer)
    assert code == 0, err
    assert "wrote" in stdout
    result = read_image(out)
    known = rect_known.expand(3, -1, -1)
    assert torch.allclose(result[known], astronaut64[known], atol=1 / 255 + 1e-6)
    assert hole_psnr(result, astronaut64, rect_known) > 14.0


def test_colorize_with_gray_hint_and_comparison(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, photo_files: dict[str, Path]
) -> None:
    out, compare = tmp_path / "out.jpg", tmp_path / "compare.png"
    code, _, err = run_cli(capsys, "colorize", "--image", photo_files["image"], "--mask", photo_files["mask"],
                           "--gray", photo_files["gray"], "--out", out, "--compare", compare,
                           "--hint", "30,32,#20c040", *FAST_INTERNAL)
    assert code == 0, err
    assert Image.open(out).size == (64, 64)
    assert Image.open(compare).width > 3 * 64


def test_the_default_colorizer_shows_its_fills_unless_quiet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, photo_files: dict[str, Path]
) -> None:
    arguments = ("colorize", "--image", photo_files["image"], "--mask", photo_files["mask"], "--out", tmp_path / "o.png")
    code, _, err = run_cli(capsys, *arguments)
    assert code == 0 and "validated-blend fills: 100%" in err and "10/10" in err  # 4 held-out sets x 2 + 2 holes
    code, _, err = run_cli(capsys, *arguments, "--quiet")
    assert code == 0 and "fills" not in err


def test_hint_parsing() -> None:
    hint = parse_hint("12, 7,#ff8000")
    assert (hint.x, hint.y) == (12, 7)
    assert hint.rgb == pytest.approx((1.0, 128 / 255, 0.0))
    with pytest.raises(Exception, match="x,y,#rrggbb"):
        parse_hint("12,7,orange")


@pytest.mark.parametrize("option", [["--preset", "reference"], ["--steps", "5"], ["--fit-pixels", "0"], ["--ensemble", "2"]])
def test_internal_options_with_the_default_colorizer_are_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, photo_files: dict[str, Path], option: list[str]
) -> None:
    """Nothing silently ignored: the default colorizer (validated-blend) has no pyramid to set up."""
    code, _, err = run_cli(capsys, "colorize", "--image", photo_files["image"], "--mask", photo_files["mask"],
                           "--out", tmp_path / "o.png", *option)
    assert code == 2 and err.strip().startswith("error:") and option[0] in err and "--colorizer internal" in err
    assert "\n" not in err.strip()


def test_non_binary_mask_warns_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, photo_files: dict[str, Path]
) -> None:
    jpeg_mask = tmp_path / "mask.jpg"
    Image.open(photo_files["mask"]).save(jpeg_mask, quality=70)
    code, _, err = run_cli(capsys, "colorize", "--image", photo_files["image"], "--mask", jpeg_mask,
                           "--out", tmp_path / "o.png", "--colorizer", "mean")
    assert code == 0
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "127" in warnings[0]


def _bad_inputs(tmp_path: Path, files: dict[str, Path]) -> dict[str, tuple[list[Path], str]]:
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not an image at all")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(files["image"].read_bytes()[:200])
    small = write_image(tmp_path / "small.png", torch.rand(3, 32, 48))
    no_hole = write_mask(tmp_path / "no_hole.png", np.zeros((64, 64), bool))
    all_hole = write_mask(tmp_path / "all_hole.png", np.ones((64, 64), bool))
    image, mask = files["image"], files["mask"]
    return {
        "missing image": ([tmp_path / "nope.png", mask, None], "not found"),
        "missing mask": ([image, tmp_path / "nope_mask.png", None], "not found"),
        "missing gray": ([image, mask, tmp_path / "nope_gray.png"], "not found"),
        "unreadable image": ([garbage, mask, None], "cannot read"),
        "truncated image": ([truncated, mask, None], "cannot read"),
        "unreadable mask": ([image, garbage, None], "cannot read"),
        "size mismatch image/mask": ([image, write_mask(tmp_path / "m32.png", np.ones((32, 48), bool)), None],
                                     "size mismatch"),
        "size mismatch image/gray": ([image, mask, small], "size mismatch"),
        "mask with no hole": ([image, no_hole, None], "no hole"),
        "mask with no known pixel": ([image, all_hole, None], "no known pixel"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing image", "missing mask", "missing gray", "unreadable image", "truncated image", "unreadable mask",
     "size mismatch image/mask", "size mismatch image/gray", "mask with no hole", "mask with no known pixel"],
)
def test_bad_input_prints_one_clear_line_and_exits_nonzero(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, photo_files: dict[str, Path], case: str
) -> None:
    (image, mask, gray), expected = _bad_inputs(tmp_path, photo_files)[case]
    out = tmp_path / "never.png"
    argv = ["colorize", "--image", image, "--mask", mask, "--out", out, "--colorizer", "mean"]
    code, stdout, err = run_cli(capsys, *argv, *(["--gray", gray] if gray else []))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], err
    assert "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "values", "bad", "field"),
    [("--ensemble", ("1", "2"), "0", "ensemble"),  # a second member changes the hole's colors
     ("--fit-pixels", ("0", "1024"), "-5", "fit_pixels")],  # a 32x32 fit colors the hole differently
)
def test_internal_option_reaches_the_internal_colorizer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, photo_files: dict[str, Path], option: str,
    values: tuple[str, str], bad: str, field: str
) -> None:
    inputs = ("--image", photo_files["photo"], "--mask", photo_files["mask"])
    outputs = []
    for value in values:
        out = tmp_path / f"{field}{value}.png"
        code, _, err = run_cli(capsys, "colorize", *inputs, "--out", out, *FAST_INTERNAL, option, value)
        assert code == 0, err
        outputs.append(read_image(out))
    assert (outputs[0] - outputs[1]).abs().max() > 1 / 255
    code, _, err = run_cli(capsys, "colorize", *inputs, "--out", tmp_path / "never.png", *FAST_INTERNAL, option, bad)
    assert code == 2 and err.strip().startswith("error:") and field in err and "Traceback" not in err


def test_console_script_reports_errors_without_traceback(tmp_path: Path, photo_files: dict[str, Path]) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "eiip.cli", "colorize", "--image", str(tmp_path / "missing.png"),
         "--mask", str(photo_files["mask"]), "--out", str(tmp_path / "o.png")],
        capture_output=True, text=True, timeout=120,
    )
    assert process.returncode == 2
    assert process.stderr.strip().startswith("error:") and "Traceback" not in process.stderr


def test_demo_writes_result_and_side_by_side(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, stdout, err = run_cli(capsys, "demo", "--out", tmp_path, "--photo", "chelsea", "--size", "64",
                                "--colorizer", "internal", "--levels", "2", "--steps", "10", "--quiet")
    assert code == 0, err
    for name in ("input", "mask", "gray", "result", "side_by_side"):
        assert (tmp_path / f"{name}.png").is_file()
    assert Image.open(tmp_path / "side_by_side.png").width > 4 * 64
    assert "hole PSNR" in stdout


@pytest.mark.skipif(not SHARED_DEMO.is_dir(), reason="the authors' demo inputs live in ../shared/demo")
def test_colorize_the_authors_demo_with_their_completed_monochrome(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "demo2.png"
    code, stdout, err = run_cli(capsys, "colorize", "--image", SHARED_DEMO / "input2.png",
                                "--mask", SHARED_DEMO / "mask2.png", "--gray", SHARED_DEMO / "gray2.png",
                                "--out", out, "--colorizer", "dt")
    assert code == 0, err
    assert "hole 22.5%" in stdout
    result, gray = read_image(out), read_image(SHARED_DEMO / "gray2.png")
    hole = np.asarray(Image.open(SHARED_DEMO / "mask2.png")) > 127
    # the colorized hole follows the authors' completed monochrome
    assert (rgb_to_mono(result)[0][hole] - gray[0][hole]).abs().mean() < 0.03


_NO_TORCH_SCRIPT = """
import contextlib, io, sys
from eiip.cli import build_parser, main
build_parser()
assert "torch" not in sys.modules
for argv, expected in ({cases}):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code
    assert code == expected, (argv, code)
    assert "torch" not in sys.modules and "lightning" not in sys.modules, argv
"""


def test_help_and_argument_errors_import_no_torch() -> None:
    """`eiip --help`, a subcommand's help and argument errors are instant: the parsers need no torch."""
    cases = [(["--help"], 0), (["colorize", "--help"], 0), (["inpaint", "--help"], 0), (["study", "tally", "--help"], 0),
             (["colorize", "--colorizer", "nope"], 2), (["masks", "--n", "0"], 2), (["colorize", "--hint", "1,2"], 2),
             (["colorize", "--image", "a.png", "--input-dir", "d"], 2), (["recolor", "--image", "a.png"], 2),
             (["import-weights", "--help"], 0), (["import-weights", "--release", "nope", "--from", "a", "--out", "b"], 2)]
    script = _NO_TORCH_SCRIPT.format(cases=repr(cases))
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                             cwd=REPOSITORY)
    assert process.returncode == 0, process.stderr


def test_the_builtin_colorizer_names_are_the_registered_ones() -> None:
    """The parser's choices (`eiip.choices`, no torch) are the colorizers that `eiip.colorize` registers."""
    from eiip.colorize import COLORIZERS

    builtin = sorted(name for name, factory in COLORIZERS.items() if factory.__module__.startswith("eiip."))
    assert list(COLORIZER_NAMES) == builtin


def test_app_without_gradio_is_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    assert main(["app", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'the app needs Gradio: pip install -c constraints.txt -e ".[app]"' in err
