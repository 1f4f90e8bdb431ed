"""Smoke test of the training-speed benchmark's wiring into train.py (no speed is checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_train_steps_bench_runs_train_py_with_its_timer() -> None:
    """benchmarks/train_steps.py runs this tree's train.py in a worker process (its overrides are
    accepted, the timer sees the steps after the warm-up) and prints one table row (about 15 s)."""
    command = [sys.executable, str(ROOT / "benchmarks" / "train_steps.py"), "--baseline-rev", "none",
               "--backbones", "gatedconv", "--size", "32", "--steps", "1", "--warmup", "1", "--runs", "1",
               "--threads", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| gatedconv | mono | only | default |")]
    assert len(rows) == 1 and rows[0].endswith("| 1 |"), done.stdout  # one discriminator step per generator step
    assert "gatedconv mono only default | this tree | run 0:" in done.stderr
    assert "pretrained_losses=false" in done.stdout


def test_blend_weight_study_scores_the_default_colorizer_and_an_oracle_above_it() -> None:
    """benchmarks/blend_weight_noise.py: its `today` estimator is the default `validated-blend` (same
    hole PSNR as the colorizer's output, to float32 rounding) and its oracle is no worse than it."""
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from blend_weight_noise import measure_pair
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from eiip.color import composite, rgb_to_mono
    from eiip.colorize import get_colorizer
    from eiip.data.samples import load_sample_photo
    from eiip.masks import generate_mask
    from eiip.metrics import hole_psnr

    image = load_sample_photo("astronaut", (48, 48))
    known = ~torch.from_numpy(generate_mask("rect", 48, 48, np.random.default_rng(3), ratio=(0.2, 0.3)))[None]
    row = measure_pair(image, known)
    rgb_known = composite(torch.ones_like(image), image, known)
    colorized = get_colorizer("validated-blend")(rgb_to_mono(image), rgb_known, known)
    expected = hole_psnr(composite(colorized, image, known), image, known)
    assert abs(row["today"]["hole_psnr"] - expected) < 1e-4
    # the oracle is the best of 21 weights 0.05 apart: at least today's, up to the spacing of that grid
    assert row["oracle"]["hole_psnr"] >= row["today"]["hole_psnr"] - 0.01
    assert set(row) == {"today", "holdouts8", "scale2", "scale3", "gamut", "oracle"}


def test_propagator_speed_reads_colorizer_options() -> None:
    """`NAME:KEY=VALUE,...` in benchmarks/propagator_speed.py: values read as JSON, else kept as text."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from propagator_speed import colorizer_options
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert colorizer_options("levin") == ("levin", {})
    assert colorizer_options("validated-blend:validation_scale=2,holdouts=3") == (
        "validated-blend", {"validation_scale": 2, "holdouts": 3})
    assert colorizer_options("local-linear:solver=scipy") == ("local-linear", {"solver": "scipy"})
    assert colorizer_options('validated-blend:candidates=["levin","knn"],holdouts=8') == (
        "validated-blend", {"candidates": ["levin", "knn"], "holdouts": 8})  # commas inside a JSON list stay


def test_resolution_bench_times_a_command_in_its_own_process(tmp_path: Path) -> None:
    """benchmarks/resolution.py writes its inputs, runs `eiip colorize` in a child process and tables the time
    and peak memory (about 5 s)."""
    command = [sys.executable, str(ROOT / "benchmarks" / "resolution.py"), "--sizes", "320x240", "640x480",
               "--colorizers", "mean", "--backbones", "--work-dir", str(tmp_path), "--no-save"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("| `eiip colorize mean` |")]
    cells = [cell.strip() for cell in row.split("|")[2:-1]]
    assert len(cells) == 3 and all(" / " in cell for cell in cells[:2]) and cells[2].endswith("x")
    assert (tmp_path / "photo-640x480.jpg").exists() and (tmp_path / "mask-320x240.png").exists()


def test_neighbourhood_bench_finds_the_pieces_equal_to_the_whole_image() -> None:
    """benchmarks/neighbourhood_quality.py on one small pair: the three colorizers agree with their
    whole-image solve (the benchmark's claim), and the table reads them."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from neighbourhood_quality import run_pair, table
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    row = run_pair("chelsea", "freeform", 3, (300, 400))
    assert all(row[name]["max_difference"] < 1e-6 for name in ("levin", "local-linear", "validated-blend"))
    assert "| validated-blend | freeform | 1 |" in table([row])


def test_hd_quality_bench_compares_the_strategies_of_a_checkpoint(tmp_path: Path) -> None:
    """benchmarks/hd_quality.py on one pair above the working size with a tiny checkpoint: three strategies,
    `original` against itself exactly 0."""
    from test_pipeline import tiny_checkpoint

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from eiip.choices import HD_STRATEGIES
        from eiip.pipeline import build_external_stage
        from hd_quality import run_pair, table
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    checkpoint = str(tiny_checkpoint(tmp_path / "mono.ckpt", "mono"))
    stages = {strategy: build_external_stage(ckpt=checkpoint, hd_strategy=strategy, working_pixels=40_000)
              for strategy in HD_STRATEGIES}
    row = run_pair(stages, "chelsea", "rect", 3, (300, 400), checkpoint)
    assert set(HD_STRATEGIES) <= set(row) and all(row[s]["hole_psnr"] > 0 for s in HD_STRATEGIES)
    assert "| original | rect | 1 | +0.000 / +0.000 |" in table([row])
