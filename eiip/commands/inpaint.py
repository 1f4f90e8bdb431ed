"""`eiip inpaint` (both stages on one image) and `eiip recolor` (re-colorize another method's result)."""

from __future__ import annotations

import argparse

import torch

from eiip.color import composite
from eiip.colorize import Colorizer
from eiip.commands.colorize import add_colorizer_options, colorize_image
from eiip.io import atomic_save, read_image, read_mask, validate_colorize_inputs, write_image
from eiip.pipeline import CLASSICAL_METHODS, TruthStage, build_external_stage, two_stage
from eiip.visualize import side_by_side


def _colorizer(args: argparse.Namespace) -> Colorizer:
    """The colorizer chosen on the command line (options, hints, device) as a Colorizer."""
    return lambda mono, rgb, known: colorize_image(mono, rgb, known, args)


def _read_inputs(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """(image (3, H, W), hole (1, H, W) bool), validated (sizes, a hole and known pixels)."""
    image, hole = read_image(args.image), read_mask(args.mask)
    validate_colorize_inputs(image, hole, image_name=str(args.image), mask_name=str(args.mask))
    return image, hole


def _report(args: argparse.Namespace, label: str, hole: torch.Tensor, extra: list[str]) -> None:
    written = ", ".join([str(args.out), *extra])
    print(f"wrote {written} ({label}, hole {float(hole.float().mean()):.1%})")


def _run_inpaint(args: argparse.Namespace) -> int:
    if (args.ckpt is None) == (args.backbone is None):
        raise ValueError("give exactly one external stage: --ckpt CKPT or --backbone telea|ns")
    stage = build_external_stage(backbone=args.backbone, ckpt=args.ckpt, device=args.device)
    image, hole = _read_inputs(args)
    result = two_stage(image, hole, stage, _colorizer(args))
    write_image(args.out, result.final)
    extra = []
    if args.mono_out:
        extra.append(str(write_image(args.mono_out, result.mono)))
    if args.compare:
        masked = composite(torch.ones_like(image), image, ~hole)
        atomic_save(side_by_side([("input", masked), ("monochrome", result.mono), ("result", result.final)]),
                    args.compare)
        extra.append(str(args.compare))
    source = args.backbone or f"checkpoint {args.ckpt}"
    label = f"{source}, rgb output, no colorizer" if stage.output == "rgb" else f"{source} + {args.colorizer}"
    _report(args, label, hole, extra)
    return 0


def _run_recolor(args: argparse.Namespace) -> int:
    image, hole = _read_inputs(args)
    result = two_stage(image, hole, TruthStage(), _colorizer(args))
    write_image(args.out, result.final)
    extra = []
    if args.compare:
        panels = [("inpainted", image), ("monochrome", result.mono), (f"recolored ({args.colorizer})", result.final)]
        atomic_save(side_by_side(panels), args.compare)
        extra.append(str(args.compare))
    _report(args, f"recolored with {args.colorizer}", hole, extra)
    return 0


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register `inpaint` and `recolor`."""
    inpaint = commands.add_parser(
        "inpaint", help="complete a hole: external stage (monochrome) then guided colorizer",
        description="Both stages on one image: a checkpoint (--ckpt) or a learning-free OpenCV method "
                    "(--backbone) completes the hole's monochrome, the colorizer restores its colors from "
                    "the known pixels. An rgb-bottleneck checkpoint completes RGB directly (no colorizer). "
                    "--device also places the checkpoint.")
    inpaint.add_argument("--image", required=True, help="image with a hole (hole pixels are ignored)")
    inpaint.add_argument("--mask", required=True, help="hole mask: white (255) = hole, black = known")
    inpaint.add_argument("--ckpt", default=None, help="external-stage checkpoint (train.py's ExternalInpainter)")
    inpaint.add_argument("--backbone", default=None, choices=CLASSICAL_METHODS,
                         help="learning-free external stage instead of --ckpt: OpenCV telea or ns")
    inpaint.add_argument("--out", required=True, help="output image (known pixels kept)")
    inpaint.add_argument("--mono-out", default=None, help="also write the completed monochrome here")
    inpaint.add_argument("--compare", default=None, help="also write a side-by-side PNG here")
    add_colorizer_options(inpaint)
    inpaint.set_defaults(run=_run_inpaint)

    recolor = commands.add_parser(
        "recolor", help="re-colorize another method's RGB inpainting result (paper Fig. 3)",
        description="Keeps the monochrome of the inpainted image (its hole content as structure) and "
                    "restores the hole's colors from the known pixels outside the mask.")
    recolor.add_argument("--image", required=True, help="another method's inpainted RGB result")
    recolor.add_argument("--mask", required=True, help="the hole it filled: white (255) = hole, black = known")
    recolor.add_argument("--out", required=True, help="output image (known pixels kept)")
    recolor.add_argument("--compare", default=None, help="also write a side-by-side PNG here")
    add_colorizer_options(recolor)
    recolor.set_defaults(run=_run_recolor)
