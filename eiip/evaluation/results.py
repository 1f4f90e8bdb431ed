"""The per-image results of an evaluation run on disk: CSV files that grow batch by batch, and images.

Layout of a run directory::

    results.csv            one row per image (key, position, hole_ratio, metrics, seconds), by position
    parts/results.rank{r}.csv   the rows process r has written so far (merged into results.csv at the end)
    images/{key}/          input.png (hole white), mask.png, mono.png, final.png, target.png
    summary.json / .md     overall and per-hole-ratio means, written at the end (summary.json also lists the
                           skipped samples without a decodable image, by position and key)
    skipped.rank{r}.json   the samples process r skipped (merged into summary.json at the end; a rerun retries them)
    eval_settings.json     what determines the results (a rerun must match it to resume)

Each process appends to its own part only after a whole batch (and its images) is written, with one
write and an fsync, so an interrupted run leaves complete rows (at most a torn last line, which is
dropped). The images done are those of results.csv and of every part, whatever number of processes
wrote them, so a rerun with another number of processes resumes too.
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
PARTS_DIR = "parts"
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


def _read_rows(path: Path) -> list[dict[str, object]]:
    """The complete rows of one CSV file (numbers as floats, position as int), in file order."""
    if not path.is_file():
        return []
    rows = []
    for record in csv.DictReader(io.StringIO(path.read_text())):
        if None in record.values() or set(record) != set(COLUMNS):
            continue  # a torn last line of an interrupted run
        row = {name: _parse(value) for name, value in record.items()}
        row["key"], row["shard_key"] = record["key"], record["shard_key"]
        row["position"] = int(float(record["position"]))
        rows.append(row)
    return rows


def _csv_text(rows: Sequence[Mapping[str, object]], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    if header:
        writer.writeheader()
    for row in rows:
        writer.writerow({name: _format(row.get(name, math.nan)) for name in COLUMNS})
    return buffer.getvalue()


def _write_synced(path: Path, text: str, mode: str) -> None:
    with open(path, mode, encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


class ResultsStore:
    """The per-image rows of one run directory, as process `rank` sees them: it appends to its own part."""

    def __init__(self, run_dir: str | Path, rank: int = 0) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / RESULTS_NAME
        self.part = self.run_dir / PARTS_DIR / f"results.rank{rank}.csv"
        self.skipped_part = self.run_dir / f"skipped.rank{rank}.json"

    def _parts(self) -> list[Path]:
        return sorted((self.run_dir / PARTS_DIR).glob("results.rank*.csv"))

    def rows(self) -> list[dict[str, object]]:
        """Every complete row of results.csv and of all parts, one per position, by position."""
        by_position: dict[int, dict[str, object]] = {}
        for path in (self.path, *self._parts()):
            for row in _read_rows(path):
                by_position.setdefault(int(row["position"]), row)
        return [by_position[position] for position in sorted(by_position)]

    def done_positions(self) -> set[int]:
        """Positions whose rows are complete, in results.csv or in any part."""
        return {int(row["position"]) for row in self.rows()}

    def append(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Append rows to this process's part in one write, flushed to disk (the header first when it is new)."""
        new = not self.part.is_file() or self.part.stat().st_size == 0
        text = _csv_text(rows, header=new)
        if not new and not self.part.read_bytes().endswith(b"\n"):
            text = "\n" + text  # end a torn line so it stays one (dropped) record
        self.part.parent.mkdir(parents=True, exist_ok=True)
        _write_synced(self.part, text, "a")

    def record_skipped(self, skipped: Mapping[int, str]) -> None:
        """Record the keys (by position) of the samples this process skipped as undecodable."""
        self.skipped_part.write_text(json.dumps({str(p): k for p, k in sorted(skipped.items())}) + "\n")

    def take_skipped(self) -> list[dict[str, object]]:
        """Every process's skipped samples as [{position, key}] by position, removing their files."""
        skipped: dict[int, str] = {}
        for path in sorted(self.run_dir.glob("skipped.rank*.json")):
            skipped |= {int(p): k for p, k in json.loads(path.read_text()).items()}
            path.unlink()
        return [{"position": p, "key": skipped[p]} for p in sorted(skipped)]

    def merge(self) -> list[dict[str, object]]:
        """Write all rows to results.csv (atomically, by position), then remove the parts; returns the rows."""
        rows = self.rows()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(RESULTS_NAME + ".partial")
        _write_synced(partial, _csv_text(rows, header=True), "w")
        os.replace(partial, self.path)
        parts = self._parts()
        for part in parts:
            part.unlink()
        if parts:
            parts[0].parent.rmdir()
        return rows


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
