"""How much the validated blend's hole PSNR moves when its weights are fitted on a downsampled copy.

For every (photo, mask kind, mask seed, size) pair, `validated-blend` runs with each `--scales` value
of its `validation_scale` option (1: the weights fitted at full resolution) and the hole PSNR of each
is compared with scale 1's, pair by pair; the seconds are the wall time of each call (one process,
nothing else should run). Rows go to a JSONL file as they finish (an interrupted run resumes).
Meant for *tuning* inputs: mask seeds and photos other than the colorization benchmark's
(seed 0 on the six photos of `benchmarks/colorization.py`).

    python benchmarks/blend_validation_scale.py --size 512x640 --seeds 1 2 --scales 1 2 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

import torch

from colorization import MASK_KINDS, benchmark_mask, load_done, parse_size
from eiip.color import composite, rgb_to_mono
from eiip.colorize import get_colorizer
from eiip.data.samples import ALL_PHOTOS, load_sample_photo
from eiip.metrics import hole_psnr

TUNING_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble", "immunohistochemistry", "retina", "motorcycle")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", nargs="+", default=list(TUNING_PHOTOS), choices=ALL_PHOTOS)
    parser.add_argument("--masks", nargs="+", default=list(MASK_KINDS), choices=MASK_KINDS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2], help="mask seeds (0 is the benchmark's)")
    parser.add_argument("--size", type=parse_size, default=(512, 640), help="SIZE or HxW (default 512x640)")
    parser.add_argument("--scales", nargs="+", type=int, default=[1, 2, 3], help="validation_scale values; 1 first")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/blend-validation-scale.jsonl"))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.scales[0] != 1:
        raise SystemExit("error: --scales must start with 1 (the reference)")
    size = "x".join(map(str, args.size))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    done = load_done(args.results)
    rows = []
    for seed in args.seeds:
        for photo in args.photos:
            image = load_sample_photo(photo, args.size)
            for kind in args.masks:
                known = ~benchmark_mask(kind, ALL_PHOTOS.index(photo), args.size, seed)
                mono, rgb_known = rgb_to_mono(image), composite(torch.ones_like(image), image, known)
                for scale in args.scales:
                    key = json.dumps([photo, kind, seed, size, scale])
                    if key not in done:
                        colorizer = get_colorizer("validated-blend", validation_scale=scale)
                        started = time.perf_counter()
                        colorized = colorizer(mono, rgb_known, known)
                        seconds = time.perf_counter() - started
                        row = {"key": key, "photo": photo, "mask": kind, "seed": seed, "size": size, "scale": scale,
                               "hole_psnr": hole_psnr(composite(colorized, image, known), image, known),
                               "seconds": seconds}
                        with args.results.open("a") as handle:
                            handle.write(json.dumps(row) + "\n")
                        done[key] = row
                        print(f"{photo:20s} {kind:8s} seed {seed} scale {scale}: hole PSNR {row['hole_psnr']:6.2f} dB "
                              f"{seconds:6.2f} s", flush=True)
                    rows.append(done[key])
    print(summary(rows, args.scales, size))


def summary(rows: list[dict], scales: list[int], size: str) -> str:
    """Per scale and mask kind: pairs, mean seconds, mean hole PSNR difference to scale 1 and the worst pair."""
    reference = {(r["photo"], r["mask"], r["seed"]): r for r in rows if r["scale"] == 1}
    groups: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["scale"], row["mask"]].append(row)
    lines = [f"\n{size}: hole PSNR against validation_scale 1, pair by pair\n",
             "| validation_scale | mask | pairs | s / image | mean difference (dB) | worst pair (dB) | best pair (dB) "
             "| pairs < -0.2 dB |", "|---|---|---|---|---|---|---|---|"]
    for scale in scales:
        for kind in MASK_KINDS:
            group = groups.get((scale, kind), [])
            if not group:
                continue
            gaps = {(r["photo"], r["seed"]): r["hole_psnr"] - reference[r["photo"], kind, r["seed"]]["hole_psnr"]
                    for r in group}
            worst, best = min(gaps, key=gaps.get), max(gaps, key=gaps.get)
            lines.append(f"| {scale} | {kind} | {len(group)} | {statistics.fmean(r['seconds'] for r in group):.2f} "
                         f"| {statistics.fmean(gaps.values()):+.3f} | {gaps[worst]:+.3f} ({worst[0]} seed {worst[1]}) "
                         f"| {gaps[best]:+.3f} ({best[0]} seed {best[1]}) | {sum(gap < -0.2 for gap in gaps.values())} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
