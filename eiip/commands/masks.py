"""`eiip masks`: a reproducible, fixed evaluation set of hole masks with its index, generated or imported."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from eiip.choices import MASK_KINDS, NVIDIA_HOLE_COLORS
from eiip.errors import InputError

_SIZE_PATTERN = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_RATIO_PATTERN = re.compile(rf"^\s*{_NUMBER}\s*(%?)\s*-\s*{_NUMBER}\s*(%?)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """Parse 'HxW' (e.g. 256x256) into (height, width), both positive."""
    match = _SIZE_PATTERN.match(text)
    if not match or min(int(v) for v in match.groups()) < 1:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}; expected HxW with positive integers, e.g. 256x256")
    height, width = match.groups()
    return int(height), int(width)


def parse_ratio(text: str) -> tuple[float, float]:
    """Parse a hole-ratio range 'LO-HI' as fractions ('0.2-0.4') or percents ('20-40%'), 0 <= LO <= HI < 1."""
    match = _RATIO_PATTERN.match(text)
    scale = 100.0 if match and "%" in match.group(2) + match.group(4) else 1.0
    lo, hi = (float(match.group(1)) / scale, float(match.group(3)) / scale) if match else (-1.0, -1.0)
    if not 0 <= lo <= hi < 1:
        raise argparse.ArgumentTypeError(
            f"invalid ratio {text!r}; expected LO-HI with 0 <= LO <= HI < 1, as fractions (0.2-0.4) "
            "or percents (20-40%)"
        )
    return lo, hi


def parse_count(text: str) -> int:
    """Parse a mask count, an integer >= 1."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}; expected an integer >= 1")
    return count


def _describe_ratio(ratio: tuple[float, float] | None) -> str:
    return "any hole ratio" if ratio is None else f"hole ratio {100 * ratio[0]:g}-{100 * ratio[1]:g}%"


def _import_nvidia(args: argparse.Namespace, out: Path) -> int:
    from eiip.nvidia_masks import import_nvidia_masks

    counts = import_nvidia_masks(args.import_nvidia, out, args.size, args.hole_color)
    bins = ", ".join(f"{label or 'outside'}: {n}" for label, n in sorted(counts.items(), key=lambda c: c[0] or "~"))
    print(f"imported {sum(counts.values())} NVIDIA masks at {args.size[0]}x{args.size[1]} ({bins}) to {out}")
    return 0


def _run_masks(args: argparse.Namespace) -> int:
    import numpy as np

    from eiip.masks import generate_masks, hole_ratio, save_mask_set

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"output path exists and is not a folder: {out}")
    if args.import_nvidia is not None:
        return _import_nvidia(args, out)
    if args.n is None:
        raise InputError("--n is required unless --import-nvidia is given")
    height, width = args.size
    masks = generate_masks(args.kind, args.n, height, width, args.seed, args.ratio, progress=not args.quiet)
    save_mask_set(out, masks, kind=args.kind, seed=args.seed, ratio=args.ratio)
    mean = float(np.mean([hole_ratio(mask) for mask in masks]))
    print(f"wrote {len(masks)} {args.kind} masks of {height}x{width} ({_describe_ratio(args.ratio)}, "
          f"mean {mean:.1%}, seed {args.seed}) to {out}")
    return 0


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register `masks`."""
    masks = commands.add_parser("masks", help="write a reproducible evaluation set of hole masks with its index")
    masks.add_argument("--out", required=True, help="output folder for 00000.png, 00001.png, ... and index.json")
    masks.add_argument("--n", type=parse_count, help="number of masks (>= 1); required unless --import-nvidia")
    masks.add_argument("--size", type=parse_size, required=True, metavar="HxW", help="mask size, e.g. 256x256")
    masks.add_argument("--kind", choices=MASK_KINDS, default="freeform", help="default: freeform")
    masks.add_argument("--ratio", type=parse_ratio, default=None, metavar="LO-HI",
                       help="hole-ratio range, as fractions (0.2-0.4) or percents (20-40%%); default: unconstrained")
    masks.add_argument("--seed", type=int, default=0, help="seed of the set (default 0); mask i does not depend on --n")
    masks.add_argument("--import-nvidia", metavar="DIR",
                       help="import the NVIDIA irregular-mask test set (Liu et al. 2018) in DIR instead, resized to "
                            "--size and binned by hole ratio")
    masks.add_argument("--hole-color", choices=NVIDIA_HOLE_COLORS, default="white",
                       help="colour of the holes in the --import-nvidia PNGs (default: white)")
    masks.add_argument("--quiet", action="store_true", help="no progress bar")
    masks.set_defaults(run=_run_masks)
