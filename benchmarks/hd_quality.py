"""A checkpoint's HD strategies against completing the whole image: hole PSNR of the completed monochrome.

Each pair is a bundled photo resized to --size (default 1024x1365, above the 512x640 working size) with a
hole of fixed size: a 256x256 `rect` or `freeform` mask (hole ratio 20-40 %) at a position drawn from the
seed (as benchmarks/neighbourhood_quality.py). The checkpoint completes the monochrome with `original`
(the whole image at full size), `crop` and `resize` (`eiip.hd_strategy`); the table gives each strategy's
hole PSNR of the completed monochrome against the photo's own, minus `original`'s, and its time.

    python benchmarks/hd_quality.py --ckpt last.ckpt                       # the six benchmark photos, seed 0
    python benchmarks/hd_quality.py --ckpt last.ckpt --photos rocket astronaut retina chelsea --seeds 0 1

Use photos the checkpoint never trained on (for one trained on the embedded sample data: rocket,
astronaut, retina, chelsea); choose settings (`stage_margin`, `WORKING_PIXELS`) on some seeds, report on others.
Rows go to benchmarks/results/hd-quality.jsonl (replaced per key).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from colorization import load_done, parse_size
from eiip.choices import HD_STRATEGIES
from eiip.color import rgb_to_mono
from eiip.data.samples import ALL_PHOTOS, SAMPLE_PHOTOS, load_sample_photo
from eiip.metrics import hole_psnr
from eiip.pipeline import build_external_stage
from neighbourhood_quality import KINDS, pair_hole

RESULTS = Path(__file__).resolve().parent / "results" / "hd-quality.jsonl"


def run_pair(stages: dict, photo: str, kind: str, seed: int, size: tuple[int, int], ckpt: str) -> dict:
    image = load_sample_photo(photo, size)
    hole = pair_hole(kind, photo, seed, size)
    truth = rgb_to_mono(image)
    row: dict = {"key": f"{Path(ckpt).resolve()}|{photo}|{kind}|{seed}|{size[0]}x{size[1]}", "photo": photo,
                 "kind": kind, "seed": seed, "size": list(size)}
    for strategy, stage in stages.items():
        began = time.perf_counter()
        completed = stage(image[None], hole[None].float())[0]
        row[strategy] = {"hole_psnr": hole_psnr(completed, truth, ~hole), "seconds": time.perf_counter() - began}
    return row


def table(rows: list[dict]) -> str:
    lines = ["| strategy | kind | pairs | hole PSNR of the monochrome - original's: mean / worst (dB) | s / image |",
             "|---|---|---|---|---|"]
    for strategy in HD_STRATEGIES:
        for kind in KINDS:
            group = [row for row in rows if row["kind"] == kind and strategy in row]
            if not group:
                continue
            gaps = [row[strategy]["hole_psnr"] - row["original"]["hole_psnr"] for row in group]
            seconds = statistics.median(row[strategy]["seconds"] for row in group)
            lines.append(f"| {strategy} | {kind} | {len(group)} | {statistics.mean(gaps):+.3f} / {min(gaps):+.3f} "
                         f"| {seconds:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="an external-stage checkpoint (mono bottleneck)")
    parser.add_argument("--photos", nargs="+", default=list(SAMPLE_PHOTOS), choices=ALL_PHOTOS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--size", type=parse_size, default=(1024, 1365), help="HxW (default 1024x1365)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-save", action="store_true", help="do not write the results file")
    args = parser.parse_args()
    stages = {strategy: build_external_stage(ckpt=args.ckpt, device=args.device, hd_strategy=strategy)
              for strategy in HD_STRATEGIES}
    if stages["original"].output != "mono":
        raise SystemExit("hd_quality.py compares completed monochromes: give a mono-bottleneck checkpoint")
    rows = []
    for photo in args.photos:
        for seed in args.seeds:
            for kind in KINDS:
                rows.append(run_pair(stages, photo, kind, seed, args.size, args.ckpt))
                print(rows[-1], flush=True)
    if not args.no_save:
        done = load_done(RESULTS)
        done.update({row["key"]: row for row in rows})
        RESULTS.write_text("".join(json.dumps(row) + "\n" for row in done.values()))
    print(table(rows))


if __name__ == "__main__":
    main()
