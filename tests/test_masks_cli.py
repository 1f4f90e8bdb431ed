"""`eiip masks`: a reproducible evaluation mask set on disk, and one clear error for bad arguments."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from eiip.cli import main
from helpers import file_bytes, run_cli
from eiip.commands.masks import parse_ratio, parse_size
from eiip.masks import hole_ratio, load_mask_set

SET_ARGS = ["--n", "6", "--size", "48x64", "--kind", "mixed", "--ratio", "20-40%", "--seed", "3", "--quiet"]


def test_writes_a_set_that_loads_back_with_ratios_in_range(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "masks"
    code, stdout, err = run_cli(capsys, "masks", "--out", out, *SET_ARGS)
    assert code == 0, err
    masks, index = load_mask_set(out)
    assert len(masks) == index["count"] == 6
    assert all(mask.shape == (48, 64) for mask in masks)
    assert (index["kind"], index["seed"], index["ratio"]) == ("mixed", 3, [0.2, 0.4])
    ratios = [hole_ratio(mask) for mask in masks]
    assert all(0.2 <= ratio <= 0.4 for ratio in ratios)
    lines = stdout.strip().splitlines()
    assert len(lines) == 1
    assert "6 mixed masks of 48x64" in lines[0] and f"mean {np.mean(ratios):.1%}" in lines[0] and str(out) in lines[0]


def test_rerun_writes_identical_files_and_percents_equal_fractions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert run_cli(capsys, "masks", "--out", first, *SET_ARGS)[0] == 0
    before = file_bytes(first)
    assert run_cli(capsys, "masks", "--out", first, *SET_ARGS)[0] == 0
    fractions = [a if a != "20-40%" else "0.2-0.4" for a in SET_ARGS]
    assert run_cli(capsys, "masks", "--out", second, *fractions)[0] == 0
    assert file_bytes(first) == before == file_bytes(second)
    assert len(before) == 7  # 6 PNGs and index.json
    other_seed = tmp_path / "other"
    assert run_cli(capsys, "masks", "--out", other_seed, *SET_ARGS, "--seed", "4")[0] == 0
    assert file_bytes(other_seed)["00000.png"] != before["00000.png"]


def test_unconstrained_rect_set(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, stdout, _ = run_cli(capsys, "masks", "--out", tmp_path, "--n", "3", "--size", "32x32", "--kind", "rect",
                              "--quiet")
    assert code == 0 and "any hole ratio" in stdout
    masks, index = load_mask_set(tmp_path)
    assert len(masks) == 3 and index["ratio"] is None and index["seed"] == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.2-0.4", (0.2, 0.4)), ("20-40%", (0.2, 0.4)), ("20%-40%", (0.2, 0.4)), (" 0-.5 ", (0.0, 0.5)),
     ("10 - 10 %", (0.1, 0.1))],
)
def test_parse_ratio(text: str, expected: tuple[float, float]) -> None:
    assert parse_ratio(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["0.4-0.2", "0.2-1", "20-100%", "abc", "0.2", "-0.1-0.2", "0.2-0.4-0.5", ""])
def test_parse_ratio_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="invalid ratio"):
        parse_ratio(text)


def test_parse_size() -> None:
    assert parse_size("256x128") == (256, 128)
    assert parse_size("64X48") == (64, 48)
    for bad in ("256", "0x5", "axb", "12x-3", "1.5x2"):
        with pytest.raises(argparse.ArgumentTypeError, match="invalid size"):
            parse_size(bad)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [(["--n", "3", "--size", "256"], "--size"), (["--n", "0", "--size", "8x8"], "--n"),
     (["--n", "x", "--size", "8x8"], "--n"), (["--n", "3", "--size", "8x8", "--ratio", "40-20%"], "--ratio"),
     (["--n", "3", "--size", "8x8", "--kind", "circle"], "--kind")],
)
def test_bad_arguments_exit_2_with_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["masks", "--out", str(tmp_path / "never"), *argv])
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and expected in errors[0]
    assert not (tmp_path / "never").exists()


def test_unreachable_ratio_and_file_as_out_print_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # a 3x3 box covers k/9 of the image: never between 30% and 32%
    code, _, err = run_cli(capsys, "masks", "--out", tmp_path / "never", "--n", "2", "--size", "3x3", "--kind", "rect",
                           "--ratio", "0.30-0.32", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: could not reach")
    assert not (tmp_path / "never").exists()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    code, _, err = run_cli(capsys, "masks", "--out", a_file, "--n", "1", "--size", "8x8", "--quiet")
    assert code == 2 and err.strip().splitlines() == [f"error: output path exists and is not a folder: {a_file}"]
