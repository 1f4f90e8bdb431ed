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
from eiip.external.edges import DEFAULT_SIGMA
from eiip.external.loss_terms import PRETRAINED_TERMS
from eiip.external.module import ExternalInpainter
from eiip.io import InputError
from eiip.wandb_mode import offline_notice, wandb_offline


def build_datamodule(cfg: DictConfig) -> L.LightningDataModule:
    """The datamodule of `cfg.data` (its `name` is a label, not an argument); for EdgeConnect its
    training samples carry the Canny edges of the generator's sigma, computed in the loader workers."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    data.pop("name")
    if cfg.backbone.name == "edgeconnect":
        data["edges_sigma"] = float(cfg.backbone.generator.get("sigma", DEFAULT_SIGMA))
    return instantiate(data, _convert_="all")


def without_pretrained_losses(backbone: dict[str, Any]) -> dict[str, Any]:
    """`backbone` with the terms needing ImageNet weights dropped from its losses and every stage's."""
    def kept(config: dict[str, Any]) -> dict[str, Any]:
        losses = config.get("losses")
        return config if losses is None else config | {
            "losses": {k: v for k, v in losses.items() if k not in PRETRAINED_TERMS}}

    stages = backbone.get("stages")
    return kept(backbone) | {"stages": None if stages is None else [kept(stage) for stage in stages]}


def build_model(cfg: DictConfig) -> ExternalInpainter:
    """The external-stage module (weights from `init_from` when set); the resolved config is stored in its checkpoints."""
    backbone = OmegaConf.to_container(cfg.backbone, resolve=True)
    if backbone.get("classical"):
        raise InputError(f"backbone={backbone['name']} is learning-free (eval.py / eiip inpaint only): nothing to train")
    if not cfg.get("pretrained_losses", True):
        backbone = without_pretrained_losses(backbone)
        if rank_zero_only.rank == 0:
            print(f"pretrained_losses=false: no {', '.join(sorted(PRETRAINED_TERMS))} term in any stage "
                  "(no ImageNet weights needed)")
    model = ExternalInpainter(
        backbone=backbone["name"],
        bottleneck=cfg.bottleneck.name,
        generator=backbone.get("generator"),
        discriminators=backbone.get("discriminators"),
        losses=backbone.get("losses"),
        stages=backbone.get("stages"),
        optimizer=backbone.get("optimizer"),
        loss_range=backbone["loss_range"],
        critic_steps=backbone["critic_steps"],
        critic_first=backbone["critic_first"],
        loss_options=backbone.get("loss_options"),
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    if cfg.get("init_from"):
        if cfg.get("ckpt"):
            raise InputError("give ckpt (resume a run) or init_from (start from a checkpoint's weights), not both")
        from eiip.external.init_from import initialize_from

        initialize_from(model, cfg.init_from)
    return model


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

        for subdir, overrides in evaluation_plan(cfg):
            evaluate_checkpoint(last, run_dir / "eval" / subdir, overrides)
    return last


def evaluation_plan(cfg: DictConfig) -> list[tuple[str, list[str]]]:
    """The evaluations of `eval_after`: (subfolder of RUN_DIR/eval, eval.py overrides) each.

    A mono run is evaluated once per `eval_colorizers` entry (a conf/colorizer name, into eval/NAME),
    an rgb run (its output is final) or an empty list once, into eval/ itself."""
    overrides = [str(item) for item in cfg.get("eval_overrides") or []]
    colorizers = [str(name) for name in cfg.get("eval_colorizers") or []]
    if cfg.bottleneck.name != "mono" or not colorizers:
        return [("", overrides)]
    return [(name, [*overrides, f"colorizer={name}"]) for name in colorizers]
