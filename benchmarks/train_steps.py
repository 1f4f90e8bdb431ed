"""CPU training steps/s of `python train.py` per backbone, this tree against another git revision, in one run.

Each run is one process running a revision's own `train.py` (its Hydra config, data module, model,
logger and callbacks) in that revision's tree (exported with `git archive`); the two revisions
alternate run by run, so both see the same machine. The table gives the median steps/s of each
revision and the ratio of the medians.

How steps/s is measured: the worker appends one Lightning callback to the revision's own
`build_callbacks` (`StepTimer`, benchmarks/step_timer.py) and then runs its `train.py` unchanged; the
clock starts at the end of step `--warmup` and stops at the end of the last step, so imports, config
composition, writing the sample shards, building the model, the first (slowest) steps and anything
after the last step are left out, and only the training loop is timed. (Timing two whole `train.py`
runs with different `max_steps` and taking the difference would exclude the same start-up, but at
twice the runs and with the start-up noise of two processes in the difference.) A step is one
generator step (`trainer.global_step`) in both trees; the discriminator steps taken for it belong to
each tree's recipe (the newer configs' `critic_steps`: HiFill 3, GMCNN 5 in its adversarial phase, 1
otherwise) and are in its time; they are counted too (an optimizer step hook) and shown per generator
step. The worker also reports which eiip it imported, and the run stops if that is not the tree's own
(an editable install of another checkout would otherwise serve modules missing from an old tree).

Comparable work in both trees: the bundled sample data (`data=sample`, its shards written once per
revision into the scratch folder), `--size` crops, `data.batch_size=--batch-size` given explicitly
(the newer shard data configs take the backbone's release batch size), the ImageNet-weight losses
(perceptual, style, ID-MRF) off (`pretrained_losses=false` where the tree has it, otherwise those
terms' weights set to 0 in `backbone.losses` and in every stage, as that tree's README says), no
validation, no checkpoint before the end, CSV logger, no progress bar, W&B offline in a temporary
folder. `--stage first` times the stage train.py starts in; `--stage last` sets every earlier stage
to 0 steps (`backbone.stages.N.steps=0`, accepted by both trees), e.g. GMCNN's adversarial phase after
its 40000 reconstruction-only steps, EdgeConnect's last model (model 3, the inpainting model on the
fixed edge model's edges, in trees after 2813ddb; the joint model 4 up to 2813ddb; backbones without
stages: one row, stage "only"). `--precision` sets `trainer.precision` in both trees (e.g. `32-true bf16-mixed`: a row each;
CPU bf16 autocast where the CPU has no bf16 units is emulated, and slow). The exact train.py
overrides of each revision are printed with the table, and what a revision cannot express (28bc291:
no pretrained_losses switch, no critic_steps) in the notes.

The defaults (4 backbones, mono, 64x64, batch 4, 1 warm-up + 4 timed steps, 3 runs, vs 28bc291) took
340 s on 2 otherwise idle CPU cores (24 processes, most of it untimed start-up).

    python benchmarks/train_steps.py
    python benchmarks/train_steps.py --stage last --backbones edgeconnect gmcnn   # adversarial phases
    python benchmarks/train_steps.py --stage first last --bottlenecks mono rgb
    python benchmarks/train_steps.py --baseline-rev 2813ddb --stage first last --precision 32-true bf16-mixed
    python benchmarks/train_steps.py --size 32 --steps 3 --warmup 1 --runs 1 --backbones gatedconv gmcnn
    python benchmarks/train_steps.py --baseline-rev none --trainer gpu --size 256 --batch-size 16 --workers 8 \
        --warmup 5 --steps 20 --runs 1                                           # GPU: 256x256, batch 16, bf16
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import os
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from revisions import THIS_TREE, alternating, trees

BACKBONES = ["gatedconv", "edgeconnect", "hifill", "gmcnn"]
TRAINER_PRECISION = "default"  # --precision: trainer.precision as the trainer config sets it
PRETRAINED_TERMS = ("perceptual", "style", "id_mrf")  # need VGG19 ImageNet weights (absent here)
NOT_TERMS = {"train/loss", "train/g_loss", "train/d_loss"}


# ------------------------------------------------------------------ worker (inside a revision's tree)
def worker(overrides: list[str], warmup: int, threads: int | None) -> None:
    """Run this process's tree's train.py with `overrides`, the step timer added; print one JSON line."""
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    from step_timer import StepTimer

    if threads:
        torch.set_num_threads(threads)
    tree = Path.cwd()
    optimizer_steps = [0]
    register_optimizer_step_post_hook(lambda *_: optimizer_steps.__setitem__(0, optimizer_steps[0] + 1))

    class Timer(StepTimer):
        """StepTimer that also keeps its trainer and counts the optimizer steps (generator and
        discriminators) in the timed steps."""

        trainer, counted = None, (0, 0)

        def on_train_batch_end(self, trainer, *args: object) -> None:
            super().on_train_batch_end(trainer, *args)
            self.trainer = trainer
            if trainer.global_step == self.warmup:
                self.counted = (optimizer_steps[0], optimizer_steps[0])
            elif trainer.global_step > self.warmup:
                self.counted = (self.counted[0], optimizer_steps[0])

    timer = Timer(warmup)
    # the tree's own training module: eiip/external/training.py, or eiip/training.py before the eiip/external package
    name = "eiip.external.training" if (tree / "eiip" / "external" / "training.py").is_file() else "eiip.training"
    training = importlib.import_module(name)
    build_callbacks = training.build_callbacks
    training.build_callbacks = lambda cfg, run_dir: [*build_callbacks(cfg, run_dir), timer]
    sys.argv = [str(tree / "train.py"), *overrides]
    try:
        runpy.run_path(str(tree / "train.py"), run_name="__main__")
    except SystemExit as stop:
        if stop.code:
            raise
    trainer = timer.trainer
    terms = sorted(key.removeprefix("train/") for key in trainer.callback_metrics
                   if key.startswith("train/") and key not in NOT_TERMS)
    print(json.dumps({"steps_per_second": timer.steps_per_second, "timed_steps": timer.steps,
                      "global_step": trainer.global_step, "seconds": timer.end - timer.start,
                      "optimizer_steps": timer.counted[1] - timer.counted[0], "terms": terms,
                      "loss": float(trainer.callback_metrics["train/loss"]),
                      "eiip": str(Path(training.__file__).resolve())}))


# ------------------------------------------------------------------ the comparison
class TreeConfig(NamedTuple):
    """What the benchmark needs of one backbone's config in one tree."""

    stages: int                     # number of stages (0: no stages)
    pretrained_switch: bool         # train.py takes pretrained_losses=false
    critic_steps: int | None        # discriminator steps per generator step; None: no such setting (one)
    zero_pretrained: list[str]      # overrides setting the ImageNet terms' weights to 0, everywhere


def tree_config(tree: Path, backbone: str) -> TreeConfig:
    """`backbone`'s config as `tree`'s conf/ composes it."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(tree / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"backbone={backbone}"])
    config = OmegaConf.to_container(cfg.backbone, resolve=False)
    stages = config.get("stages") or []
    zero = [f"backbone.losses.{term}=0" for term, weight in (config.get("losses") or {}).items()
            if term in PRETRAINED_TERMS and weight]
    zero += [f"backbone.stages.{index}.losses.{term}=0" for index, stage in enumerate(stages)
             for term, weight in stage["losses"].items() if term in PRETRAINED_TERMS and weight]
    return TreeConfig(len(stages), "pretrained_losses" in cfg, config.get("critic_steps"), zero)


def train_overrides(config: TreeConfig, backbone: str, bottleneck: str, stage: str, precision: str,
                    args: argparse.Namespace, data_root: Path) -> list[str]:
    """The train.py overrides of one configuration in a tree (without the per-run hydra.run.dir)."""
    overrides = [f"backbone={backbone}", f"bottleneck={bottleneck}", "data=sample", f"data.root={data_root}",
                 f"data.train_size=[{args.size},{args.size}]", f"data.batch_size={args.batch_size}",
                 f"data.num_workers={args.workers}", "logger=csv", f"trainer.max_steps={args.warmup + args.steps}",
                 "+trainer.limit_val_batches=0", "+trainer.num_sanity_val_steps=0", "trainer.enable_progress_bar=false",
                 "checkpoint_every_n_steps=1000000000", "seed=0"]
    overrides += ["pretrained_losses=false"] if config.pretrained_switch else config.zero_pretrained
    overrides += [f"trainer={args.trainer}"] if args.trainer else []
    overrides += [f"trainer.precision={precision}"] if precision != TRAINER_PRECISION else []
    if stage == "last":
        overrides += [f"backbone.stages.{index}.steps=0" for index in range(config.stages - 1)]
    return overrides


def _run(tree: Path, overrides: list[str], run_dir: Path, args: argparse.Namespace, scratch: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), WANDB_MODE="offline", WANDB_DIR=str(scratch / "wandb"),
               WANDB_SILENT="true", EIIP_OFFLINE="1", HYDRA_FULL_ERROR="1")
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--warmup", str(args.warmup),
               *(["--threads", str(args.threads)] if args.threads else []),
               "--", *overrides, f"hydra.run.dir={run_dir}"]
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"train.py failed in {tree} ({' '.join(overrides)}):\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(result["eiip"]).is_relative_to(tree.resolve()):  # e.g. an editable install of another checkout
        raise SystemExit(f"the run in {tree} trained with {result['eiip']}, not that tree's eiip")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=BACKBONES, choices=BACKBONES)
    parser.add_argument("--bottlenecks", nargs="+", default=["mono"], choices=["mono", "rgb"])
    parser.add_argument("--stage", nargs="+", default=["first"], choices=["first", "last"],
                        help="stage to time: first (train.py's start) and/or last (earlier stages set to 0 steps); "
                             "backbones with one stage get one row, stage 'only'")
    parser.add_argument("--baseline-rev", default="28bc291", help="git revision to compare with, or 'none'")
    parser.add_argument("--size", type=int, default=64, help="square training crop (data.train_size)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=0, help="data.num_workers (the sample config's 0)")
    parser.add_argument("--steps", type=int, default=4, help="timed generator steps per run")
    parser.add_argument("--warmup", type=int, default=1, help="untimed generator steps first (>= 1)")
    parser.add_argument("--runs", type=int, default=3, help="runs per revision and configuration, alternating")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run (default: torch's)")
    parser.add_argument("--trainer", default=None, choices=["cpu", "gpu"],
                        help="train.py's trainer config (gpu: one GPU, bf16-mixed; default: train.py's)")
    parser.add_argument("--precision", nargs="+", default=[TRAINER_PRECISION],
                        choices=[TRAINER_PRECISION, "32-true", "bf16-mixed"],
                        help="trainer.precision of the runs, a row each (default: the trainer config's)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1")
    if args.worker:
        worker(args.overrides, args.warmup, args.threads)
        return

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        revisions = trees(args.baseline_rev, scratch)
        labels = list(revisions)
        rows, commands, notes = [], {}, set()
        for backbone in args.backbones:
            configs = {label: tree_config(tree, backbone) for label, tree in revisions.items()}
            notes |= {f"{label} has no pretrained_losses switch: its ImageNet terms are set to weight 0 instead "
                      "(the same terms are left out)"
                      for label, config in configs.items() if not config.pretrained_switch}
            notes |= {f"{label} has no critic_steps setting: one discriminator step per generator step for every "
                      "backbone" for label, config in configs.items() if config.critic_steps is None}
            # one stage in both trees: first and last are the same run, labelled "only"
            stages = args.stage if max(config.stages for config in configs.values()) > 1 else ["only"]
            for bottleneck, stage, precision in itertools.product(args.bottlenecks, stages, args.precision):
                key = (backbone, bottleneck, stage, precision)
                overrides = {label: train_overrides(configs[label], backbone, bottleneck, stage, precision, args,
                                                    scratch / "data" / str(index))
                             for index, label in enumerate(labels)}
                commands[key] = overrides

                def measure(label: str, run: int, key=key, overrides=overrides) -> dict:
                    run_dir = scratch / "runs" / f"{'-'.join(key)}-{labels.index(label)}-{run}"
                    result = _run(revisions[label], overrides[label], run_dir, args, scratch)
                    print(f"{' '.join(key)} | {label} | run {run}: {result['steps_per_second']:.4f} steps/s, "
                          f"{result['optimizer_steps'] / result['timed_steps']:.0f} optimizer steps per step, "
                          f"terms {','.join(result['terms'])}", file=sys.stderr, flush=True)
                    return result

                rows.append((key, alternating(labels, args.runs, measure)))
    _report(rows, commands, sorted(notes), labels, args, time.perf_counter() - started)


def _report(rows: list, commands: dict, notes: list[str], labels: list[str], args: argparse.Namespace,
            seconds: float) -> None:
    baseline = labels[-1]
    columns = ["backbone", "bottleneck", "stage", "precision"] + [f"steps/s {label} (median)" for label in labels[::-1]]
    if len(labels) > 1:
        columns += [f"{THIS_TREE} / {baseline}", f"D steps per G step ({baseline} / {THIS_TREE})"]
    else:
        columns += ["D steps per G step"]
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    terms = []
    for key, runs in rows:
        medians = {label: statistics.median(r["steps_per_second"] for r in runs[label]) for label in labels}
        critic = {label: statistics.median(r["optimizer_steps"] / r["timed_steps"] - 1 for r in runs[label])
                  for label in labels}
        cells = [*key] + [f"{medians[label]:.3f}" for label in labels[::-1]]
        if len(labels) > 1:
            cells += [f"{medians[THIS_TREE] / medians[baseline]:.2f}x", f"{critic[baseline]:g} / {critic[THIS_TREE]:g}"]
        else:
            cells += [f"{critic[THIS_TREE]:g}"]
        print("| " + " | ".join(cells) + " |")
        terms.append(f"- {' '.join(key)}: " + "; ".join(f"{label}: {', '.join(runs[label][0]['terms'])}"
                                                         for label in labels[::-1]))
    print(f"\nSettings: {args.size}x{args.size} crops, batch {args.batch_size}, sample data, "
          f"{args.steps} timed generator steps after {args.warmup} warm-up steps per run, {args.runs} runs per "
          f"revision alternating, medians; {os.cpu_count()} CPUs, torch threads "
          f"{args.threads or 'as torch sets them'}, data.num_workers={args.workers}, "
          f"trainer={args.trainer or 'train.py default'}; whole benchmark {seconds:.0f} s.")
    print("Steps are generator steps (trainer.global_step) in both trees; the discriminator steps per generator "
          "step are part of each tree's recipe and are in its time (the newer configs' critic_steps: HiFill 3, "
          "GMCNN 5). GMCNN's first stage (40000 steps) is reconstruction-only: no discriminator runs there; "
          "`--stage last` times its adversarial phase. ImageNet-weight losses (perceptual, style, ID-MRF) are "
          "off in both trees. The stage column: first = the stage train.py starts in, last = the last stage "
          "(earlier stages set to 0 steps), only = a backbone without stages.")
    if notes:
        print("".join(f"\n- {note}" for note in notes))
    print("\nLoss terms of each row (logged at the last step):\n" + "\n".join(terms))
    print("\ntrain.py overrides (plus hydra.run.dir per run):")
    for key, overrides in commands.items():
        for label in labels[::-1]:
            print(f"- {' '.join(key)} | {label}: {' '.join(overrides[label])}")


if __name__ == "__main__":
    main()
