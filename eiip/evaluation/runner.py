"""The evaluation loop: external stage -> guided colorizer -> metrics, per batch, resumable."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from eiip.color import composite, rgb_to_mono
from eiip.colorize import Colorizer, colorize_batch, get_colorizer, resolved_settings
from eiip.evaluation.naming import register_resolver
from eiip.evaluation.data import TestImage, iter_split, load_or_create_mask_set, split_size
from eiip.evaluation.report import log_to_wandb, write_summary
from eiip.io import InputError
from eiip.evaluation.results import METRIC_COLUMNS, ResultsStore, check_settings, safe_key, write_image_set
from eiip.metrics import ImageMetrics, psnr, summarize
from eiip.pipeline import ExternalStage, build_external_stage


@dataclass
class EvalSetup:
    """Everything the loop needs, resolved from the Hydra config (and the checkpoint's own config)."""

    stage: ExternalStage
    colorizer: Colorizer | None  # None for RGB checkpoints: their output is final
    colorizer_name: str
    batch_size: int
    data: dict[str, Any]
    masks: list
    mask_set: Path
    device: torch.device


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu."""
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else ("cpu" if name == "auto" else name))


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


def build_setup(cfg: DictConfig) -> EvalSetup:
    """Resolve stage, colorizer, data and masks."""
    device = resolve_device(cfg.device)
    backbone = cfg.backbone.name if cfg.get("backbone") else None
    stage = build_external_stage(backbone=backbone, ckpt=cfg.ckpt, device=device)
    data = _data_config(cfg, stage)
    module = _datamodule(data)
    size = tuple(module.test_size)
    count = split_size(module.root, cfg.split)
    if cfg.max_images is not None:
        count = min(count, int(cfg.max_images))
    if count == 0:
        raise InputError(f"the {cfg.split!r} split of {module.root} is empty")
    ratio = tuple(cfg.masks.ratio) if cfg.masks.ratio is not None else None
    masks, mask_path = load_or_create_mask_set(cfg.mask_set, kind=cfg.masks.kind, size=size, count=count,
                                               seed=cfg.seed, ratio=ratio)
    colorizer = None
    if stage.output == "mono":
        options = colorizer_options(cfg)
        if cfg.colorizer.get("internal", False):
            options |= {"seed": cfg.seed, "device": device}
        colorizer = get_colorizer(cfg.colorizer.name, **options)
    data |= {"root": str(module.root), "test_size": list(size)}
    return EvalSetup(stage, colorizer, cfg.colorizer.name if colorizer else "none (rgb output)",
                     int(cfg.colorizer.get("batch_size", 1)), data, masks, mask_path, device)


def settings_record(cfg: DictConfig, setup: EvalSetup) -> dict[str, Any]:
    """What determines the per-image results: a rerun must match it to resume the same directory."""
    colorizer_record = {"name": setup.colorizer_name, "options": colorizer_options(cfg)}
    resolved = resolved_settings(setup.colorizer)
    if resolved is not None:  # classical colorizers: no key, so their earlier run directories still resume
        colorizer_record["resolved"] = resolved
    return {
        "ckpt": str(Path(cfg.ckpt).expanduser().resolve()) if cfg.ckpt else None,
        "backbone": cfg.backbone.name if cfg.get("backbone") else None,
        "data": {k: setup.data.get(k) for k in ("name", "root", "test_size")},
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
                    save_images: bool) -> list[dict[str, object]]:
    images = torch.stack([item.image for item in batch])
    holes = torch.stack([torch.from_numpy(setup.masks[item.position % len(setup.masks)])[None].float()
                         for item in batch])
    started = time.perf_counter()
    monos, finals = complete_batch(setup, images, holes)
    seconds = (time.perf_counter() - started) / len(batch)
    rows = metrics(finals, images, holes)
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


def evaluate(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Evaluate into `run_dir` (resuming what is there); returns the summary."""
    setup = build_setup(cfg)
    check_settings(run_dir, settings_record(cfg, setup))
    store = ResultsStore(run_dir)
    done = store.done_keys()
    metrics = ImageMetrics(lpips_net=cfg.metrics.lpips, device=setup.device)
    if metrics.lpips_unavailable:
        print(f"LPIPS unavailable: {metrics.lpips_unavailable}", file=sys.stderr)
    total = len(setup.masks)
    print(f"evaluating {total} {cfg.split} image(s) of {setup.data['name']} at {setup.data['test_size']} "
          f"with masks {setup.mask_set}; colorizer {setup.colorizer_name}; {len(done)} already done; -> {run_dir}")
    progress = tqdm(total=total, desc="eval", unit="image", disable=not cfg.progress)
    images = iter_split(setup.data["root"], cfg.split, tuple(setup.data["test_size"]), limit=total)
    for batch in _batches(images, setup.batch_size):
        todo = [item for item in batch if safe_key(item.key) not in done]
        if todo:
            store.append(_evaluate_batch(setup, metrics, todo, run_dir, cfg.save_images))
        progress.update(len(batch))
    progress.close()
    rows = store.rows()
    summary = summarize([{name: row[name] for name in ("hole_ratio", *METRIC_COLUMNS)} for row in rows])
    write_summary(run_dir, summary, lpips_note=metrics.lpips_unavailable)
    if cfg.logger.kind == "wandb":
        log_to_wandb(cfg, run_dir, rows, summary)
    return summary


def evaluate_checkpoint(ckpt: Path, run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """Evaluate a checkpoint just trained (train.py eval_after=true): conf/eval.yaml with `ckpt` set.

    Needs an initialized Hydra (inside train.py's @hydra.main or a test's `initialize_config_dir`).
    """
    from hydra import compose

    register_resolver()
    cfg = compose(config_name="eval", overrides=[f"ckpt={ckpt}", *overrides])
    return evaluate(cfg, run_dir)
