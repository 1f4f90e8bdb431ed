"""Wall time of the classical colorizers per image, this tree against another git revision, in one run.

Inputs: the authors' demo (../shared/demo: 512x640, 22.5 % rectangular hole, their completed
monochrome) and, for the scaling table, the bundled `china` photo at 256x256, 512x640 and 1024x1280
with a rectangular and a free-form hole (hole ratio 20-40 %, seed 0). Each revision runs in its own
process (its tree exported with `git archive`), the two alternating run by run, so both see the same
machine; the table gives medians and the baseline / this-tree ratio of the medians.

    python benchmarks/propagator_speed.py                                  # this tree vs 28bc291, demo only
    python benchmarks/propagator_speed.py --baseline-rev none --sizes 256x256 512x640 1024x1280
    python benchmarks/propagator_speed.py --baseline-rev none --device cuda --sizes 512x640 1024x1280   # the GPU path
    python benchmarks/propagator_speed.py --colorizers levin validated-blend validated-blend:validation_scale=2

A colorizer given as NAME:KEY=VALUE,... runs with those options (VALUE read as JSON, else as text; e.g.
'validated-blend:candidates=["levin","local-linear","knn"]'); a revision that does not know an option shows "-" for it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from revisions import ROOT, alternating
from revisions import trees as revision_trees

DEMO = ROOT.parent / "shared" / "demo"
HOLE_RATIO = (0.2, 0.4)


def _inputs(names: list[str]) -> dict:
    """(mono, rgb_known, known) per input name: `demo` or `china:HxW:rect|freeform`."""
    import numpy as np
    import torch

    from eiip.color import rgb_to_mono
    from eiip.data.samples import load_sample_photo
    from eiip.io import read_gray, read_image, read_mask
    from eiip.masks import generate_mask

    inputs = {}
    for name in names:
        if name == "demo":
            image, gray = read_image(DEMO / "input2.png"), read_gray(DEMO / "gray2.png")
            known = ~read_mask(DEMO / "mask2.png").reshape(1, *image.shape[-2:]).bool()
        else:
            photo, size, kind = name.split(":")
            h, w = map(int, size.split("x"))
            image = load_sample_photo(photo, (h, w))
            gray = rgb_to_mono(image)
            known = ~torch.from_numpy(generate_mask(kind, h, w, np.random.default_rng(0), ratio=HOLE_RATIO))[None]
        inputs[name] = (gray, image * known, known)
    return inputs


def colorizer_options(spec: str) -> tuple[str, dict]:
    """``NAME`` or ``NAME:KEY=VALUE,...`` -> (name, options); a VALUE that is not JSON stays text."""
    name, _, text = spec.partition(":")
    options = {}
    for item in filter(None, re.split(r",(?=\w+=)", text)):  # a comma inside a JSON value stays in it
        key, _, value = item.partition("=")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return name, options


def worker(colorizers: list[str], names: list[str], device: str) -> None:
    """Time each colorizer once on each input (this process's eiip) on `device`; print one JSON line.

    On a GPU the inputs live there (the colorizers then solve there, `solver=auto`), one untimed call
    first takes CUDA's start-up out, and each time ends when the result is back on the host."""
    # the worker runs in the exported tree; decide by its files (an editable install of this checkout
    # would otherwise serve eiip.colorize from here to an older tree)
    if (Path.cwd() / "eiip" / "colorizers.py").is_file():  # revisions before the eiip/colorize/ package
        from eiip.colorizers import get_colorizer
    else:
        from eiip.colorize import get_colorizer
    inputs = {name: tuple(tensor.to(device) for tensor in tensors) for name, tensors in _inputs(names).items()}
    if device != "cpu":
        get_colorizer(colorizer_options(colorizers[0])[0])(*next(iter(inputs.values()))).cpu()
    seconds: dict[str, float | None] = {}
    for name, (gray, rgb_known, known) in inputs.items():
        for colorizer in colorizers:
            colorizer_name, options = colorizer_options(colorizer)
            try:
                build = get_colorizer(colorizer_name, **options)
            except (TypeError, ValueError):  # an option this revision does not have
                seconds[f"{colorizer} | {name}"] = None
                continue
            started = time.perf_counter()
            build(gray, rgb_known, known).cpu()
            seconds[f"{colorizer} | {name}"] = time.perf_counter() - started
    print(json.dumps(seconds))


def _run(tree: Path, colorizers: list[str], names: list[str], device: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--colorizers", *colorizers,
               "--device", device, "--inputs", *names]
    out = subprocess.run(command, env=env, cwd=tree, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--colorizers", nargs="+", default=["levin", "local-linear", "validated-blend"])
    parser.add_argument("--sizes", nargs="*", default=[], help="HxW sizes of the china photo (rect and free-form holes)")
    parser.add_argument("--no-demo", action="store_true", help="leave out the authors' demo input")
    parser.add_argument("--baseline-rev", default="28bc291", help="git revision to compare with, or 'none'")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="torch device of the inputs, e.g. cuda (default cpu)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--inputs", nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.colorizers, args.inputs, args.device)
        return
    names = ([] if args.no_demo else ["demo"]) + [f"china:{size}:{kind}" for size in args.sizes for kind in ("rect", "freeform")]
    with tempfile.TemporaryDirectory() as scratch:
        trees = revision_trees(args.baseline_rev, Path(scratch))
        runs = alternating(list(trees), args.repeats, lambda label, _: _run(trees[label], args.colorizers, names, args.device))
    medians = {label: {key: None if results[0][key] is None else statistics.median(run[key] for run in results)
                       for key in results[0]} for label, results in runs.items()}
    labels = list(trees)
    header = "| colorizer | input | " + " | ".join(f"{label} (s)" for label in labels)
    header += f" | {labels[-1]} / this tree |" if len(labels) > 1 else " |"
    print(header + "\n|" + "---|" * (header.count("|") - 1))
    for key in medians["this tree"]:
        cells = ["-" if medians[label][key] is None else f"{medians[label][key]:.2f}" for label in labels]
        measured = len(labels) > 1 and None not in (medians[labels[-1]][key], medians["this tree"][key])
        ratio = f" | {medians[labels[-1]][key] / medians['this tree'][key]:.1f}x" if measured else (
            " | -" if len(labels) > 1 else "")
        print(f"| {' | '.join(key.split(' | '))} | " + " | ".join(cells) + ratio + " |")
    print(f"\n{args.repeats} runs each, alternating; medians. Device {args.device}; {os.cpu_count()} CPUs, "
          f"torch threads as set by the environment.")


if __name__ == "__main__":
    main()
