"""Colorizing a large photo in its holes' neighbourhoods against solving the whole image: results and time.

Each pair is a bundled photo upscaled to --size (default 1500x2000, above the 1 MP at which the
colorizers switch to neighbourhoods) with a hole of fixed size: a 256x256 mask (`rect` or `freeform`, hole
ratio 20-40 %, drawn from the seed) placed at a position drawn from the same seed. The natural-monochrome
protocol (the photo's own monochrome guides, as benchmarks/colorization.py). For each pair and colorizer
(`levin`, `local-linear`, `validated-blend`), the whole-image solve (`neighbourhood_above=None`) against
the solve in pieces (`neighbourhood_above=0`): the largest difference in the hole, the hole PSNR of both
and the time of both. No setting is chosen here: the pieces' margin is the stencils' reach, which makes
them exact.

    python benchmarks/neighbourhood_quality.py                   # the six benchmark photos, seed 0
    python benchmarks/neighbourhood_quality.py --photos hubble --seeds 1 2 --size 3000x4000

Rows go to benchmarks/results/neighbourhood-quality.jsonl (replaced per key).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from colorization import load_done, parse_size
from eiip.color import rgb_to_mono
from eiip.colorize import get_colorizer
from eiip.data.samples import ALL_PHOTOS, SAMPLE_PHOTOS, load_sample_photo
from eiip.masks import generate_mask
from eiip.metrics import hole_psnr

RESULTS = Path(__file__).resolve().parent / "results" / "neighbourhood-quality.jsonl"
KINDS = ("rect", "freeform")
HOLE_SIDE = 256


def pair_hole(kind: str, photo: str, seed: int, size: tuple[int, int]) -> torch.Tensor:
    """The (1, H, W) bool hole of a pair: a HOLE_SIDE mask of `kind` at a position drawn from the seed."""
    rng = np.random.default_rng([seed, ALL_PHOTOS.index(photo), KINDS.index(kind)])
    small = generate_mask(kind, HOLE_SIDE, HOLE_SIDE, rng, ratio=(0.2, 0.4))
    top, left = (int(rng.integers(0, side - HOLE_SIDE)) for side in size)
    hole = np.zeros(size, dtype=bool)
    hole[top:top + HOLE_SIDE, left:left + HOLE_SIDE] = small
    return torch.from_numpy(hole)[None]


COLORIZERS = ("levin", "local-linear", "validated-blend")


def timed(name: str, above: int | None, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, float]:
    began = time.perf_counter()
    result = get_colorizer(name, neighbourhood_above=above)(*inputs)
    return result, time.perf_counter() - began


def run_pair(photo: str, kind: str, seed: int, size: tuple[int, int]) -> dict:
    image = load_sample_photo(photo, size)
    known = ~pair_hole(kind, photo, seed, size)
    inputs = (rgb_to_mono(image), image * known, known)
    row: dict = {"key": f"{photo}|{kind}|{seed}|{size[0]}x{size[1]}", "photo": photo, "kind": kind, "seed": seed,
                 "size": list(size), "hole_ratio": float((~known).float().mean())}
    for name in COLORIZERS:
        whole, whole_seconds = timed(name, None, inputs)
        cut, cut_seconds = timed(name, 0, inputs)
        row[name] = {"max_difference": float((cut - whole)[:, ~known[0]].abs().max()),
                     "whole_psnr": hole_psnr(whole, image, known), "pieces_psnr": hole_psnr(cut, image, known),
                     "whole_seconds": whole_seconds, "pieces_seconds": cut_seconds}
    return row


def table(rows: list[dict]) -> str:
    lines = ["| colorizer | kind | pairs | max \\|difference\\| in the hole | hole PSNR, pieces - whole: mean / worst (dB) "
             "| time, whole / pieces (median) |", "|---|---|---|---|---|---|"]
    for name in COLORIZERS:
        for kind in KINDS:
            group = [row[name] for row in rows if row["kind"] == kind]
            if not group:
                continue
            gaps = [cell["pieces_psnr"] - cell["whole_psnr"] for cell in group]
            speed = statistics.median(cell["whole_seconds"] / cell["pieces_seconds"] for cell in group)
            worst = max(cell["max_difference"] for cell in group)
            lines.append(f"| {name} | {kind} | {len(group)} | {worst:.1e} | {statistics.mean(gaps):+.4f} / "
                         f"{min(gaps):+.4f} | {speed:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", nargs="+", default=list(SAMPLE_PHOTOS), choices=ALL_PHOTOS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--size", type=parse_size, default=(1500, 2000), help="HxW (default 1500x2000)")
    args = parser.parse_args()
    size = args.size
    rows = []
    for photo in args.photos:
        for seed in args.seeds:
            for kind in KINDS:
                row = run_pair(photo, kind, seed, size)  # type: ignore[arg-type]
                print(json.dumps(row), flush=True)
                rows.append(row)
    done = load_done(RESULTS)
    done.update({row["key"]: {**done.get(row["key"], {}), **row} for row in rows})
    RESULTS.write_text("".join(json.dumps(row) + "\n" for row in done.values()))
    print(table(rows))


if __name__ == "__main__":
    main()
