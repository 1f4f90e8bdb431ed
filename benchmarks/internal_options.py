"""Ablate the internal colorizer's options: a preset (default fast) with fields changed, on the
colorization benchmark's (photo, mask) pairs; prints each pair and the mean hole PSNR and seconds.

    python benchmarks/internal_options.py --photos rocket flower china --masks freeform --set loss=mse --set steps=200
    python benchmarks/internal_options.py --size 512x640 --photos china flower --masks freeform --set ensemble=1
"""

from __future__ import annotations

import argparse
import json
import statistics

from colorization import MASK_KINDS, benchmark_mask, parse_size, run_pairs

from eiip.data.samples import ALL_PHOTOS, SAMPLE_PHOTOS, load_sample_photo
from eiip.internal.config import PRESETS


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
    args = parser.parse_args()
    options = {"preset": args.preset, "seed": 0, **dict(args.settings)}
    rows = []
    for name in args.photos:
        photo = load_sample_photo(name, args.size)
        for kind in args.masks:
            hole = benchmark_mask(kind, ALL_PHOTOS.index(name), args.size, 0)
            row = run_pairs("internal", options, [photo], [hole], "cpu")[0]
            rows.append(row)
            print(f"{name:10s} {kind:8s} hole PSNR {row['hole_psnr']:6.2f} dB  {row['seconds']:6.1f} s", flush=True)
    print(f"mean hole PSNR {statistics.fmean(r['hole_psnr'] for r in rows):.2f} dB, "
          f"{statistics.fmean(r['seconds'] for r in rows):.1f} s / image, {json.dumps(options)}")


if __name__ == "__main__":
    main()
