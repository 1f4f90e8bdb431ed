"""Builds the data, model, logger, callbacks and trainer of `train.py` from its Hydra config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from eiip.data.skipping import SkippedSamples
from eiip.external.callbacks import SeenSamples
from eiip.external.module import ExternalInpainter
from eiip.io import InputError
from eiip.wandb_mode import offline_notice, wandb_offline


def build_datamodule(cfg: DictConfig) -> L.LightningDataModule:
    """The datamodule of `cfg.data` (its `name` is a label, not an argument)."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    data.pop("name")
    return instantiate(data, _convert_="all")


def build_model(cfg: DictConfig) -> ExternalInpainter:
    """The external-stage module; the whole resolved config is stored in its checkpoints."""
    backbone = OmegaConf.to_container(cfg.backbone, resolve=True)
    if backbone.get("classical"):
        raise InputError(f"backbone={backbone['name']} is learning-free (eval.py / eiip inpaint only): nothing to train")
    return ExternalInpainter(
        backbone=backbone["name"],
        bottleneck=cfg.bottleneck.name,
        generator=backbone.get("generator"),
        discriminators=backbone.get("discriminators"),
        losses=backbone.get("losses"),
        stages=backbone.get("stages"),
        optimizer=backbone.get("optimizer"),
        config=OmegaConf.to_container(cfg, resolve=True),
    )


def build_logger(cfg: DictConfig, run_dir: Path) -> Logger:
    """W&B (offline with a one-line notice when no API key is configured) or CSV, in the run directory."""
    settings = cfg.logger
    if settings.kind == "csv":
        return CSVLogger(save_dir=str(run_dir), name="csv", version="")
    if settings.kind != "wandb":
        raise ValueError(f"unknown logger {settings.kind!r}; expected wandb or csv")
    offline = wandb_offline()
    if offline and rank_zero_only.rank == 0:
        print(offline_notice(run_dir))
    return WandbLogger(project=settings.project, entity=settings.entity, name=cfg.run_name, tags=list(settings.tags),
                       save_dir=str(run_dir), offline=offline, config=OmegaConf.to_container(cfg, resolve=True))


def build_callbacks(cfg: DictConfig, run_dir: Path) -> list[L.Callback]:
    """`last.ckpt` every `checkpoint_every_n_steps` steps, the best `val/psnr`, the skipped-sample count,
    optional sample audit."""
    checkpoints = run_dir / "checkpoints"
    callbacks: list[L.Callback] = [
        ModelCheckpoint(dirpath=checkpoints, save_last=True, save_top_k=0, every_n_train_steps=cfg.checkpoint_every_n_steps),
        ModelCheckpoint(dirpath=checkpoints, filename="best-{step}", monitor="val/psnr", mode="max", save_top_k=1),
        SkippedSamples(),
    ]
    if cfg.record_seen_samples:
        callbacks.append(SeenSamples(run_dir / "seen_samples"))
    return callbacks


def train(cfg: DictConfig, run_dir: Path) -> Path:
    """Fit the external stage; returns the path of the last checkpoint."""
    L.seed_everything(cfg.seed, workers=True)
    trainer_args: dict[str, Any] = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer = L.Trainer(default_root_dir=str(run_dir), logger=build_logger(cfg, run_dir),
                        callbacks=build_callbacks(cfg, run_dir), **trainer_args)
    trainer.fit(build_model(cfg), datamodule=build_datamodule(cfg), ckpt_path=cfg.ckpt)
    last = run_dir / "checkpoints" / "last.ckpt"
    if cfg.get("eval_after") and trainer.is_global_zero:
        if isinstance(trainer.logger, WandbLogger):
            trainer.logger.experiment.finish()  # the evaluation logs its own run
        from eiip.evaluation.runner import evaluate_checkpoint

        evaluate_checkpoint(last, run_dir / "eval", list(cfg.get("eval_overrides") or []))
    return last
