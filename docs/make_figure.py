"""Draw docs/images/method.png, the README's figure: input / completed monochrome / colorized / ground truth.

    python docs/make_figure.py [--out docs/images/method.png]

A bundled photo (``eiip.data.samples``) with a seeded free-form hole (``eiip.masks.generate_mask``); the
external stage is OpenCV's learning-free ``telea`` completion of the monochrome (a trained checkpoint would
take its place), the internal stage is the default colorizer, ``validated-blend``. The input panel shows the
hole in white. Deterministic: the same eiip gives the same PNG.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from eiip.colorize import get_colorizer
from eiip.data.samples import load_sample_photo
from eiip.masks import generate_mask
from eiip.pipeline import build_external_stage, two_stage
from eiip.visualize import side_by_side

PHOTO, SIZE, SEED = "chelsea", 256, 3
OUT = Path(__file__).resolve().parent / "images" / "method.png"


def figure() -> Image.Image:
    """The figure as a PIL image."""
    torch.set_num_threads(min(2, torch.get_num_threads()))
    image = load_sample_photo(PHOTO, SIZE)
    hole_array = generate_mask("freeform", SIZE, SIZE, np.random.default_rng(SEED), ratio=(0.2, 0.3))
    hole = torch.from_numpy(np.asarray(hole_array, dtype=bool)).reshape(1, SIZE, SIZE)
    stage = build_external_stage(backbone="telea")
    result = two_stage(image, hole, stage, get_colorizer("validated-blend"))
    shown = torch.where(hole, torch.ones_like(image), image)
    return side_by_side([
        ("input (hole in white)", shown),
        ("1. monochrome completed (telea)", result.mono),
        ("2. colorized (validated-blend)", result.final),
        ("ground truth", image),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"PNG to write (default {OUT})")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure().save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
