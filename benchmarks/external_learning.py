"""Does the external stage learn? GatedConv-mono on the embedded sample data, held-out masked L1.

Trains `ExternalInpainter` (default: gatedconv, mono bottleneck, the published losses) on the sample
training photos and, every EVAL_EVERY steps, measures the mean absolute error inside the hole of the
completed monochrome on fixed crops + fixed free-form masks of the held-out (val + test) photos.

    python benchmarks/external_learning.py --steps 200
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
import webdataset as wds
from PIL import Image

from eiip.data.sample_shards import SampleDataModule, ensure_sample_shards
from eiip.data.transforms import train_transform
from eiip.external.module import ExternalInpainter
from eiip.external.losses import masked_l1
from eiip.masks import generate_mask


def held_out_crops(root: Path, size: int, per_image: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, holes): `per_image` fixed random crops with fixed free-form holes of every val/test photo."""
    index = json.loads((root / "index.json").read_text())
    shards = [str(root / name) for split in ("val", "test") for name in index["shards"][split]]
    rng = np.random.default_rng(seed)
    images, holes = [], []
    for sample in wds.WebDataset(shards, shardshuffle=False, empty_check=False):
        data = next(v for k, v in sample.items() if k in ("png", "jpg"))
        with Image.open(io.BytesIO(data)) as photo:
            for _ in range(per_image):
                images.append(train_transform(photo, (size, size), rng, flip=False))
                holes.append(torch.from_numpy(generate_mask("freeform", size, size, rng, ratio=(0.2, 0.4)))[None])
    return torch.stack(images), torch.stack(holes).float()


class HeldOutL1(L.Callback):
    """Records the held-out hole L1 at step 0 and every `every` steps."""

    def __init__(self, images: torch.Tensor, holes: torch.Tensor, every: int) -> None:
        self.images, self.holes, self.every = images, holes, every
        self.rows: list[tuple[int, float, float]] = []
        self.started = time.perf_counter()

    def measure(self, module: ExternalInpainter, step: int) -> None:
        module.eval()
        with torch.no_grad():
            _, target = module.prepare(self.images, self.holes)
            completed = module(self.images, self.holes).clamp(0, 1)
        module.train()
        self.rows.append((step, float(masked_l1(completed, target, self.holes)), time.perf_counter() - self.started))
        print(f"step {step:4d}  held-out hole L1 {self.rows[-1][1]:.4f}", flush=True)

    def on_train_start(self, trainer: L.Trainer, pl_module: ExternalInpainter) -> None:
        self.measure(pl_module, 0)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: ExternalInpainter, *args: object) -> None:
        if trainer.global_step % self.every == 0:
            self.measure(pl_module, trainer.global_step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="gatedconv")
    parser.add_argument("--bottleneck", default="mono")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--crops-per-photo", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    L.seed_everything(args.seed, workers=True)
    root = ensure_sample_shards()
    images, holes = held_out_crops(root, args.size, per_image=args.crops_per_photo, seed=args.seed)
    losses = {"l1": 1.0, "coarse_l1": 1.0, "adv_output": 1.0}  # GatedConv's published objective
    module = ExternalInpainter(args.backbone, args.bottleneck, losses=losses,
                               discriminators={"output": {"name": args.backbone, "adversarial": "hinge"}},
                               optimizer={"lr": 1e-4, "betas": (0.5, 0.999)})
    data = SampleDataModule(str(root), train_size=(args.size, args.size), test_size=(args.size, args.size),
                            batch_size=args.batch, num_workers=0, seed=args.seed)
    probe = HeldOutL1(images, holes, args.eval_every)
    trainer = L.Trainer(accelerator="cpu", max_steps=args.steps, logger=False, enable_checkpointing=False,
                        limit_val_batches=0, callbacks=[probe], enable_progress_bar=False)
    trainer.fit(module, datamodule=data)
    print(f"\n## {args.backbone}-{args.bottleneck}, {args.size}x{args.size} batch {args.batch}, "
          f"{len(images)} held-out crops, {platform.machine()} {torch.get_num_threads()} threads\n")
    print("| step | held-out hole L1 | wall s |\n|---|---|---|")
    for step, value, seconds in probe.rows:
        print(f"| {step} | {value:.4f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
