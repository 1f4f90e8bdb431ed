"""Evaluation throughput: images per second of the whole `eval.py` run, in 1 or more processes, on CPU and GPU.

A test split of N real photos (the bundled photos, flipped and zoomed into N distinct images) is
written at each size as WebDataset shards (`eiip.data.shards.write_shards`, the writer behind
`eiip shard`), with its free-form mask set, into a cache folder (reused by later runs). Then the
public command is run as a subprocess, once per setting, in a fresh run directory:

    python eval.py backbone=telea colorizer=validated_blend data=sample data.root=SHARDS data.test_size=[H,W]
        mask_set=MASKS max_images=N workers=W device=DEVICE colorizer.batch_size=B logger=csv
        save_images=false metrics.lpips=alex|null metrics.fid=false hydra.run.dir=RUN

(LPIPS is on when its ImageNet backbone is in the torch.hub cache, else off: `--lpips` overrides.)
Per run we report the wall seconds of the whole process (start-up, imports, setup, the loop, the
summary), images/s = N / wall seconds, and the scaling efficiency = images/s with W processes /
(W x images/s with 1 process) at the same size, device and batch. `loop s` is the loop's own time:
from the run's settings record (written once rank 0's setup is done) to the merged results.csv
(after every rank's last image and the merge), so it leaves out start-up and rank 0's setup (with
W > 1 it holds the other ranks' setup, which starts then, and the process group's wait); `stage s/img` is
the mean per-image time of the two stages (external + colorizer) that eval.py records, without
data loading and metrics.

    python benchmarks/eval_throughput.py                               # 16 images, 256x256 and 512x640, 1 and 2 processes
    python benchmarks/eval_throughput.py --images 4 --sizes 64x64      # a quick check (about a minute on 2 cores)
    python benchmarks/eval_throughput.py --devices cuda --batch-sizes 1 8 32 --images 64
    python benchmarks/eval_throughput.py --json benchmarks/results/eval_throughput.jsonl

Devices: by default cpu, plus cuda when torch sees a GPU. On CUDA, W processes need W GPUs (process
r uses cuda:r): settings with more processes than GPUs are skipped. On CPU each of W processes gets
(CPUs / W) torch threads (eval.py's own rule); the single-process run uses torch's default.
`--batch-sizes` are the colorizer batch sizes of the CUDA runs; CPU runs use `--cpu-batch-sizes`
(default 4, the colorizer config's default).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from eiip.data.sample_shards import default_sample_root
from eiip.data.samples import ALL_PHOTOS, load_sample_photo
from eiip.data.shards import INDEX_NAME, read_shard_index, write_shards
from eiip.evaluation.data import load_or_create_mask_set
from eiip.evaluation.results import RESULTS_NAME, SETTINGS_NAME
from eiip.io import write_image
from eiip.metrics.lpips import LPIPS_NETS
from eiip.pretrained import pretrained_available

REPO = Path(__file__).resolve().parent.parent
MASK_KIND = "freeform"  # conf/masks/freeform.yaml: the evaluation default (ratio null)
SEED = 0


def parse_size(text: str) -> tuple[int, int]:
    height, _, width = text.partition("x")
    return int(height), int(width or height)


def size_label(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def variant_image(index: int, size: tuple[int, int]) -> torch.Tensor:
    """Image `index` of the benchmark split: a bundled photo, flipped and zoomed so that every index differs.

    Index i uses photo i mod 10; its variant k = i div 10 picks a flip (none, left-right, up-down,
    both: k mod 4) and a zoom of 1 + k div 4 quarters (the photo resized larger, then the crop at its center).
    """
    name = ALL_PHOTOS[index % len(ALL_PHOTOS)]
    variant = index // len(ALL_PHOTOS)
    zoom = 1.0 + 0.25 * (variant // 4)
    height, width = size
    big = load_sample_photo(name, (round(height * zoom), round(width * zoom)))
    top, left = (big.shape[1] - height) // 2, (big.shape[2] - width) // 2
    image = big[:, top:top + height, left:left + width]
    flips = [dims for bit, dims in ((1, [2]), (2, [1])) if variant % 4 & bit]
    for dims in flips:
        image = torch.flip(image, dims)
    return image


def prepare_split(cache: Path, size: tuple[int, int], count: int) -> tuple[Path, Path]:
    """(shard folder, mask set folder) of `count` test images at `size`, written unless already there."""
    root = cache / f"photos_{size_label(size)}_n{count}"
    if not (root / INDEX_NAME).is_file():
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root) as images:
            for index in range(count):
                write_image(Path(images) / f"{index:06d}.png", variant_image(index, size))
            write_shards(images, root, shard_size=1000, split=(0.0, 0.0, 1.0), seed=SEED, progress=False)
    counted = read_shard_index(root)["counts"]["test"]
    if counted != count:
        raise SystemExit(f"error: {root} holds {counted} test images, expected {count}; remove it")
    # the mask set eval.py would generate itself (same name, under $EIIP_CACHE/mask-sets), made before the timing
    _, masks = load_or_create_mask_set(None, kind=MASK_KIND, size=size, count=count, seed=SEED, ratio=None)
    return root, masks


def loop_seconds(run_dir: Path) -> float:
    """From the settings record (rank 0's setup done) to the merged results.csv (every rank done, merged)."""
    return (run_dir / RESULTS_NAME).stat().st_mtime - (run_dir / SETTINGS_NAME).stat().st_mtime


def stage_seconds(run_dir: Path) -> float:
    """The mean per-image seconds of the two stages recorded in results.csv."""
    with (run_dir / RESULTS_NAME).open() as handle:
        return statistics.fmean(float(row["seconds"]) for row in csv.DictReader(handle))


def run_eval(run_dir: Path, shards: Path, masks: Path, size: tuple[int, int], count: int, device: str,
             workers: int, batch: int, lpips: str) -> dict:
    """One `eval.py` run as a subprocess; its wall seconds and the loop's own times."""
    command = [sys.executable, str(REPO / "eval.py"), "backbone=telea", "colorizer=validated_blend",
               "data=sample", f"data.root={shards}", f"data.test_size=[{size[0]},{size[1]}]", f"mask_set={masks}",
               f"max_images={count}", f"workers={workers}", f"device={device}", f"colorizer.batch_size={batch}",
               "logger=csv", "save_images=false", "progress=false", f"metrics.lpips={lpips}", "metrics.fid=false",
               f"hydra.run.dir={run_dir}"]
    environment = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"error: eval.py failed (exit {done.returncode}):\n  {' '.join(command)}\n"
                         + "\n".join(done.stdout.splitlines()[-30:]))
    return {"wall_s": wall, "loop_s": loop_seconds(run_dir), "stage_s_per_image": stage_seconds(run_dir)}


def settings(args: argparse.Namespace) -> list[tuple[str, int, int]]:
    """(device, workers, batch) of every run, skipping CUDA runs with more processes than GPUs."""
    runs = []
    for device in args.devices:
        gpus = torch.cuda.device_count() if device == "cuda" else None
        for workers in args.workers:
            if gpus is not None and workers > gpus:
                print(f"skipping cuda with {workers} processes: {gpus} GPU(s) visible", file=sys.stderr)
                continue
            for batch in (args.batch_sizes if device == "cuda" else args.cpu_batch_sizes):
                runs.append((device, workers, batch))
    return runs


def with_efficiency(rows: list[dict]) -> list[dict]:
    """Scaling efficiency of each row against the 1-process row of the same size, device and batch."""
    single = {(r["size"], r["device"], r["batch"]): r for r in rows if r["workers"] == 1}
    for row in rows:
        base = single.get((row["size"], row["device"], row["batch"]))
        for rate, efficiency in (("images_per_s", "efficiency"), ("loop_images_per_s", "loop_efficiency")):
            row[efficiency] = row[rate] / (row["workers"] * base[rate]) if base else None
    return rows


def _fraction(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def table(rows: list[dict]) -> str:
    lines = ["| size | device | workers | batch | images | wall s | images/s | efficiency "
             "| loop s | loop images/s | loop efficiency | stage s/img |",
             "|---" * 12 + "|"]
    for r in rows:
        lines.append(f"| {r['size']} | {r['device']} | {r['workers']} | {r['batch']} | {r['images']} "
                     f"| {r['wall_s']:.1f} | {r['images_per_s']:.3f} | {_fraction(r['efficiency'])} "
                     f"| {r['loop_s']:.1f} | {r['loop_images_per_s']:.3f} | {_fraction(r['loop_efficiency'])} "
                     f"| {r['stage_s_per_image']:.3f} |")
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(devices: list[str]) -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = (", GPU " + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
           if "cuda" in devices else ", no GPU" if not torch.cuda.is_available() else "")
    return (f"Machine: {cpus} CPUs ({cpu_model()}, {platform.machine()}), torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads{gpu}, Python {platform.python_version()}; "
            f"date {datetime.datetime.now().isoformat(timespec='minutes')}")


def default_lpips() -> str:
    return "alex" if pretrained_available(LPIPS_NETS["alex"]) else "null"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=16, help="test images per size (default 16)")
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(256, 256), (512, 640)],
                        help="HxW (or SIZE) of the test images (default 256x256 512x640)")
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2],
                        help="numbers of eval processes (eval.py workers=W; default 1 2)")
    parser.add_argument("--devices", nargs="+", choices=["cpu", "cuda"], default=None,
                        help="default: cpu, plus cuda when torch sees a GPU")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8, 32],
                        help="colorizer batch sizes of the CUDA runs (default 1 8 32)")
    parser.add_argument("--cpu-batch-sizes", nargs="+", type=int, default=[4],
                        help="colorizer batch sizes of the CPU runs (default 4)")
    parser.add_argument("--lpips", default=None, choices=["alex", "vgg", "squeeze", "null"],
                        help="metrics.lpips (default: alex when its ImageNet weights are in the torch.hub cache, "
                             "else null)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="where the test shards are written and reused (default $EIIP_CACHE/eval-throughput)")
    parser.add_argument("--runs", type=Path, default=None,
                        help="keep the run directories here (default: a temporary folder, removed at the end)")
    parser.add_argument("--json", type=Path, default=None, help="append the rows to this JSONL file")
    args = parser.parse_args()
    if args.devices is None:
        args.devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if "cuda" in args.devices and not torch.cuda.is_available():
        parser.error("--devices cuda: torch sees no GPU")
    if args.images < 1 or min(args.workers) < 1:
        parser.error("--images and --workers must be positive")
    args.lpips = args.lpips or default_lpips()
    args.cache = args.cache or default_sample_root().parent / "eval-throughput"
    return args


def main() -> None:
    args = parse_args()
    machine = machine_line(args.devices)
    runs = settings(args)
    rows = []
    with tempfile.TemporaryDirectory(prefix="eval-throughput-") as temporary:
        run_root = args.runs or Path(temporary)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        for size in args.sizes:
            shards, masks = prepare_split(args.cache, size, args.images)
            for device, workers, batch in runs:
                name = f"{stamp}_{size_label(size)}_{device}_w{workers}_b{batch}"
                measured = run_eval(run_root / name, shards, masks, size, args.images, device, workers, batch,
                                    args.lpips)
                row = {"size": size_label(size), "device": device, "workers": workers, "batch": batch,
                       "images": args.images, **measured, "images_per_s": args.images / measured["wall_s"],
                       "loop_images_per_s": args.images / max(measured["loop_s"], 1e-9), "lpips": args.lpips,
                       "machine": machine}
                rows.append(row)
                print(f"{row['size']:>9} {device:4} workers {workers} batch {batch:2d}: {measured['wall_s']:7.1f} s wall, "
                      f"{row['images_per_s']:.3f} images/s; loop {measured['loop_s']:.1f} s", flush=True)
    with_efficiency(rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with args.json.open("a") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
    print(f"\n## eval.py throughput: backbone=telea, colorizer=validated_blend, masks={MASK_KIND}, "
          f"metrics.lpips={args.lpips}, {args.images} images\n")
    print(table(rows))
    print(f"\n{machine}")


if __name__ == "__main__":
    main()
