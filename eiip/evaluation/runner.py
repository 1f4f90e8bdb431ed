"""The evaluation loop: external stage -> guided colorizer -> metrics, per batch, resumable."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from eiip.color import composite, rgb_to_mono
from eiip.colorize import Colorizer, colorize_batch, get_colorizer, resolved_settings
from eiip.evaluation.data import TestImage, iter_split, load_or_create_mask_set
from eiip.evaluation.distributed import Ranks, launched_ranks, process_group, spawn
from eiip.evaluation.features import build_fid_inception, distribution_summary, write_features
from eiip.evaluation.naming import register_resolver
from eiip.evaluation.report import log_to_wandb, read_summary, write_summary
from eiip.evaluation.results import METRIC_COLUMNS, ResultsStore, check_settings, safe_key, write_image_set
from eiip.io import InputError
from eiip.metrics import ImageMetrics, psnr, summarize
from eiip.metrics.inception import FIDInceptionV3
from eiip.pipeline import ExternalStage, build_external_stage


@dataclass
class EvalSetup:
    """Everything the loop needs, resolved from the Hydra config (and the checkpoint's own config)."""

    stage: ExternalStage
    colorizer: Colorizer | None  # None for RGB checkpoints: their output is final
    colorizer_name: str
    batch_size: int
    data: dict[str, Any]
    shards: list[str]  # of the evaluated split, in order
    count: int  # images evaluated: the split's first `count` (all of it, or max_images)
    masks: list
    mask_set: Path
    device: torch.device


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' -> cuda when available, else cpu; a CUDA device without an index -> this machine's rank's GPU."""
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)
    if device.type != "cuda" or device.index is not None:
        return device
    if local_rank >= torch.cuda.device_count():
        raise InputError(f"process {local_rank} of this machine needs cuda:{local_rank} but "
                         f"{torch.cuda.device_count()} GPU(s) are visible: start fewer processes or use device=cpu")
    return torch.device("cuda", local_rank)


def _data_config(cfg: DictConfig, stage: ExternalStage) -> dict[str, Any]:
    """`data=...` if given, else the data the checkpoint was trained on, else `fallback_data` (sample)."""
    if cfg.get("data") is not None:
        return OmegaConf.to_container(cfg.data, resolve=True)
    trained_on = (getattr(stage, "config", None) or {}).get("data")
    return dict(trained_on) if trained_on else OmegaConf.to_container(cfg.fallback_data, resolve=True)


def _datamodule(data: dict[str, Any]) -> Any:
    """Instantiate the data config's datamodule (prepares the sample shards on first use)."""
    settings = {k: v for k, v in data.items() if k != "name"}
    module = instantiate(settings, _convert_="all")
    module.prepare_data()
    return module


def colorizer_options(cfg: DictConfig) -> dict[str, Any]:
    """The colorizer config's `options` (settings of the colorizer factory) as a plain dict."""
    options = cfg.colorizer.get("options")
    return OmegaConf.to_container(options, resolve=True) if options else {}


def build_setup(cfg: DictConfig, device: torch.device) -> EvalSetup:
    """Resolve stage, colorizer, data and masks."""
    backbone = cfg.backbone.name if cfg.get("backbone") else None
    stage = build_external_stage(backbone=backbone, ckpt=cfg.ckpt, device=device, hd_strategy=cfg.hd.strategy,
                                 working_pixels=cfg.hd.pixels)
    data = _data_config(cfg, stage)
    module = _datamodule(data)
    size = tuple(module.test_size)
    shards = module.shard_urls(cfg.split)
    count = module.split_size(cfg.split, None if cfg.max_images is None else int(cfg.max_images))
    if count == 0:
        raise InputError(f"the {cfg.split!r} split of {module.root or shards} is empty")
    ratio = tuple(cfg.masks.ratio) if cfg.masks.ratio is not None else None
    masks, mask_path = load_or_create_mask_set(cfg.mask_set, kind=cfg.masks.kind, size=size, count=count,
                                               seed=cfg.seed, ratio=ratio)
    colorizer = None
    if stage.output == "mono":
        options = colorizer_options(cfg)
        if cfg.colorizer.get("internal", False):
            options |= {"seed": cfg.seed, "device": device}
        colorizer = get_colorizer(cfg.colorizer.name, **options)
    data |= {"root": None if module.root is None else str(module.root), "test_size": list(size)}
    return EvalSetup(stage, colorizer, cfg.colorizer.name if colorizer else "none (rgb output)",
                     int(cfg.colorizer.get("batch_size", 1)), data, shards, count, masks, mask_path, device)


def settings_record(cfg: DictConfig, setup: EvalSetup) -> dict[str, Any]:
    """What determines the per-image results: a rerun must match it to resume the same directory."""
    colorizer_record = {"name": setup.colorizer_name, "options": colorizer_options(cfg)}
    resolved = resolved_settings(setup.colorizer)
    if resolved is not None:  # classical colorizers: no key, so their earlier run directories still resume
        colorizer_record["resolved"] = resolved
    height, width = setup.data["test_size"]
    working = getattr(setup.stage, "working_pixels", None)  # a SizedStage's; smaller images are completed whole
    hd = {"hd": {"strategy": cfg.hd.strategy, "pixels": working}} if working and height * width > working else {}
    return hd | {
        "ckpt": str(Path(cfg.ckpt).expanduser().resolve()) if cfg.ckpt else None,
        "backbone": cfg.backbone.name if cfg.get("backbone") else None,
        "data": {k: setup.data.get(k) for k in ("name", "root", "test_size")}
                | ({"shards": listed} if (listed := setup.data.get(f"{cfg.split}_shards")) else {}),
        "split": cfg.split,
        "mask_set": str(setup.mask_set.resolve()),
        "colorizer": colorizer_record,
        "seed": cfg.seed,
        "lpips": cfg.metrics.lpips,
    }


def _batches(items: Iterable[TestImage], size: int) -> Iterator[list[TestImage]]:
    batch: list[TestImage] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def colorize_within_memory(colorizer: Colorizer, mono: torch.Tensor, rgb: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Colorize a batch at once; when the device runs out of memory, halve the batch and retry."""
    try:
        return colorize_batch(colorizer, mono, rgb, known)
    except torch.OutOfMemoryError:
        if mono.shape[0] == 1:
            raise
        torch.cuda.empty_cache()
        half = mono.shape[0] // 2
        return torch.cat([colorize_within_memory(colorizer, mono[:half], rgb[:half], known[:half]),
                          colorize_within_memory(colorizer, mono[half:], rgb[half:], known[half:])])


def complete_batch(setup: EvalSetup, images: torch.Tensor, holes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both stages on a batch: (monochrome completion, final RGB composited with the known pixels)."""
    with torch.no_grad():
        completed = setup.stage(images.to(setup.device), holes.to(setup.device)).float().cpu()
    known = holes < 0.5
    if setup.colorizer is None:
        return rgb_to_mono(completed), composite(completed, images, known)
    # on the eval device: on cuda, levin / local-linear / validated-blend solve there (eiip.colorize.torch_solve)
    on_device = (t.to(setup.device) for t in (completed, images * known, known))
    colorized = colorize_within_memory(setup.colorizer, *on_device)
    return completed, composite(colorized.cpu(), images, known)


def _evaluate_batch(setup: EvalSetup, metrics: ImageMetrics, batch: list[TestImage], run_dir: Path,
                    save_images: bool, fid_network: FIDInceptionV3 | None = None) -> list[dict[str, object]]:
    images = torch.stack([item.image for item in batch])
    holes = torch.stack([torch.from_numpy(setup.masks[item.position % len(setup.masks)])[None].float()
                         for item in batch])
    started = time.perf_counter()
    monos, finals = complete_batch(setup, images, holes)
    seconds = (time.perf_counter() - started) / len(batch)
    rows = metrics(finals, images, holes)
    if fid_network is not None:
        write_features(run_dir, fid_network, [item.position for item in batch], images, finals)
    truths = rgb_to_mono(images)
    for item, row, mono, final, truth, image, hole in zip(batch, rows, monos, finals, truths, images, holes):
        known = hole < 0.5
        key = safe_key(item.key)
        row |= {"key": key, "shard_key": item.key, "position": item.position, "seconds": seconds,
                "mono_psnr": psnr(mono, truth), "mono_hole_psnr": psnr(mono, truth, ~known)}
        if save_images:
            masked_input = composite(torch.ones_like(image), image, known)
            write_image_set(run_dir, key, {"input": masked_input, "mask": hole.bool(), "mono": mono,
                                           "final": final, "target": image})
    return rows


def _prepare(cfg: DictConfig, run_dir: Path, device: torch.device) -> EvalSetup:
    setup = build_setup(cfg, device)
    check_settings(run_dir, settings_record(cfg, setup))
    return setup


def evaluate_ranks(ranks: Ranks, cfg: DictConfig, run_dir: Path) -> dict[str, Any] | None:
    """This rank's share of the images not done yet; when all ranks are done, rank 0 merges the results,
    reports them and returns the summary (the others return None)."""
    register_resolver()  # spawned workers start in a fresh interpreter
    device = resolve_device(cfg.device, ranks.local_rank)
    with process_group(ranks, device, timedelta(minutes=float(cfg.dist_timeout_min))):
        lpips_note, fid_note = _evaluate_share(ranks, cfg, run_dir, device)
        ranks.barrier()
    return _merge_and_report(cfg, run_dir, lpips_note, fid_note) if ranks.is_main else None


def _evaluate_share(ranks: Ranks, cfg: DictConfig, run_dir: Path,
                    device: torch.device) -> tuple[str | None, str | None]:
    """Evaluate this rank's images, appending each batch's rows to its part (and FID features to the run's);
    returns why LPIPS and why FID are unavailable (None when available).

    Rank 0 builds the setup first (data, mask set, settings record) so the others find them, and reads
    which images are done before anyone writes; the rest is split between the ranks by position.
    """
    setup = ranks.main_first(lambda: _prepare(cfg, run_dir, device))
    done = ranks.broadcast(ResultsStore(run_dir).done_positions() if ranks.is_main else set())
    todo = [position for position in range(setup.count) if position not in done]
    metrics = ImageMetrics(lpips_net=cfg.metrics.lpips, device=setup.device)
    fid_network, fid_note = ranks.main_first(lambda: build_fid_inception(cfg.metrics.fid, setup.device))
    if ranks.is_main:
        if metrics.lpips_unavailable:
            print(f"LPIPS unavailable: {metrics.lpips_unavailable}", file=sys.stderr)
        if fid_note:
            print(f"FID unavailable: {fid_note}", file=sys.stderr)
        print(f"evaluating {setup.count} {cfg.split} image(s) of {setup.data['name']} at {setup.data['test_size']} "
              f"with masks {setup.mask_set}; colorizer {setup.colorizer_name}; {len(done)} already done, "
              f"{len(todo)} to do in {ranks.world_size} process(es); -> {run_dir}")
    mine = ranks.share(todo)
    store = ResultsStore(run_dir, ranks.rank)
    label = "eval" if ranks.world_size == 1 else f"eval (rank 0 of {ranks.world_size})"
    skipped: dict[int, str] = {}
    with tqdm(total=len(mine), desc=label, unit="image", disable=not (cfg.progress and ranks.is_main)) as progress:
        images = iter_split(setup.shards, tuple(setup.data["test_size"]), mine, skipped)
        for batch in _batches(images, setup.batch_size):
            store.append(_evaluate_batch(setup, metrics, batch, run_dir, cfg.save_images, fid_network))
            progress.update(len(batch))
    store.record_skipped(skipped)
    return metrics.lpips_unavailable, fid_note


def _merge_and_report(cfg: DictConfig, run_dir: Path, lpips_note: str | None, fid_note: str | None) -> dict[str, Any]:
    """results.csv from every rank's part (and earlier runs'), the summary files (with FID and KID over
    the whole run, and the samples skipped as undecodable) and the W&B run."""
    store = ResultsStore(run_dir)
    rows = store.merge()
    summary = summarize([{name: row[name] for name in ("hole_ratio", *METRIC_COLUMNS)} for row in rows])
    positions = [int(row["position"]) for row in rows]
    summary["distribution"] = distribution_summary(run_dir, positions, fid_note, resolve_device(cfg.device))
    summary["skipped"] = store.take_skipped()  # samples without a decodable image
    if summary["skipped"]:
        print(f"skipped {len(summary['skipped'])} undecodable sample(s); listed in summary.json", file=sys.stderr)
    write_summary(run_dir, summary, lpips_note=lpips_note)
    if cfg.logger.kind == "wandb":
        log_to_wandb(cfg, run_dir, rows, summary)
    return summary


def evaluate(cfg: DictConfig, run_dir: Path) -> dict[str, Any] | None:
    """Evaluate into `run_dir` (resuming what is there); returns the summary (None on ranks other than 0).

    Runs in the processes a launcher started (torchrun, srun), in `cfg.workers` local processes, or in
    this one.
    """
    ranks = launched_ranks()
    workers = int(cfg.workers)
    if workers < 1:
        raise InputError(f"workers={workers}: evaluate in at least one process")
    if workers == 1:
        return evaluate_ranks(ranks, cfg, run_dir)
    if ranks.world_size > 1:
        raise InputError(f"workers={workers} starts processes on this machine; under a launcher "
                         f"({ranks.world_size} processes) leave workers=1")
    spawn(evaluate_ranks, workers, cfg, run_dir)
    return read_summary(run_dir)


def evaluate_checkpoint(ckpt: Path, run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """Evaluate a checkpoint just trained (train.py eval_after=true) in this process: conf/eval.yaml with `ckpt` set.

    Needs an initialized Hydra (inside train.py's @hydra.main or a test's `initialize_config_dir`).
    """
    from hydra import compose

    register_resolver()
    cfg = compose(config_name="eval", overrides=[f"ckpt={ckpt}", *overrides])
    return evaluate_ranks(Ranks(), cfg, run_dir)
