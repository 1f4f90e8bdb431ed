"""EdgeConnect training steps/s with the Canny edges in the loader workers vs in the training step.

Alternates, in one process, `trainer.fit` runs of EdgeConnect (mono, its first stage, no ImageNet
losses) on the sample data with `edges_sigma` set (train.py's default: edges from the loader
workers) and unset (the step calls `EdgeConnect.training_inputs`); prints the steps/s of every run
after `--warmup` steps and the medians.

    python benchmarks/edge_steps.py --steps 12 --reps 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import lightning as L
import torch
from hydra import compose, initialize_config_dir

from eiip.data.sample_shards import ensure_sample_shards
from eiip.external.edges import image_edges
from eiip.external.training import build_datamodule, build_model
from step_timer import StepTimer

ROOT = Path(__file__).resolve().parents[1]


def steps_per_second(overrides: list[str], loader_edges: bool, steps: int, warmup: int, work: Path) -> float:
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides + [f"trainer.max_steps={steps}"])
    L.seed_everything(cfg.seed, workers=True)
    data = build_datamodule(cfg)
    if not loader_edges:
        data.edges_sigma = None
    timer = StepTimer(warmup)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        callbacks=[timer], default_root_dir=str(work))
    trainer.fit(build_model(cfg), datamodule=data)
    return timer.steps_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with TemporaryDirectory() as work:
        shards = ensure_sample_shards(Path(work) / "shards")
        overrides = ["backbone=edgeconnect", "bottleneck=mono", "pretrained_losses=false", f"data.root={shards}",
                     f"data.train_size=[{args.size},{args.size}]", f"data.batch_size={args.batch_size}",
                     f"data.num_workers={args.workers}"]
        batch = torch.rand(args.batch_size, 1, args.size, args.size)
        image_edges(batch)
        start = time.perf_counter()
        for _ in range(10):
            image_edges(batch)
        print(f"Canny of one {args.batch_size}x{args.size}x{args.size} batch: "
              f"{(time.perf_counter() - start) / 10 * 1e3:.1f} ms")
        results: dict[str, list[float]] = {"step canny (before)": [], "loader canny (after)": []}
        for rep in range(args.reps):
            for name, loader_edges in zip(results, (False, True)):
                rate = steps_per_second(overrides, loader_edges, args.steps, args.warmup, Path(work))
                results[name].append(rate)
                print(f"rep {rep}: {name}: {rate:.3f} steps/s", flush=True)
    for name, rates in results.items():
        print(f"{name}: median {statistics.median(rates):.3f} steps/s over {len(rates)} runs")


if __name__ == "__main__":
    main()
