"""`eiip colorize` (the internal stage, or any guided colorizer, on one image or a folder) and `eiip demo`.

The parsers need no torch; the run functions import what they use.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from eiip.choices import (COLORIZER_NAMES, FAST_ENSEMBLE, FAST_FIT_PIXELS, INTERNAL_COLORIZERS, INTERNAL_PRESETS,
                          NEIGHBOURHOOD_ABOVE, NEIGHBOURHOOD_COLORIZERS)
from eiip.commands.folder import Job, add_io_options, folder_mode, run_folder, single_job
from eiip.errors import InputError

if TYPE_CHECKING:
    import torch

    from eiip.colorize.hints import ColorHint
    from eiip.io import ColorizeInputs

_HINT_PATTERN = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*,\s*#?([0-9a-fA-F]{6})\s*$")


def parse_pixels(text: str) -> int:
    """Parse a number of pixels, an integer >= 0."""
    try:
        pixels = int(text)
    except ValueError:
        pixels = -1
    if pixels < 0:
        raise argparse.ArgumentTypeError(f"invalid number of pixels {text!r}; expected an integer >= 0")
    return pixels


def parse_hint(text: str) -> ColorHint:
    """Parse 'x,y,#rrggbb' into a ColorHint."""
    match = _HINT_PATTERN.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid hint {text!r}; expected x,y,#rrggbb (e.g. 120,64,#3a7bd5)")
    from eiip.colorize.hints import ColorHint

    x, y, color = match.groups()
    rgb = tuple(int(color[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    return ColorHint(int(x), int(y), rgb)  # type: ignore[arg-type]


_INTERNAL_ONLY = ("preset", "levels", "steps", "loss", "ensemble", "fit_pixels")
"""Command-line options read by the internal colorizers only."""


def resolve_device(device: str | None) -> str:
    """The --device given, or cuda if available, else cpu."""
    if device is not None:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def colorizer_options(args: argparse.Namespace) -> dict[str, object]:
    """The options of ``args.colorizer`` given on the command line, as :func:`eiip.colorize.get_colorizer`
    takes them; InputError for an option the colorizer does not read."""
    if args.colorizer not in INTERNAL_COLORIZERS:
        given = [f"--{name.replace('_', '-')}" for name in _INTERNAL_ONLY if getattr(args, name) is not None]
        if given:
            raise InputError(f"{', '.join(given)} work(s) with the internal colorizers only, not "
                             f"{args.colorizer!r} (add --colorizer internal)")
        options: dict[str, object] = {"progress": not args.quiet} if args.colorizer == "validated-blend" else {}
        if args.neighbourhood_above is not None:
            if args.colorizer not in NEIGHBOURHOOD_COLORIZERS:
                raise InputError(f"--neighbourhood-above works with {', '.join(NEIGHBOURHOOD_COLORIZERS)} only, "
                                 f"not {args.colorizer!r}")
            options["neighbourhood_above"] = args.neighbourhood_above
        return options
    if args.neighbourhood_above is not None:
        raise InputError("--neighbourhood-above works with the stencil colorizers only; the internal colorizers "
                         "fit at most --fit-pixels pixels at any image size")
    options = {"preset": args.preset, "levels": args.levels, "steps": args.steps, "seed": args.seed,
               "device": resolve_device(args.device), "progress": not args.quiet}
    options.update({name: getattr(args, name) for name in ("loss", "ensemble") if getattr(args, name) is not None})
    if args.fit_pixels is not None:
        options["fit_pixels"] = args.fit_pixels or None  # 0: fit up to full resolution
    return options


def colorize_image(
    mono: torch.Tensor,
    rgb: torch.Tensor,
    known: torch.Tensor,
    args: argparse.Namespace,
) -> torch.Tensor:
    """Run the chosen colorizer with the hints given; returns the colorization of the whole image (3, H, W)."""
    from eiip.api import colorizer_for, read_hint_image

    image_hints = read_hint_image(args.hint_image, *known.shape[-2:]) if args.hint_image else None
    colorizer = colorizer_for(args.colorizer, hints=args.hint, hint_image=image_hints, **colorizer_options(args))
    return colorizer(mono, rgb, known).cpu()


def add_colorizer_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("colorizer")
    group.add_argument("--colorizer", default="validated-blend", choices=COLORIZER_NAMES,
                       help="default: validated-blend (levin and local-linear weighted per image on held-out known "
                            "pixels); internal: the paper's internal stage (see the README)")
    group.add_argument("--seed", type=int, default=0, help="seed of the internal colorizer (default 0)")
    group.add_argument("--hint", type=parse_hint, action="append", default=[], metavar="X,Y,#RRGGBB",
                       help="a user color hint at pixel (x, y), a 3x3 square; repeatable (paper Fig. 11)")
    group.add_argument("--hint-image", default=None, metavar="PNG",
                       help="hints drawn on a transparent layer of the image's size: every non-transparent pixel "
                            "is a hint of its color")
    group.add_argument("--preset", choices=INTERNAL_PRESETS, default=None,
                       help="internal settings: fast (default), reference (the official release), paper, base")
    group.add_argument("--levels", type=int, default=None, help="pyramid levels, 1-5 (internal; default 3)")
    group.add_argument("--steps", type=int, default=None, help="Adam steps per level (default: the preset's)")
    group.add_argument("--loss", choices=("l1", "mse"), default=None,
                       help="masked reconstruction loss: l1 (paper) or mse (official code); default: the preset's")
    group.add_argument("--ensemble", type=int, default=None, metavar="M",
                       help="pyramids fitted per image from different seeds, colorizations averaged "
                            f"(internal; default: the preset's, {FAST_ENSEMBLE} for fast, 1 for the others)")
    group.add_argument("--fit-pixels", type=int, default=None, metavar="N",
                       help="fit the pyramid only up to its finest level of at most N pixels and upsample the "
                            f"chroma (internal; 0 = full resolution; default: the preset's, {FAST_FIT_PIXELS} for fast)")
    group.add_argument("--device", default=None,
                       help="torch device for the internal colorizer (default: cuda if available, else cpu)")
    group.add_argument("--neighbourhood-above", type=parse_pixels, default=None, metavar="N",
                       help=f"{', '.join(NEIGHBOURHOOD_COLORIZERS)}: images of more than N pixels are colorized in "
                            f"their holes' neighbourhoods only (default {NEIGHBOURHOOD_ABOVE:,}; 0: always)")
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def _colorize_job(args: argparse.Namespace, job: Job) -> tuple[ColorizeInputs, torch.Tensor]:
    """Colorize the hole of one image and write the composite; returns the inputs and the result."""
    from eiip.color import composite_
    from eiip.io import load_colorize_inputs, write_image

    inputs = load_colorize_inputs(job.image, job.mask, job.gray, max_pixels=args.max_pixels)
    colorized = colorize_image(inputs.mono, inputs.rgb, inputs.known, args)
    result = composite_(colorized.float(), inputs.rgb, inputs.known)
    write_image(job.out, result)
    return inputs, result


def _run_colorize(args: argparse.Namespace) -> int:
    if folder_mode(args):
        return run_folder(args, _colorize_job)
    inputs, result = _colorize_job(args, single_job(args))
    if args.compare:
        import torch

        from eiip.color import composite
        from eiip.io import atomic_save
        from eiip.visualize import side_by_side

        masked = composite(torch.ones_like(inputs.rgb), inputs.rgb, inputs.known)
        panels = [("input", masked), ("monochrome", inputs.mono), (args.colorizer, result)]
        atomic_save(side_by_side(panels), args.compare)
    print(f"wrote {args.out} ({args.colorizer}, hole {inputs.hole_ratio:.1%})")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from eiip.color import composite, rgb_to_mono
    from eiip.data.samples import load_sample_photo
    from eiip.io import atomic_save, write_image, write_mask
    from eiip.masks import generate_mask
    from eiip.metrics import hole_psnr, psnr
    from eiip.visualize import side_by_side

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


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register `colorize` and `demo`."""
    colorize = commands.add_parser("colorize", help="restore the colors of a hole from the image's known pixels")
    single = add_io_options(colorize, image="image with a hole (any mode; hole pixels are ignored)",
                            mask="hole mask: white (255) = hole, black = known",
                            out="output image (known pixels kept, hole colorized)", gray_dir=True)
    single.add_argument("--gray", default=None, help="completed monochrome (default: the monochrome of --image itself)")
    single.add_argument("--compare", default=None, help="also write a side-by-side PNG here")
    add_colorizer_options(colorize)
    colorize.set_defaults(run=_run_colorize)

    demo = commands.add_parser("demo", help="colorize a bundled real photo with a generated free-form hole")
    demo.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    demo.add_argument("--photo", default="astronaut", help="bundled photo (default astronaut)")
    demo.add_argument("--size", type=int, default=256, help="square size in pixels (default 256)")
    add_colorizer_options(demo)
    demo.set_defaults(run=_run_demo)
