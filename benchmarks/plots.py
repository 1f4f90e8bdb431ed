"""The benchmark plots, drawn from the results files in benchmarks/results/ (no number typed by hand).

    python benchmarks/plots.py                 # writes docs/images/plots/*.png and sources.json

Each PNG is recorded in ``sources.json`` with the SHA-256 of the results file(s) and of this script that made
it; a test checks that the record matches today's files (a plot older than its results fails) and that every
plot embedded in the docs exists. Needs matplotlib (the [test] extra).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUT = ROOT / "docs" / "images" / "plots"
RECORD = "sources.json"
MASK_MARKERS = {"rect": "s", "freeform": "o"}


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (RESULTS / name).read_text().splitlines() if line.strip()]


def _pair(row: dict) -> tuple:
    """The photo, mask and seed of a colorization row (its key without the colorizer)."""
    key = json.loads(row["key"])
    return (key[0], key[1], *key[3:])


BLEND_WITH_KNN = 'validated-blend:candidates=["levin","local-linear","knn"],shrink_last=0.5'
"""The label of validated-blend with knn as a third candidate (its weights half from the fit without it) in
benchmarks/results/colorization.jsonl."""


def colorizers_against_levin(axes_grid: Callable) -> Any:
    """Hole PSNR of each colorizer against Levin's, pair by pair (points above the diagonal beat Levin)."""
    rows = [row for row in _rows("colorization.jsonl") if json.loads(row["key"])[3:5] == [256, 0]]  # reported pairs
    levin = {_pair(row): row["hole_psnr"] for row in rows if row["colorizer"] == "levin"}
    titles = {"validated-blend": "validated-blend", BLEND_WITH_KNN: "validated-blend + knn, shrink 0.5", "knn": "knn",
              "local-linear": "local-linear", "dt": "dt", "internal:reference": "internal:reference",
              "internal:fast": "internal:fast", "mean": "mean"}
    figure, axes = axes_grid(2, 4, (14, 7))
    for ax, (name, title) in zip(axes.flat, titles.items()):
        points = [(levin[_pair(row)], row["hole_psnr"], row["mask"]) for row in rows
                  if row["colorizer"] == name and _pair(row) in levin]
        for mask, marker in MASK_MARKERS.items():
            xs = [x for x, _, m in points if m == mask]
            ys = [y for _, y, m in points if m == mask]
            ax.scatter(xs, ys, marker=marker, s=22, label=f"{mask} ({len(xs)})")
        low = min(min(p[0], p[1]) for p in points) - 1
        high = max(max(p[0], p[1]) for p in points) + 1
        ax.plot([low, high], [low, high], color="grey", linewidth=0.8)
        ax.set(title=title, xlabel="levin hole PSNR (dB)", ylabel=f"{title} (dB)", xlim=(low, high), ylim=(low, high))
        ax.legend(fontsize=7, loc="upper left")
    figure.suptitle("Hole PSNR against Levin, pair by pair (256x256, mask seed 0, benchmarks/colorization.py)")
    return figure


def time_against_size(axes_grid: Callable) -> Any:
    """Seconds per command against the photo's pixels, fixed hole (log-log)."""
    rows = [row for row in _rows("resolution.jsonl") if not row.get("example")]
    figure, axes = axes_grid(1, 1, (7, 6))
    for label in dict.fromkeys(row["label"] for row in rows):
        points = sorted((_pixels(row["size"]), row["seconds"]) for row in rows if row["label"] == label)
        axes.plot(*zip(*points), marker="o", label=f"eiip {label}")
    axes.set(xscale="log", yscale="log", xlabel="photo pixels (same hole)", ylabel="seconds",
             title="Time per image as the photo grows (benchmarks/resolution.py)")
    axes.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    return figure


def internal_presets(axes_grid: Callable) -> Any:
    """The internal stage's `fast` and `reference` presets per pair: seconds and hole PSNR."""
    rows = _rows("colorization.jsonl")
    presets = {"internal:reference": "reference", "internal:fast": "fast"}
    by_preset = {name: {_pair(row): row for row in rows if row["colorizer"] == name} for name in presets}
    pairs = sorted(set.intersection(*(set(rows_) for rows_ in by_preset.values())), key=str)
    figure, axes = axes_grid(1, 1, (7, 5))
    for pair in pairs:
        ends = [by_preset[name][pair] for name in presets]
        axes.plot([row["seconds"] for row in ends], [row["hole_psnr"] for row in ends], color="lightgrey", zorder=1)
    for name, label in presets.items():
        for mask, marker in MASK_MARKERS.items():
            chosen = [by_preset[name][pair] for pair in pairs if pair[1] == mask]
            axes.scatter([row["seconds"] for row in chosen], [row["hole_psnr"] for row in chosen], marker=marker,
                         label=f"{label}, {mask}", zorder=2)
    axes.set(xscale="log", xlabel="seconds per image (256x256)", ylabel="hole PSNR (dB)",
             title="Internal stage: fast against reference, pair by pair")
    axes.legend(fontsize=8)
    return figure


def eval_throughput(axes_grid: Callable) -> Any:
    """Images per second of a whole `eval.py` run and of its loop, against the number of processes."""
    rows = _rows("eval-throughput.jsonl")
    figure, axes = axes_grid(1, 1, (7, 5))
    for (size, device), style in zip(dict.fromkeys((row["size"], row["device"]) for row in rows), "os^v"):
        chosen = sorted((row for row in rows if (row["size"], row["device"]) == (size, device)),
                        key=lambda row: row["workers"])
        workers = [row["workers"] for row in chosen]
        axes.plot(workers, [row["images_per_s"] for row in chosen], marker=style, label=f"{size} {device}, whole run")
        axes.plot(workers, [row["loop_images_per_s"] for row in chosen], marker=style, linestyle="--",
                  label=f"{size} {device}, loop only")
    axes.set(xlabel="processes", ylabel="images / s", xticks=sorted({row["workers"] for row in rows}),
             title="eval.py throughput, telea + validated-blend, 2 CPU cores")
    axes.legend(fontsize=8)
    return figure


def _pixels(size: str) -> int:
    width, height = map(int, size.split("x"))
    return width * height


PLOTS: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "colorizers-vs-levin.png": (colorizers_against_levin, ("colorization.jsonl",)),
    "time-vs-size.png": (time_against_size, ("resolution.jsonl",)),
    "internal-fast-vs-reference.png": (internal_presets, ("colorization.jsonl",)),
    "eval-throughput.png": (eval_throughput, ("eval-throughput.jsonl",)),
}
"""Each plot's file name, how it is drawn, and the results files it reads."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_record() -> dict[str, dict[str, str]]:
    """For each plot, the hashes of this script and of the results files it reads, as they are now."""
    script = sha256(Path(__file__))
    return {name: {"benchmarks/plots.py": script, **{f"benchmarks/results/{source}": sha256(RESULTS / source)
                                                     for source in sources}}
            for name, (_, sources) in PLOTS.items()}


def draw(out: Path) -> list[Path]:
    """Draw every plot into ``out`` and write its record; returns the PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def axes_grid(rows: int, cols: int, size: tuple[float, float]):  # noqa: ANN202
        return plt.subplots(rows, cols, figsize=size, layout="constrained")

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (plot, _) in PLOTS.items():
        figure = plot(axes_grid)
        figure.savefig(out / name, dpi=90, metadata={"Software": None})
        plt.close(figure)
        written.append(out / name)
    (out / RECORD).write_text(json.dumps(expected_record(), indent=1, sort_keys=True) + "\n")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder of the PNGs (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args()
    for path in draw(args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
