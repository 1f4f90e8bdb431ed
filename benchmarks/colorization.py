"""Colorization benchmark: the paper's Table 3 protocol on real photos shipped by installed packages.

Each bundled photo is center-cropped and resized to SIZE x SIZE and gets a rectangular and a free-form
hole (hole ratio 20-40 %, fixed seeds). Its monochrome plus its colors outside the hole go to each
colorizer; we report PSNR (whole image and hole only) and SSIM of the composite against the photo,
and wall seconds per image. Results are appended to a JSONL file as they finish, so an interrupted
run resumes where it stopped (rows are keyed by photo, mask, colorizer and settings; an internal
colorizer's rows also record its full InternalConfig, and rows of another definition of a preset are
refused rather than mixed in).

    python benchmarks/colorization.py                       # all photos, both masks, the default colorizers
    python benchmarks/colorization.py --colorizers levin dt --photos astronaut coffee
    python benchmarks/colorization.py --colorizers internal --preset reference fast      # speed vs quality
    python benchmarks/colorization.py --colorizers internal --batch 4 --device cuda
    python benchmarks/colorization.py --colorizers internal --preset reference fast --size 512x640 --photos china flower
    python benchmarks/colorization.py --colorizers knn 'validated-blend:candidates=["levin","local-linear","knn"]'
    python benchmarks/colorization.py --colorizers validated-blend knn --against validated-blend --report   # gaps to the default

`internal` runs once per `--preset` (rows are labelled internal:PRESET); another colorizer given as
NAME:KEY=VALUE,... runs with those options (as in benchmarks/propagator_speed.py); `--batch K` fits K pairs at
once (seconds per image = batch seconds / K). Peak memory: the process's peak resident set during
the call (CPU, sampled every 10 ms; it includes torch itself and memory kept from earlier calls, so
run one preset per process for a clean figure) or torch's peak allocation (CUDA).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from eiip.color import composite, rgb_to_mono
from eiip.colorize import INTERNAL_COLORIZERS, colorize_batch, colorizer_names, get_colorizer, resolved_settings
from eiip.data.samples import ALL_PHOTOS, SAMPLE_PHOTOS, load_sample_photo
from eiip.colorize.internal.config import PRESETS
from eiip.masks import generate_mask
from eiip.metrics import hole_psnr, psnr, ssim
from propagator_speed import colorizer_options as parse_colorizer_spec

MASK_KINDS = ("rect", "freeform")
HOLE_RATIO = (0.2, 0.4)


def benchmark_mask(kind: str, photo_index: int, size: tuple[int, int], seed: int) -> torch.Tensor:
    """The fixed (1, H, W) bool hole of one (photo, mask kind) pair."""
    rng = np.random.default_rng([seed, photo_index, MASK_KINDS.index(kind)])
    return torch.from_numpy(generate_mask(kind, *size, rng, ratio=HOLE_RATIO))[None]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


@contextmanager
def peak_memory(device: str) -> Iterator[dict]:
    """Measures the peak memory of the block in MiB into the yielded dict's 'peak_mib'."""
    record: dict = {}
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        yield record
        record["peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
        return
    peak, stop = [_rss_bytes()], threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            peak[0] = max(peak[0], _rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield record
    finally:
        stop.set()
        sampler.join()
        record["peak_mib"] = max(peak[0], _rss_bytes()) / 2**20


def run_pairs(label: str, options: dict, photos: list[torch.Tensor], holes: list[torch.Tensor], device: str) -> list[dict]:
    """Colorize K (photo, hole) pairs with one colorizer at once; metrics per pair, seconds = batch time / K."""
    known = torch.stack([~hole for hole in holes])
    truth = torch.stack(photos)
    rgb_known = composite(torch.ones_like(truth), truth, known)
    colorizer = get_colorizer(label.split(":")[0], **options)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    with peak_memory(device) as memory:
        started = time.perf_counter()
        colorized = colorize_batch(colorizer, rgb_to_mono(truth), rgb_known, known)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - started) / len(photos)
    rows = []
    for result, photo, keep, hole in zip(composite(colorized.cpu(), truth, known), photos, known, holes):
        rows.append({"psnr": psnr(result, photo), "hole_psnr": hole_psnr(result, photo, keep), "ssim": ssim(result, photo),
                     "seconds": seconds, "peak_mib": memory["peak_mib"], "hole_ratio": float(hole.float().mean())})
    return rows


def colorizer_options(label: str, args: argparse.Namespace) -> dict:
    name, _, preset = label.partition(":")
    if name not in INTERNAL_COLORIZERS:
        return parse_colorizer_spec(label)[1]
    options = {"seed": args.seed, "progress": not args.quiet, "device": args.device}
    if preset:
        options["preset"] = preset
    if args.steps is not None:
        options["steps"] = args.steps
    return options


def check_same_settings(done: dict[str, dict], keys: list[str], label: str, settings: dict | None, path: Path) -> None:
    """Refuse to resume rows of `label` measured with other settings (an earlier definition of its preset);
    rows recorded before settings were stored are taken as they are."""
    stale = [k for k in keys if k in done and done[k].get("settings", settings) != settings]
    if stale:
        raise SystemExit(f"error: {len(stale)} {label} rows in {path} were measured with other settings than "
                         f"this version's (an earlier definition of the preset?); relabel or remove them, or "
                         f"pass --results with another file")


def colorizer_labels(args: argparse.Namespace) -> list[str]:
    """`internal` once per preset (internal:PRESET), the other colorizers as named."""
    return [label for name in args.colorizers
            for label in ([f"{name}:{preset}" for preset in args.preset] if name == "internal" else [name])]


def load_done(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["key"]: row for row in rows}


def _mean(group: list[dict], key: str) -> float:
    values = [r[key] for r in group if r.get(key) is not None]
    return statistics.fmean(values) if values else float("nan")


def summary_table(rows: list[dict], labels: list[str]) -> str:
    """Mean metrics, speed and memory per colorizer and mask kind, as Markdown."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["colorizer"], row["mask"])].append(row)
    lines = [
        "| colorizer | mask | images | PSNR | hole PSNR | SSIM | s / image | images / s | peak MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label in labels:
        for kind in MASK_KINDS:
            group = groups.get((label, kind), [])
            if group:
                seconds = _mean(group, "seconds")
                lines.append(
                    f"| {label} | {kind} | {len(group)} | {_mean(group, 'psnr'):.2f} | {_mean(group, 'hole_psnr'):.2f} "
                    f"| {_mean(group, 'ssim'):.4f} | {seconds:.2f} | {1 / seconds:.3f} | {_mean(group, 'peak_mib'):.0f} |"
                )
    return "\n".join(lines)


def _shared_pairs(rows: list[dict], label: str, baseline: str, kind: str) -> list[tuple[str, dict, dict]]:
    """(photo, row of `label`, row of `baseline`) for every photo both measured with masks of `kind`."""
    mine = {r["photo"]: r for r in rows if r["colorizer"] == label and r["mask"] == kind}
    base = {r["photo"]: r for r in rows if r["colorizer"] == baseline and r["mask"] == kind}
    return [(photo, mine[photo], base[photo]) for photo in sorted(mine.keys() & base.keys())]


def speedup_table(rows: list[dict], labels: list[str], baseline: str = "internal:reference") -> str:
    """Wall-time ratio and hole-PSNR difference of each internal preset against `baseline`, per mask kind."""
    lines = ["| colorizer | mask | speed-up vs reference | hole PSNR - reference (dB) |", "|---|---|---|---|"]
    for label in labels:
        if not label.startswith("internal:") or label == baseline:
            continue
        for kind in MASK_KINDS:
            shared = _shared_pairs(rows, label, baseline, kind)
            if shared:
                ratio = sum(b["seconds"] for _, _, b in shared) / sum(m["seconds"] for _, m, _ in shared)
                gap = statistics.fmean(m["hole_psnr"] - b["hole_psnr"] for _, m, b in shared)
                lines.append(f"| {label} | {kind} | {ratio:.1f}x | {gap:+.2f} |")
    return "\n".join(lines)


def gap_table(rows: list[dict], labels: list[str], baseline: str = "levin") -> str:
    """Per colorizer and mask kind: mean hole PSNR minus `baseline`'s over the shared pairs, and the worst pair."""
    lines = [f"| colorizer | mask | pairs | hole PSNR - {baseline} (dB) | worst pair (dB) |", "|---|---|---|---|---|"]
    for label in labels:
        if label == baseline:
            continue
        for kind in MASK_KINDS:
            gaps = {photo: m["hole_psnr"] - b["hole_psnr"] for photo, m, b in _shared_pairs(rows, label, baseline, kind)}
            if gaps:
                worst = min(gaps, key=gaps.get)
                lines.append(f"| {label} | {kind} | {len(gaps)} | {statistics.fmean(gaps.values()):+.2f} "
                             f"| {gaps[worst]:+.2f} ({worst}) |")
    return "\n".join(lines)


def pair_table(rows: list[dict], labels: list[str]) -> str:
    """Hole PSNR of every (photo, mask) pair per colorizer, as Markdown."""
    by_pair: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for row in rows:
        by_pair[(row["photo"], row["mask"])][row["colorizer"]] = row["hole_psnr"]
    lines = ["| photo | mask | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
    for (photo, kind), values in sorted(by_pair.items()):
        cells = [f"{values[c]:.2f}" if c in values else "-" for c in labels]
        lines.append(f"| {photo} | {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def baseline_table(rows: list[dict], baseline_rows: dict[str, dict], labels: list[str]) -> str:
    """Hole PSNR of each pair in an earlier results file (same row key) beside this run's, with the mean
    difference and the worst pair per colorizer and mask kind."""
    lines = ["| colorizer | mask | pairs | baseline hole PSNR | hole PSNR | difference (dB) | worst pair (dB) |",
             "|---|---|---|---|---|---|---|"]
    for label in labels:
        for kind in MASK_KINDS:
            shared = [(row, baseline_rows[row["key"]]) for row in rows
                      if row["colorizer"] == label and row["mask"] == kind and row["key"] in baseline_rows]
            if shared:
                gaps = {row["photo"]: row["hole_psnr"] - old["hole_psnr"] for row, old in shared}
                worst = min(gaps, key=gaps.get)
                lines.append(f"| {label} | {kind} | {len(shared)} | {_mean([o for _, o in shared], 'hole_psnr'):.3f} "
                             f"| {_mean([r for r, _ in shared], 'hole_psnr'):.3f} | {statistics.fmean(gaps.values()):+.3f} "
                             f"| {gaps[worst]:+.3f} ({worst}) |")
    return "\n".join(lines)


def parse_size(text: str) -> tuple[int, int]:
    height, _, width = text.partition("x")
    return int(height), int(width or height)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", nargs="+", default=list(SAMPLE_PHOTOS), choices=ALL_PHOTOS)
    parser.add_argument("--colorizers", nargs="+", default=["validated-blend", "local-linear", "internal", "internal-base", "levin", "dt", "mean"],
                        help=f"names ({', '.join(colorizer_names())}), or NAME:KEY=VALUE,... with options")
    parser.add_argument("--masks", nargs="+", default=list(MASK_KINDS), choices=MASK_KINDS)
    parser.add_argument("--preset", nargs="+", default=["fast"], choices=PRESETS,
                        help="presets of the internal colorizer (one row each; default fast)")
    parser.add_argument("--batch", type=int, default=1, help="pairs fitted at once by the internal colorizers")
    parser.add_argument("--size", type=parse_size, default=(256, 256), help="SIZE or HxW (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the masks and the internal colorizers")
    parser.add_argument("--steps", type=int, default=None, help="override Adam steps per level (internal)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/colorization.jsonl"))
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--report", action="store_true", help="only print the tables of the rows already measured")
    parser.add_argument("--against", default="levin",
                        help="the colorizer label whose hole PSNR the gap table subtracts, pair by pair (default levin)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="an earlier results file: print its hole PSNR beside this run's, pair by pair")
    args = parser.parse_args()
    unknown = [label for label in args.colorizers if label.partition(":")[0] not in colorizer_names()]
    if unknown:
        parser.error(f"unknown colorizer(s) {', '.join(unknown)}; valid names: {', '.join(colorizer_names())}")
    return args


def row_key(photo: str, kind: str, label: str, args: argparse.Namespace, batch: int) -> str:
    size = args.size[0] if args.size[0] == args.size[1] else "x".join(map(str, args.size))
    extra = [] if batch == 1 and args.device == "cpu" else [batch, args.device]
    return json.dumps([photo, kind, label, size, args.seed, args.steps, *extra])


def main() -> None:
    args = parse_args()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    done = load_done(args.results)
    pairs = [(name, kind, load_sample_photo(name, args.size), benchmark_mask(kind, ALL_PHOTOS.index(name), args.size, args.seed))
             for name in args.photos for kind in args.masks]
    labels = colorizer_labels(args)
    machine = f"{platform.machine()} {torch.get_num_threads()} threads" + (
        f", {torch.cuda.get_device_name()}" if args.device.startswith("cuda") else "")
    rows = []
    for label in labels:
        batch = args.batch if label.split(":")[0] in INTERNAL_COLORIZERS else 1
        options = colorizer_options(label, args)
        settings = resolved_settings(get_colorizer(label.split(":")[0], **options))
        keys = [row_key(p[0], p[1], label, args, batch) for p in pairs]
        check_same_settings(done, keys, label, settings, args.results)
        pending = [(p, key) for p, key in zip(pairs, keys) if key not in done]
        for start in range(0, 0 if args.report else len(pending), batch):
            chunk = pending[start:start + batch]
            measured = run_pairs(label, options, [p[2] for p, _ in chunk], [p[3] for p, _ in chunk], args.device)
            for ((photo_name, kind, _, _), key), values in zip(chunk, measured):
                row = {"key": key, "photo": photo_name, "mask": kind, "colorizer": label, "batch": batch, **values,
                       "machine": machine, "date": datetime.date.today().isoformat(),
                       **({"settings": settings} if settings is not None else {})}
                with args.results.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                done[key] = row
                print(f"{photo_name:10s} {kind:8s} {label:18s} hole PSNR {row['hole_psnr']:6.2f} dB "
                      f"PSNR {row['psnr']:6.2f} dB  {row['seconds']:7.2f} s  {row['peak_mib']:6.0f} MiB", flush=True)
        rows += [done[k] for k in keys if k in done]
    print(f"\n## {'x'.join(map(str, args.size))}, {len(args.photos)} photos, seed {args.seed}, batch {args.batch}, "
          f"{args.device}\n")
    print(summary_table(rows, labels))
    print("\n" + speedup_table(rows, labels))
    print("\n" + gap_table(rows, labels, args.against))
    print("\nHole PSNR (dB) per pair:\n")
    print(pair_table(rows, labels))
    if args.baseline is not None:
        print(f"\nAgainst {args.baseline}:\n")
        print(baseline_table(rows, load_done(args.baseline), labels))


if __name__ == "__main__":
    main()
