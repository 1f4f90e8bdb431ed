"""Wall time and peak memory of `eiip colorize` and `eiip inpaint --ckpt` as the photo grows and the hole stays.

The bundled `coffee` photo is upscaled to each size (1000x750 ... 8000x6000) and saved as JPEG (quality 95,
as a camera writes it); the hole is the same in pixels at every size, at the image centre: an ellipse of
240x180 and a 12 px stroke 300 px long (5 % of 1000x750, 0.08 % of 8000x6000). Each run is one process
running the command as the CLI does (`eiip.cli.main`), timed from after its imports (start-up excluded;
reading and writing the images included), its peak resident memory from Linux's VmHWM. Outputs are
JPEG too (`--out result.jpg`). Checkpoints hold random weights (timing only), one per backbone, mono;
`telea` is the learning-free OpenCV stage. `inpaint` colorizes with its default, validated-blend.

    python benchmarks/resolution.py                        # every row, 4 sizes: about 15 min on 2 cores
    python benchmarks/resolution.py --sizes 1000x750 4000x3000 --colorizers levin --backbones gatedconv
    python benchmarks/resolution.py --example              # a 12 MP photo with a 4.8 % hole, default settings

Rows go to benchmarks/results/resolution.jsonl (replaced per row key); the table gives each row's time and
peak memory and their ratios to the smallest size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "resolution.jsonl"
SIZES = ("1000x750", "2000x1500", "4000x3000", "8000x6000")
COLORIZERS = ("levin", "local-linear", "validated-blend", "dt", "mean")
BACKBONES = ("gatedconv", "edgeconnect", "hifill", "gmcnn", "telea")
CLASSICAL_METHODS = ("telea", "ns")
PHOTO = "coffee"


def _child(argv: list[str]) -> None:
    """Run `eiip ARGV` after importing everything it uses; print {"seconds", "peak", "start"} as JSON."""
    import time

    import eiip.colorize  # noqa: F401  (imports: start-up is not timed)
    import eiip.external.module  # noqa: F401
    import eiip.pipeline  # noqa: F401
    from eiip.cli import main

    def status(key: str) -> int:
        line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(key))
        return int(line.split()[1]) * 1024

    start = status("VmRSS:")
    began = time.perf_counter()
    code = main(argv)
    seconds = time.perf_counter() - began
    print(json.dumps({"code": code, "seconds": seconds, "peak": status("VmHWM:"), "start": start}))


def _hole(height: int, width: int, example: bool):
    """(H, W) bool hole: the fixed ellipse and stroke at the centre, or the larger ones of --example (an 800x600
    ellipse, a 60 px stroke)."""
    import numpy as np
    from PIL import Image, ImageDraw

    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    cy, cx = height // 2, width // 2
    (ry, rx), (length, stroke) = ((300, 400), (1400, 60)) if example else ((90, 120), (300, 12))
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
    draw.line([(cx + rx + 40, cy - ry), (cx + rx + 40 + length // 2, cy - ry + length // 2)], fill=255, width=stroke)
    return np.asarray(mask) > 127


def _inputs(root: Path, size: str, example: bool) -> tuple[Path, Path]:
    """The photo (JPEG) and its mask (PNG) at `size`, written once under root."""
    image_path, mask_path = root / f"photo-{size}.jpg", root / f"mask-{size}{'-example' if example else ''}.png"
    height, width = (int(side) for side in reversed(size.split("x")))
    if not image_path.exists():
        from PIL import Image

        from eiip.data.samples import center_crop_resize, load_photo_array

        Image.fromarray(center_crop_resize(load_photo_array(PHOTO), (height, width))).save(image_path, quality=95)
    if not mask_path.exists():
        from PIL import Image

        Image.fromarray(_hole(height, width, example).astype("uint8") * 255).save(mask_path)
    return image_path, mask_path


def _checkpoint(root: Path, backbone: str) -> Path:
    """A random-weight mono checkpoint of `backbone` (train.yaml's settings), written once under root."""
    path = root / f"{backbone}.ckpt"
    if not path.exists():
        import torch
        from hydra import compose, initialize_config_dir
        from omegaconf import OmegaConf

        from eiip.external.training import build_model

        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose(config_name="train", overrides=[f"backbone={backbone}", "bottleneck=mono"])
        torch.manual_seed(0)
        model = build_model(cfg)
        torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, path)
    return path


def _measure(argv: list[str]) -> dict:
    """One child process running `eiip ARGV`; its JSON line."""
    done = subprocess.run([sys.executable, __file__, "--child", *argv], capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines or json.loads(lines[-1])["code"]:
        raise RuntimeError(f"eiip {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1])


def _rows(args: argparse.Namespace, root: Path) -> list[dict]:
    runs = []
    for size in args.sizes:
        image, mask = _inputs(root, size, args.example)
        out = ["--out", str(root / "result.jpg"), "--quiet"]
        for colorizer in args.colorizers:
            runs.append((f"colorize {colorizer}", size,
                         ["colorize", "--image", str(image), "--mask", str(mask), "--colorizer", colorizer, *out]))
        for backbone in args.backbones:
            learned = backbone not in CLASSICAL_METHODS
            stage = ["--ckpt", str(_checkpoint(root, backbone))] if learned else ["--backbone", backbone]
            label = f"inpaint --ckpt {backbone}" if learned else f"inpaint --backbone {backbone}"
            runs.append((label, size, ["inpaint", "--image", str(image), "--mask", str(mask), *stage, *out]))
    rows = []
    for label, size, argv in runs:
        measured = _measure(argv)
        row = {"key": f"{label}|{size}|{'example' if args.example else 'fixed'}", "label": label, "size": size,
               "example": args.example, **{k: measured[k] for k in ("seconds", "peak", "start")}}
        print(f"{label:32s} {size:>10s} {row['seconds']:8.2f} s {row['peak'] / 2**20:8.0f} MiB", flush=True)
        rows.append(row)
    return rows


def _save(rows: list[dict]) -> None:
    done = {}
    if RESULTS.exists():
        done = {row["key"]: row for row in map(json.loads, RESULTS.read_text().splitlines())}
    done.update({row["key"]: row for row in rows})
    RESULTS.write_text("".join(json.dumps(row) + "\n" for row in done.values()))


def table(rows: list[dict]) -> str:
    """Markdown: per row and size, time and peak memory, and their ratios to the row's smallest size."""
    sizes = sorted({row["size"] for row in rows}, key=lambda size: int(size.split("x")[0]))
    lines = ["| command | " + " | ".join(f"{size}: s / MiB" for size in sizes) + " | time, memory vs "
             f"{sizes[0]} at {sizes[-2] if len(sizes) > 2 else sizes[-1]} |",
             "|---|" + "---|" * (len(sizes) + 1)]
    for label in dict.fromkeys(row["label"] for row in rows):
        by_size = {row["size"]: row for row in rows if row["label"] == label}
        cells = [f"{by_size[s]['seconds']:.2f} / {by_size[s]['peak'] / 2**20:.0f}" if s in by_size else "-" for s in sizes]
        first, target = by_size.get(sizes[0]), by_size.get(sizes[-2] if len(sizes) > 2 else sizes[-1])
        ratio = (f"{target['seconds'] / first['seconds']:.2f}x, {target['peak'] / first['peak']:.2f}x"
                 if first and target else "-")
        lines.append(f"| `eiip {label}` | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES))
    parser.add_argument("--colorizers", nargs="*", default=list(COLORIZERS))
    parser.add_argument("--backbones", nargs="*", default=list(BACKBONES))
    parser.add_argument("--example", action="store_true",
                        help="a 12 MP photo instead: 4000x3000, an 800x600 ellipse and a 60 px stroke (4.8 %%)")
    parser.add_argument("--work-dir", default=None, help="where inputs and checkpoints are kept (default: a temp dir)")
    parser.add_argument("--no-save", action="store_true", help="do not write the results file")
    args = parser.parse_args()
    if args.example and args.sizes == list(SIZES):
        args.sizes = ["4000x3000"]
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(args.work_dir or temporary)
        root.mkdir(parents=True, exist_ok=True)
        rows = _rows(args, root)
    if not args.no_save:
        _save(rows)
    print(table(rows))


if __name__ == "__main__":
    main()
