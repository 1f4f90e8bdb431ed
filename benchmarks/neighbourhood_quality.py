"""Colorizing a large photo in its holes' neighbourhoods against solving the whole image: hole PSNR and time.

Each pair is a bundled photo upscaled to --size (default 1500x2000, above the 1 MP at which the
colorizers switch to neighbourhoods) with a hole of fixed size: a 256x256 mask (`rect` or `freeform`, hole
ratio 20-40 %, drawn from the seed) placed at a position drawn from the same seed. The natural-monochrome
protocol (the photo's own monochrome guides; as benchmarks/colorization.py). For each pair, the
whole-image solve (`neighbourhood_above=None`) against the neighbourhood solve (`neighbourhood_above=0`):
`levin` and `local-linear` must agree exactly (max |difference| reported), `validated-blend` for each
--margins value (its `neighbourhood_margin`, in units of the hole's longer side).

    python benchmarks/neighbourhood_quality.py --photos hubble immunohistochemistry retina motorcycle \
        --seeds 1 2 --margins 0.5 1 2                           # tuning pairs: choose the margin
    python benchmarks/neighbourhood_quality.py --seeds 0 --margins 1   # report pairs (the benchmark photos)

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


def timed(name: str, options: dict, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, float]:
    began = time.perf_counter()
    result = get_colorizer(name, **options)(*inputs)
    return result, time.perf_counter() - began


def run_pair(photo: str, kind: str, seed: int, size: tuple[int, int], margins: list[float]) -> dict:
    image = load_sample_photo(photo, size)
    known = ~pair_hole(kind, photo, seed, size)
    inputs = (rgb_to_mono(image), image * known, known)
    row: dict = {"key": f"{photo}|{kind}|{seed}|{size[0]}x{size[1]}", "photo": photo, "kind": kind, "seed": seed,
                 "size": list(size), "hole_ratio": float((~known).float().mean())}
    for name in ("levin", "local-linear"):
        whole, _ = timed(name, {"neighbourhood_above": None}, inputs)
        cut, _ = timed(name, {"neighbourhood_above": 0}, inputs)
        row[f"{name}_max_difference"] = float((cut - whole)[:, ~known[0]].abs().max())
    whole, seconds = timed("validated-blend", {"neighbourhood_above": None}, inputs)
    row["whole"] = {"hole_psnr": hole_psnr(whole, image, known), "seconds": seconds}
    for margin in margins:
        cut, seconds = timed("validated-blend", {"neighbourhood_above": 0, "neighbourhood_margin": margin}, inputs)
        row[f"margin {margin:g}"] = {"hole_psnr": hole_psnr(cut, image, known), "seconds": seconds}
    return row


def table(rows: list[dict], margins: list[float]) -> str:
    lines = ["| margin | kind | pairs | mean hole PSNR, neighbourhood - whole (dB) | worst pair (dB) | "
             "time, whole / neighbourhood |", "|---|---|---|---|---|---|"]
    for margin in margins:
        label = f"margin {margin:g}"
        for kind in KINDS:
            group = [row for row in rows if row["kind"] == kind and label in row]
            if not group:
                continue
            gaps = [row[label]["hole_psnr"] - row["whole"]["hole_psnr"] for row in group]
            speed = statistics.median(row["whole"]["seconds"] / row[label]["seconds"] for row in group)
            lines.append(f"| {margin:g} | {kind} | {len(group)} | {statistics.mean(gaps):+.3f} | {min(gaps):+.3f} | "
                         f"{speed:.2f}x |")
    exact = max(max(row["levin_max_difference"], row["local-linear_max_difference"]) for row in rows)
    return "\n".join(lines) + f"\n\nlevin and local-linear, neighbourhood vs whole image: max |difference| {exact:.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", nargs="+", default=list(SAMPLE_PHOTOS), choices=ALL_PHOTOS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--margins", nargs="+", type=float, default=[1.0])
    parser.add_argument("--size", default="1500x2000", help="HxW (default 1500x2000)")
    args = parser.parse_args()
    size = tuple(int(side) for side in args.size.split("x"))
    rows = []
    for photo in args.photos:
        for seed in args.seeds:
            for kind in KINDS:
                row = run_pair(photo, kind, seed, size, args.margins)  # type: ignore[arg-type]
                print(json.dumps(row), flush=True)
                rows.append(row)
    done = {}
    if RESULTS.exists():
        done = {row["key"]: row for row in map(json.loads, RESULTS.read_text().splitlines())}
    done.update({row["key"]: {**done.get(row["key"], {}), **row} for row in rows})
    RESULTS.write_text("".join(json.dumps(row) + "\n" for row in done.values()))
    print(table(rows, args.margins))


if __name__ == "__main__":
    main()
