"""Colorization benchmark: the paper's Table 3 protocol on real photos shipped by installed packages.

Each bundled photo is center-cropped and resized to SIZE x SIZE and gets a rectangular and a free-form
hole (hole ratio 20-40 %, fixed seeds). Its monochrome plus its colors outside the hole go to each
colorizer; we report PSNR (whole image and hole only) and SSIM of the composite against the photo,
and wall seconds per image. Results are appended to a JSONL file as they finish, so an interrupted
run resumes where it stopped (rows are keyed by photo, mask, colorizer and settings).

    python benchmarks/colorization.py                       # all photos, both masks, all colorizers
    python benchmarks/colorization.py --colorizers levin dt --photos astronaut coffee
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from eiip.color import composite, rgb_to_mono
from eiip.colorizers import colorizer_names, get_colorizer
from eiip.data.samples import SAMPLE_PHOTOS, load_sample_photo
from eiip.masks import generate_mask
from eiip.metrics import hole_psnr, psnr, ssim

MASK_KINDS = ("rect", "freeform")
HOLE_RATIO = (0.2, 0.4)


def benchmark_mask(kind: str, photo_index: int, size: int, seed: int) -> torch.Tensor:
    """The fixed (1, H, W) bool hole of one (photo, mask kind) pair."""
    rng = np.random.default_rng([seed, photo_index, MASK_KINDS.index(kind)])
    return torch.from_numpy(generate_mask(kind, size, size, rng, ratio=HOLE_RATIO))[None]


def run_pair(name: str, options: dict, photo: torch.Tensor, hole: torch.Tensor) -> dict:
    """Colorize one photo with one colorizer; returns metrics and wall seconds."""
    known = ~hole
    rgb_known = composite(torch.ones_like(photo), photo, known)
    colorizer = get_colorizer(name, **options)
    started = time.perf_counter()
    colorized = colorizer(rgb_to_mono(photo), rgb_known, known)
    seconds = time.perf_counter() - started
    result = composite(colorized.cpu(), photo, known)
    return {
        "psnr": psnr(result, photo),
        "hole_psnr": hole_psnr(result, photo, known),
        "ssim": ssim(result, photo),
        "seconds": seconds,
        "hole_ratio": float(hole.float().mean()),
    }


def colorizer_options(name: str, args: argparse.Namespace) -> dict:
    if not name.startswith("internal"):
        return {}
    options = {"seed": args.seed, "progress": not args.quiet, "device": args.device}
    if args.steps is not None:
        options["steps"] = args.steps
    return options


def load_done(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["key"]: row for row in rows}


def summary_table(rows: list[dict], colorizers: list[str]) -> str:
    """Mean metrics per colorizer and mask kind, as Markdown."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["colorizer"], row["mask"])].append(row)
    lines = [
        "| colorizer | mask | images | PSNR | hole PSNR | SSIM | s / image |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in colorizers:
        for kind in MASK_KINDS:
            group = groups.get((name, kind), [])
            if not group:
                continue
            mean = {k: statistics.fmean(r[k] for r in group) for k in ("psnr", "hole_psnr", "ssim", "seconds")}
            lines.append(
                f"| {name} | {kind} | {len(group)} | {mean['psnr']:.2f} | {mean['hole_psnr']:.2f} "
                f"| {mean['ssim']:.4f} | {mean['seconds']:.2f} |"
            )
    return "\n".join(lines)


def pair_table(rows: list[dict], colorizers: list[str]) -> str:
    """Hole PSNR of every (photo, mask) pair per colorizer, as Markdown."""
    by_pair: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for row in rows:
        by_pair[(row["photo"], row["mask"])][row["colorizer"]] = row["hole_psnr"]
    lines = ["| photo | mask | " + " | ".join(colorizers) + " |", "|---|---|" + "---|" * len(colorizers)]
    for (photo, kind), values in sorted(by_pair.items()):
        cells = [f"{values[c]:.2f}" if c in values else "-" for c in colorizers]
        lines.append(f"| {photo} | {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", nargs="+", default=list(SAMPLE_PHOTOS), choices=SAMPLE_PHOTOS)
    parser.add_argument("--colorizers", nargs="+", default=["internal", "internal-base", "levin", "dt", "mean"],
                        choices=colorizer_names())
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0, help="seed of the masks and the internal colorizers")
    parser.add_argument("--steps", type=int, default=None, help="override Adam steps per level (internal)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/colorization.jsonl"))
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--report", action="store_true", help="only print the tables of the rows already measured")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    done = load_done(args.results)
    rows = []
    for photo_index, photo_name in enumerate(SAMPLE_PHOTOS):
        if photo_name not in args.photos:
            continue
        photo = load_sample_photo(photo_name, args.size)
        for kind in MASK_KINDS:
            hole = benchmark_mask(kind, photo_index, args.size, args.seed)
            for name in args.colorizers:
                options = colorizer_options(name, args)
                key = json.dumps([photo_name, kind, name, args.size, args.seed, options.get("steps")])
                if key not in done and not args.report:
                    row = {"key": key, "photo": photo_name, "mask": kind, "colorizer": name,
                           **run_pair(name, options, photo, hole),
                           "machine": f"{platform.machine()} {torch.get_num_threads()} threads",
                           "date": datetime.date.today().isoformat()}
                    with args.results.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
                    done[key] = row
                    print(f"{photo_name:10s} {kind:8s} {name:14s} hole PSNR {row['hole_psnr']:6.2f} dB "
                          f"PSNR {row['psnr']:6.2f} dB  {row['seconds']:7.2f} s", flush=True)
                if key in done:
                    rows.append(done[key])
    print(f"\n## {args.size}x{args.size}, {len(args.photos)} photos, seed {args.seed}\n")
    print(summary_table(rows, args.colorizers))
    print("\nHole PSNR (dB) per pair:\n")
    print(pair_table(rows, args.colorizers))


if __name__ == "__main__":
    main()
