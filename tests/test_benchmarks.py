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
    rows = [line for line in done.stdout.splitlines() if line.startswith("| gatedconv | mono | only |")]
    assert len(rows) == 1 and rows[0].endswith("| 1 |"), done.stdout  # one discriminator step per generator step
    assert "gatedconv mono only | this tree | run 0:" in done.stderr
    assert "pretrained_losses=false" in done.stdout
