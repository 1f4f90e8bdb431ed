"""Ablate the internal colorizer's options: a preset (default fast) with fields changed, on the
colorization benchmark's (photo, mask) pairs (their seed-0 masks); prints each pair and the mean hole
PSNR and seconds, per colorizer seed and, with several `--seeds`, each pair's mean and spread over them
(one fit is chaotic: its hole PSNR moves by up to a few dB with the seed).

    python benchmarks/internal_options.py --photos rocket flower china --masks freeform --set loss=mse --set steps=200
    python benchmarks/internal_options.py --size 512x640 --photos china flower --masks freeform --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics

from colorization import MASK_KINDS, benchmark_mask, parse_size, run_pairs

from eiip.data.samples import ALL_PHOTOS, SAMPLE_PHOTOS, load_sample_photo
from eiip.colorize.internal.config import PRESETS


def parse_setting(text: str) -> tuple[str, object]:
    """'field=value' with a JSON value (numbers, true/false) or a plain string."""
    field, _, value = text.partition("=")
    try:
        return field, json.loads(value)
    except json.JSONDecodeError:
        return field, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast", choices=PRESETS)
    parser.add_argument("--set", dest="settings", action="append", type=parse_setting, default=[],
                        metavar="FIELD=VALUE", help="an InternalConfig field to change (repeatable)")
    parser.add_argument("--photos", nargs="+", default=list(SAMPLE_PHOTOS), choices=ALL_PHOTOS)
    parser.add_argument("--masks", nargs="+", default=list(MASK_KINDS), choices=MASK_KINDS)
    parser.add_argument("--size", type=parse_size, default=(256, 256), help="SIZE or HxW (default 256)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="colorizer seeds (default 0)")
    args = parser.parse_args()
    options = {"preset": args.preset, **dict(args.settings)}
    pairs = [(name, kind, load_sample_photo(name, args.size), benchmark_mask(kind, ALL_PHOTOS.index(name), args.size, 0))
             for name in args.photos for kind in args.masks]
    scores: dict[tuple[str, str], list[float]] = {(name, kind): [] for name, kind, _, _ in pairs}
    for seed in args.seeds:
        rows = []
        for name, kind, photo, hole in pairs:
            row = run_pairs("internal", {**options, "seed": seed}, [photo], [hole], "cpu")[0]
            rows.append(row)
            scores[name, kind].append(row["hole_psnr"])
            print(f"seed {seed:<3d} {name:10s} {kind:8s} hole PSNR {row['hole_psnr']:6.2f} dB  {row['seconds']:6.1f} s",
                  flush=True)
        print(f"seed {seed}: mean hole PSNR {statistics.fmean(r['hole_psnr'] for r in rows):.2f} dB, "
              f"{statistics.fmean(r['seconds'] for r in rows):.1f} s / image, {json.dumps(options)}", flush=True)
    if len(args.seeds) > 1:
        for (name, kind), values in scores.items():
            print(f"{name:10s} {kind:8s} mean over seeds {statistics.fmean(values):6.2f} dB, "
                  f"spread {max(values) - min(values):5.2f} dB")
        print(f"mean over seeds {args.seeds}: {statistics.fmean(v for vs in scores.values() for v in vs):.2f} dB")


if __name__ == "__main__":
    main()
