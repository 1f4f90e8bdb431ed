"""How noisy the validated blend's weights are: each weight estimator against the best weight in hindsight.

`validated-blend` (default candidates `levin`, `local-linear`) picks w in [0, 1] per image on held-out
known pixels and outputs w * levin + (1 - w) * local-linear in the hole. For every tuning pair this
script fills the hole once with each candidate (full resolution), scores the output's hole PSNR on a
grid of 21 weights (the best of them: the *oracle*, which looks at the hole's true colors), and
compares the weights of several estimators with the default's (`today`: 4 held-out sets at full
resolution, errors on the raw chroma):

* `holdouts8`: 8 held-out sets instead of 4;
* `scale2`, `scale3`: the default's held-out fit on a 2x / 3x area-downsampled copy (`validation_scale`);
* `gamut`: the held-out errors of each candidate's fill after the gamut mapping the output gets
  (chroma scaled towards gray where the color would leave the RGB cube).

The table gives, per estimator, the hole PSNR minus the default's: mean, worst and best pair, and how
many pairs fall more than 0.2 dB below. Meant for tuning inputs (mask seeds other than the colorization
benchmark's 0).

    python benchmarks/blend_weight_noise.py --size 256x256 --seeds 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch

from blend_validation_scale import TUNING_PHOTOS
from colorization import MASK_KINDS, benchmark_mask, load_done, parse_size
from eiip.color import composite, rgb_to_mono, rgb_to_yiq
from eiip.colorize.classical import _prepare, _to_rgb_in_gamut
from eiip.colorize.internal.chroma import chroma_to_rgb
from eiip.colorize.levin import levin_propagator
from eiip.colorize.local_linear import local_linear_propagator
from eiip.colorize.validated_blend import area_downsample, blend_weights, holdout_masks
from eiip.data.samples import ALL_PHOTOS, load_sample_photo
from eiip.metrics import hole_psnr

ESTIMATORS = {"today": (1, 4, False), "holdouts8": (1, 8, False), "scale2": (2, 4, False), "scale3": (3, 4, False),
              "gamut": (1, 4, True)}
"""name: (validation scale, held-out sets, errors after the gamut mapping)."""


def in_gamut(y: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """The chroma (2, H, W) the output shows for Y (H, W): scaled towards gray where it leaves the RGB cube."""
    rgb = chroma_to_rgb(torch.from_numpy(y[None]), torch.from_numpy(np.ascontiguousarray(chroma)))
    return rgb_to_yiq(rgb)[1:].numpy()


def levin_weight(y: np.ndarray, chroma: np.ndarray, known: np.ndarray, holdouts: int, gamut: bool,
                 fills: dict[tuple[int, bytes], np.ndarray]) -> float:
    """The validated blend's weight of ``levin`` (the other candidate: ``local-linear``) from held-out fills;
    ``fills``: the candidates' fills of held-out sets already made for this image, by (candidate, set), reused
    and added to (the estimators share most of their sets)."""
    propagators = [levin_propagator(y), local_linear_propagator(y)]
    sets = holdout_masks(known, holdouts)

    def fill(candidate: int, held: np.ndarray) -> np.ndarray:
        key = (candidate, held.tobytes())
        if key not in fills:
            fills[key] = propagators[candidate](chroma, known & ~held, held)
        return in_gamut(y, fills[key]) if gamut else fills[key]

    predictions = np.stack([np.concatenate([fill(candidate, held)[:, held].ravel() for held in sets])
                            for candidate in range(len(propagators))])
    target = np.concatenate([chroma[:, held].ravel() for held in sets])
    return float(blend_weights(predictions, target)[0])


def measure_pair(image: torch.Tensor, known: torch.Tensor) -> dict:
    """Oracle and estimators' weights and hole PSNR of one (photo, hole) pair."""
    mono, rgb_known = rgb_to_mono(image), composite(torch.ones_like(image), image, known)
    y, chroma, mask = _prepare(mono, rgb_known, known)
    fills = [propagate(chroma, mask, None) for propagate in (levin_propagator(y), local_linear_propagator(y))]

    def score(weight: float) -> float:
        blended = np.where(mask, chroma, weight * fills[0] + (1 - weight) * fills[1])
        return hole_psnr(composite(_to_rgb_in_gamut(y, blended, mono), image, known), image, known)

    grid = np.linspace(0.0, 1.0, 21)
    curve = [score(w) for w in grid]
    row = {"oracle": {"weight": float(grid[int(np.argmax(curve))]), "hole_psnr": max(curve)}}
    held_out_fills: dict[int, dict] = {}  # by scale
    for name, (scale, holdouts, gamut) in ESTIMATORS.items():
        inputs = (y, chroma, mask) if scale == 1 else area_downsample(y, chroma, mask, scale)
        weight = levin_weight(*inputs, holdouts, gamut, held_out_fills.setdefault(scale, {}))
        # the gamut-mapped candidates blend inside the gamut, so the output's own mapping changes nothing
        row[name] = {"weight": weight, "hole_psnr": score(weight)}
    return row


def summary(rows: list[dict]) -> str:
    lines = ["| estimator | pairs | hole PSNR - today's: mean (dB) | worst | best | pairs < -0.2 dB | mean abs weight change |",
             "|---|---|---|---|---|---|---|"]
    for name in [*ESTIMATORS, "oracle"]:
        gaps = [row[name]["hole_psnr"] - row["today"]["hole_psnr"] for row in rows]
        moves = [abs(row[name]["weight"] - row["today"]["weight"]) for row in rows]
        lines.append(f"| {name} | {len(rows)} | {statistics.fmean(gaps):+.3f} | {min(gaps):+.3f} | {max(gaps):+.3f} "
                     f"| {sum(gap < -0.2 for gap in gaps)} | {statistics.fmean(moves):.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", nargs="+", default=list(TUNING_PHOTOS), choices=ALL_PHOTOS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2], help="mask seeds (0 is the benchmark's)")
    parser.add_argument("--size", type=parse_size, default=(256, 256), help="SIZE or HxW (default 256)")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/blend-weight-noise.jsonl"))
    args = parser.parse_args()
    size = "x".join(map(str, args.size))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    done = load_done(args.results)
    rows = []
    for seed in args.seeds:
        for photo in args.photos:
            image = load_sample_photo(photo, args.size)
            for kind in MASK_KINDS:
                key = json.dumps([photo, kind, seed, size])
                if key not in done:
                    known = ~benchmark_mask(kind, ALL_PHOTOS.index(photo), args.size, seed)
                    done[key] = {"key": key, **measure_pair(image, known)}
                    with args.results.open("a") as handle:
                        handle.write(json.dumps(done[key]) + "\n")
                    print(f"{photo:20s} {kind:8s} seed {seed}: " + ", ".join(
                        f"{name} w {value['weight']:.2f} {value['hole_psnr']:.2f} dB"
                        for name, value in done[key].items() if name != "key"), flush=True)
                rows.append(done[key])
    print(f"\n{size}, {len(rows)} pairs:\n\n" + summary(rows))


if __name__ == "__main__":
    main()
