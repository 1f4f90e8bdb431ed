"""`eiip inpaint` (both stages on one image or a folder) and `eiip recolor` (re-colorize another method's result).

The parsers need no torch; the run functions import what they use.
"""

from __future__ import annotations

import argparse
import functools
from typing import TYPE_CHECKING

from eiip.choices import CLASSICAL_METHODS, HD_STRATEGIES, NEIGHBOURHOOD_ABOVE, WORKING_PIXELS
from eiip.commands.colorize import add_colorizer_options, colorize_image, resolve_device
from eiip.commands.folder import Job, add_io_options, folder_mode, run_folder, single_job
from eiip.commands.masks import parse_count

if TYPE_CHECKING:
    import torch

    from eiip.colorize import Colorizer
    from eiip.pipeline import ExternalStage, TwoStageResult


def _colorizer(args: argparse.Namespace) -> Colorizer:
    """The colorizer chosen on the command line (options, hints, device) as a Colorizer."""
    return lambda mono, rgb, known: colorize_image(mono, rgb, known, args)


@functools.lru_cache(maxsize=1)
def _external_stage(backbone: str | None, ckpt: str | None, device: str, hd_strategy: str | None,
                    hd_pixels: int | None) -> ExternalStage:
    """The external stage, built once per process (a checkpoint is read once for a whole folder)."""
    from eiip.pipeline import build_external_stage

    return build_external_stage(backbone=backbone, ckpt=ckpt, device=device, hd_strategy=hd_strategy,
                                working_pixels=hd_pixels)


def _stage(args: argparse.Namespace) -> ExternalStage:
    return _external_stage(args.backbone, args.ckpt, resolve_device(args.device), args.hd_strategy, args.hd_pixels)


def _two_stage_job(args: argparse.Namespace, job: Job) -> tuple[torch.Tensor, torch.Tensor, TwoStageResult]:
    """Both stages on one image (validated: sizes, a hole and known pixels), the result written;
    returns the image (3, H, W), its hole (1, H, W) bool and the result."""
    from eiip.io import read_image, read_mask, validate_colorize_inputs, write_image
    from eiip.pipeline import two_stage

    image, hole = read_image(job.image, args.max_pixels), read_mask(job.mask, args.max_pixels)
    validate_colorize_inputs(image, hole, image_name=str(job.image), mask_name=str(job.mask))
    result = two_stage(image, hole, _stage(args), _colorizer(args))
    write_image(job.out, result.final)
    return image, hole, result


def _report(args: argparse.Namespace, label: str, hole: torch.Tensor, extra: list[str]) -> None:
    written = ", ".join([str(args.out), *extra])
    print(f"wrote {written} ({label}, hole {float(hole.float().mean()):.1%})")


def _compare(args: argparse.Namespace, panels: list[tuple[str, torch.Tensor]]) -> str:
    """Write the side-by-side panels to --compare; returns its path."""
    from eiip.io import atomic_save
    from eiip.visualize import side_by_side

    atomic_save(side_by_side(panels), args.compare)
    return str(args.compare)


def _run_inpaint(args: argparse.Namespace) -> int:
    if (args.ckpt is None) == (args.backbone is None):
        raise ValueError("give exactly one external stage: --ckpt CKPT or --backbone telea|ns")
    folder = folder_mode(args)
    _external_stage.cache_clear()  # a checkpoint file may have changed since an earlier call in this process
    stage = _stage(args)  # a bad checkpoint fails here, before any image
    if folder:
        return run_folder(args, _two_stage_job)
    image, hole, result = _two_stage_job(args, single_job(args))
    extra = []
    if args.mono_out:
        from eiip.io import write_image

        extra.append(str(write_image(args.mono_out, result.mono)))
    if args.compare:
        import torch

        from eiip.color import composite

        masked = composite(torch.ones_like(image), image, ~hole)
        extra.append(_compare(args, [("input", masked), ("monochrome", result.mono), ("result", result.final)]))
    source = args.backbone or f"checkpoint {args.ckpt}"
    label = f"{source}, rgb output, no colorizer" if stage.output == "rgb" else f"{source} + {args.colorizer}"
    _report(args, label, hole, extra)
    return 0


def _run_recolor(args: argparse.Namespace) -> int:
    if folder_mode(args):
        return run_folder(args, _two_stage_job)
    image, hole, result = _two_stage_job(args, single_job(args))
    extra = []
    if args.compare:
        panels = [("inpainted", image), ("monochrome", result.mono), (f"recolored ({args.colorizer})", result.final)]
        extra.append(_compare(args, panels))
    _report(args, f"recolored with {args.colorizer}", hole, extra)
    return 0


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register `inpaint` and `recolor`."""
    inpaint = commands.add_parser(
        "inpaint", help="complete a hole: external stage (monochrome) then guided colorizer",
        description="Both stages on one image or a folder: a checkpoint (--ckpt) or a learning-free OpenCV "
                    "method (--backbone) completes the hole's monochrome, the colorizer restores its colors from "
                    "the known pixels. An rgb-bottleneck checkpoint completes RGB directly (no colorizer). "
                    "--device also places the checkpoint.")
    single = add_io_options(inpaint, image="image with a hole (hole pixels are ignored)",
                            mask="hole mask: white (255) = hole, black = known", out="output image (known pixels kept)")
    single.add_argument("--mono-out", default=None, help="also write the completed monochrome here")
    single.add_argument("--compare", default=None, help="also write a side-by-side PNG here")
    inpaint.add_argument("--ckpt", default=None, help="external-stage checkpoint (train.py's ExternalInpainter)")
    inpaint.add_argument("--backbone", default=None, choices=CLASSICAL_METHODS,
                         help="learning-free external stage instead of --ckpt: OpenCV telea or ns")
    inpaint.add_argument("--hd-strategy", default=HD_STRATEGIES[0], choices=HD_STRATEGIES,
                         help="images larger than --hd-pixels: crop (default) completes each hole in a box around it, "
                              "brought down to --hd-pixels when larger; resize brings the whole image down; original "
                              "completes the whole image as it is (refused when it would not fit in memory)")
    inpaint.add_argument("--hd-pixels", type=parse_count, default=None, metavar="N",
                         help=f"working size in pixels: larger images follow --hd-strategy (default: {WORKING_PIXELS:,}, "
                              f"512x640, for a checkpoint; {NEIGHBOURHOOD_ABOVE:,} for telea and ns, whose crops are "
                              "completed at full resolution)")
    add_colorizer_options(inpaint)
    inpaint.set_defaults(run=_run_inpaint)

    recolor = commands.add_parser(
        "recolor", help="re-colorize another method's RGB inpainting result (paper Fig. 3)",
        description="Keeps the monochrome of the inpainted image (its hole content as structure) and "
                    "restores the hole's colors from the known pixels outside the mask.")
    single = add_io_options(recolor, image="another method's inpainted RGB result",
                            mask="the hole it filled: white (255) = hole, black = known",
                            out="output image (known pixels kept)")
    single.add_argument("--compare", default=None, help="also write a side-by-side PNG here")
    add_colorizer_options(recolor)
    # the image's own monochrome: the truth stage, never cropped
    recolor.set_defaults(run=_run_recolor, backbone="truth", ckpt=None, hd_strategy=None, hd_pixels=None)
