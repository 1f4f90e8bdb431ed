"""The `eiip` command: colorize (the internal stage on one image), demo (the embedded default), shard."""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from eiip.color import composite, rgb_to_mono
from eiip.colorizers import colorizer_names, get_colorizer
from eiip.internal import ColorHint
from eiip.internal.config import PRESETS
from eiip.io import InputError, atomic_save, load_colorize_inputs, write_image, write_mask
from eiip.metrics import hole_psnr, psnr
from eiip.visualize import side_by_side

_HINT_PATTERN = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*,\s*#?([0-9a-fA-F]{6})\s*$")


def parse_hint(text: str) -> ColorHint:
    """Parse 'x,y,#rrggbb' into a ColorHint."""
    match = _HINT_PATTERN.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid hint {text!r}; expected x,y,#rrggbb (e.g. 120,64,#3a7bd5)")
    x, y, color = match.groups()
    rgb = tuple(int(color[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    return ColorHint(int(x), int(y), rgb)  # type: ignore[arg-type]


def colorize_image(
    mono: torch.Tensor,
    rgb: torch.Tensor,
    known: torch.Tensor,
    args: argparse.Namespace,
) -> torch.Tensor:
    """Run the chosen colorizer; returns the colorization of the whole image (3, H, W)."""
    if args.colorizer not in PRESETS:
        if args.hint:
            raise InputError(f"--hint works with the internal colorizers only, not {args.colorizer!r}")
        return get_colorizer(args.colorizer)(mono, rgb, known)
    settings = {"levels": args.levels, "steps": args.steps, "loss": args.loss}
    colorizer = get_colorizer(args.colorizer, seed=args.seed, device=args.device, progress=not args.quiet, **settings)
    return colorizer(mono, rgb, known, hints=args.hint).cpu()


def _add_colorizer_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("colorizer")
    group.add_argument("--colorizer", default="internal", choices=colorizer_names(), help="default: internal")
    group.add_argument("--seed", type=int, default=0, help="seed of the internal colorizer (default 0)")
    group.add_argument("--hint", type=parse_hint, action="append", default=[], metavar="X,Y,#RRGGBB",
                       help="a user color hint at pixel (x, y); repeatable (internal colorizers only)")
    group.add_argument("--levels", type=int, default=None, help="pyramid levels, 1-5 (internal; default 3)")
    group.add_argument("--steps", type=int, default=None, help="Adam steps per level (default: published 401)")
    group.add_argument("--loss", choices=("l1", "mse"), default="l1",
                       help="masked reconstruction loss: l1 (paper, default) or mse (official code)")
    group.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                       help="torch device for the internal colorizer (default: cuda if available)")
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_colorize(args: argparse.Namespace) -> int:
    inputs = load_colorize_inputs(args.image, args.mask, args.gray)
    colorized = colorize_image(inputs.mono, inputs.rgb, inputs.known, args)
    result = composite(colorized, inputs.rgb, inputs.known)
    write_image(args.out, result)
    if args.compare:
        masked = composite(torch.ones_like(inputs.rgb), inputs.rgb, inputs.known)
        panels = [("input", masked), ("monochrome", inputs.mono), (args.colorizer, result)]
        atomic_save(side_by_side(panels), args.compare)
    print(f"wrote {args.out} ({args.colorizer}, hole {inputs.hole_ratio:.1%})")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from eiip.data.samples import load_sample_photo
    from eiip.masks import generate_mask

    photo = load_sample_photo(args.photo, args.size)
    hole = torch.from_numpy(generate_mask("freeform", args.size, args.size, np.random.default_rng(args.seed),
                                          ratio=(0.2, 0.4)))[None]
    known = ~hole
    mono = rgb_to_mono(photo)
    masked = composite(torch.ones_like(photo), photo, known)
    out = Path(args.out)
    write_image(out / "input.png", masked)
    write_mask(out / "mask.png", hole)
    write_image(out / "gray.png", mono)
    result = composite(colorize_image(mono, masked, known, args), photo, known)
    write_image(out / "result.png", result)
    panels = [("input", masked), ("monochrome", mono), (args.colorizer, result), ("ground truth", photo)]
    atomic_save(side_by_side(panels), out / "side_by_side.png")
    print(f"{args.photo} {args.size}x{args.size}, hole {hole.float().mean():.1%}, {args.colorizer}: "
          f"PSNR {psnr(result, photo):.2f} dB, hole PSNR {hole_psnr(result, photo, known):.2f} dB")
    print(f"wrote {out}/{{input,mask,gray,result,side_by_side}}.png")
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eiip", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    colorize = commands.add_parser("colorize", help="restore the colors of a hole from the image's known pixels")
    colorize.add_argument("--image", required=True, help="image with a hole (any mode; hole pixels are ignored)")
    colorize.add_argument("--mask", required=True, help="hole mask: white (255) = hole, black = known")
    colorize.add_argument("--gray", default=None,
                          help="completed monochrome (default: the monochrome of --image itself)")
    colorize.add_argument("--out", required=True, help="output image (known pixels kept, hole colorized)")
    colorize.add_argument("--compare", default=None, help="also write a side-by-side PNG here")
    _add_colorizer_options(colorize)
    colorize.set_defaults(run=_run_colorize)

    demo = commands.add_parser("demo", help="colorize a bundled real photo with a generated free-form hole")
    demo.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    demo.add_argument("--photo", default="astronaut", help="bundled photo (default astronaut)")
    demo.add_argument("--size", type=int, default=256, help="square size in pixels (default 256)")
    _add_colorizer_options(demo)
    demo.set_defaults(run=_run_demo)

    shard = commands.add_parser("shard", help="write an image folder (or file list) as WebDataset tar shards")
    shard.add_argument("--src", required=True, help="image folder (searched recursively) or a text file of paths")
    shard.add_argument("--out", required=True, help="output folder for {split}-NNNNNN.tar and index.json")
    shard.add_argument("--size", type=int, default=1000, help="images per shard (default 1000)")
    shard.add_argument("--split", type=_parse_split, default=(0.9, 0.05, 0.05),
                       help="train,val,test fractions (default 0.9,0.05,0.05; 1,0,0 keeps a predefined split)")
    shard.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    shard.add_argument("--quiet", action="store_true", help="no progress bar")
    shard.set_defaults(run=_run_shard)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: bad input prints one 'error: ...' line and exits with status 2."""
    args = build_parser().parse_args(argv)
    warnings.showwarning = _one_line_warning
    try:
        return args.run(args)
    except (InputError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
