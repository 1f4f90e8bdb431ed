"""`eiip shard`: an image folder (or file list) to WebDataset tar shards."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eiip.errors import InputError


def _parse_split(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"invalid split {text!r}; expected TRAIN,VAL,TEST fractions, e.g. 0.9,0.05,0.05")
    return values  # type: ignore[return-value]


def _run_shard(args: argparse.Namespace) -> int:
    from eiip.data.shards import write_shards

    if not Path(args.src).exists():
        raise InputError(f"source not found: {args.src}")
    report = write_shards(args.src, args.out, shard_size=args.size, split=args.split, seed=args.seed,
                          progress=not args.quiet)
    counts = ", ".join(f"{split} {count}" for split, count in report.counts.items())
    print(f"wrote {sum(len(s) for s in report.shards.values())} shard(s) to {args.out} ({counts} images; "
          f"{report.resumed_shards} shard(s) already there)")
    for skipped in report.corrupt:
        print(f"skipped corrupt image {skipped['file']}: {skipped['reason']}", file=sys.stderr)
    for name in report.not_image:
        print(f"skipped non-image file {name}", file=sys.stderr)
    print(f"skipped {len(report.corrupt)} corrupt image(s) and {len(report.not_image)} non-image file(s)")
    return 0


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register `shard`."""
    shard = commands.add_parser("shard", help="write an image folder (or file list) as WebDataset tar shards")
    shard.add_argument("--src", required=True, help="image folder (searched recursively) or a text file of paths")
    shard.add_argument("--out", required=True, help="output folder for {split}-NNNNNN.tar and index.json")
    shard.add_argument("--size", type=int, default=1000, help="images per shard (default 1000)")
    shard.add_argument("--split", type=_parse_split, default=(0.9, 0.05, 0.05),
                       help="train,val,test fractions (default 0.9,0.05,0.05; 1,0,0 keeps a predefined split)")
    shard.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    shard.add_argument("--quiet", action="store_true", help="no progress bar")
    shard.set_defaults(run=_run_shard)
