"""The per-image results of an evaluation run on disk: a CSV that grows batch by batch, and its images.

Layout of a run directory::

    results.csv            one row per image (key, position, hole_ratio, metrics, seconds)
    images/{key}/          input.png (hole white), mask.png, mono.png, final.png, target.png
    summary.json / .md     overall and per-hole-ratio means, written at the end
    eval_settings.json     what determines the results (a rerun must match it to resume)

Rows are appended only after a whole batch (and its images) is written, with one write and an
fsync, so an interrupted run leaves complete rows (at most a torn last line, which is dropped).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from eiip.io import InputError, write_image, write_mask

RESULTS_NAME = "results.csv"
SETTINGS_NAME = "eval_settings.json"
IMAGES_DIR = "images"
METRIC_COLUMNS = ("psnr", "ssim", "lpips", "hole_psnr", "hole_ssim", "hole_lpips", "hole_l1",
                  "mono_psnr", "mono_hole_psnr")
COLUMNS = ("key", "shard_key", "position", "hole_ratio", *METRIC_COLUMNS, "seconds")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_key(shard_key: str) -> str:
    """A file-system-safe image id (used as the folder name of the image's PNGs)."""
    return _UNSAFE.sub("_", shard_key).strip("._") or "image"


def _parse(value: str) -> object:
    try:
        return float(value)
    except ValueError:
        return value


class ResultsStore:
    """Reads and appends the per-image rows of one run directory."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / RESULTS_NAME

    def rows(self) -> list[dict[str, object]]:
        """Every complete row (numbers as floats, position as int), in the order they were written."""
        if not self.path.is_file():
            return []
        rows = []
        for record in csv.DictReader(io.StringIO(self.path.read_text())):
            if None in record.values() or set(record) != set(COLUMNS):
                continue  # a torn last line of an interrupted run
            row = {name: _parse(value) for name, value in record.items()}
            row["key"], row["shard_key"] = record["key"], record["shard_key"]
            row["position"] = int(float(record["position"]))
            rows.append(row)
        return rows

    def done_keys(self) -> set[str]:
        """Keys whose rows are complete."""
        return {str(row["key"]) for row in self.rows()}

    def append(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Append rows in one write, flushed to disk (the header first when the file is new)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        new = not self.path.is_file() or self.path.stat().st_size == 0
        if new:
            writer.writeheader()
        elif not self.path.read_bytes().endswith(b"\n"):
            buffer.write("\n")  # end a torn line so it stays one (dropped) record
        for row in rows:
            writer.writerow({name: _format(row.get(name, math.nan)) for name in COLUMNS})
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())


def _format(value: object) -> object:
    return f"{value:.6f}" if isinstance(value, float) and math.isfinite(value) else value


def write_image_set(run_dir: Path, key: str, images: Mapping[str, torch.Tensor]) -> None:
    """Write `images/{key}/{name}.png` for each image; a name of 'mask' is written as a hole mask."""
    folder = run_dir / IMAGES_DIR / key
    for name, tensor in images.items():
        (write_mask if name == "mask" else write_image)(folder / f"{name}.png", tensor)


def check_settings(run_dir: Path, settings: Mapping[str, object]) -> None:
    """Record the run's settings, or refuse to resume a run directory made with different ones."""
    path = run_dir / SETTINGS_NAME
    current = json.loads(json.dumps(settings))
    if path.is_file():
        previous = json.loads(path.read_text())
        changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
        if changed:
            raise InputError(f"{run_dir} holds results of different settings ({', '.join(changed)} differ); "
                             "evaluate into another directory (hydra.run.dir=...) or remove it")
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2) + "\n")
