"""ExternalInpainter: the external stage (paper section 3.2) for any registered backbone.

The backbone completes the masked image; with `bottleneck="mono"` it sees RGB ⊕ monochrome and
predicts only the monochrome (the paper's method), with `bottleneck="rgb"` it is the original
RGB model (the baseline). The objective is a dict of named loss terms (`eiip.external.loss_terms`) with
weights; `stages` switch the active terms after a number of steps (e.g. GMCNN's reconstruction-only
pretraining, then all losses), and may pass keyword options to the generator's forward (`forward`,
e.g. EdgeConnect's `edge_source`) and set their own optimizer settings (`optimizer`: lr, d_lr,
betas). Every stage starts with fresh Adam states for the generator and the discriminators, as the
releases, which train each stage as a separate run. Optimization is manual: `critic_steps`
discriminator steps (on the views the active adversarial terms need; HiFill's release takes 3,
GMCNN's 5) and one generator step, all on the same batch: with `critic_first` (DeepFill v2, HiFill,
GMCNN) the discriminators step first and the generator's adversarial and feature-matching terms see
them updated; without it (EdgeConnect's `models.py`, whose generator losses are taken from the
discriminator before its step) the generator steps first, then the discriminators on the same,
detached, output. Parameters that got no gradient (a part of the generator idle or
detached in the stage) are not updated. `trainer.max_steps` counts generator steps (batches): the
discriminators' optimizer is owned by this module (Lightning's global step does not count its
steps) and saved in checkpoints. `loss_range` is the value range the objective is computed in: the
pixel L1 terms and the WGAN-GP slope are taken on images mapped from [0, 1] to it (the TensorFlow
releases' [-1, 1], EdgeConnect's [0, 1]), so the release's loss weights keep their balance.
`loss_options` (`{term: {keyword: value}}`) configure the VGG-based terms (e.g. GMCNN's ID-MRF
reduction and centering, `conf/backbone/gmcnn.yaml`). Under mixed precision the losses are computed
in float32 (`eiip.external.loss_terms.in_float32`), the networks under autocast.

Optional generator hooks: `training_inputs(target)` gives extra forward inputs computed from the
unmasked target (EdgeConnect: the full image's Canny edges; a batch's `"edges"`, computed by the
data loader workers, is used instead when present); `adversarial_views(outputs, target,
hole, views)` gives the (fake, real) discriminator inputs of the views it knows, replacing the
default "output" view (the completed image vs the target); `validate_stage(forward, terms)`
rejects a stage's forward options that its loss terms cannot work with, at construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from eiip.external.losses import masked_l1, range_width
from eiip.external.backbones import build_backbone, build_discriminator
from eiip.color import rgb_to_mono
from eiip.io import to_uint8, write_image
from eiip.external.loss_terms import TermContext, critic_loss, require_pretrained_terms, term_value, views_of
from eiip.metrics import psnr_per_image, ssim
from eiip.visualize import sample_grid


def completed_prediction(prediction: Tensor, target: Tensor, hole: Tensor) -> Tensor:
    """Known pixels from the target, the prediction in the hole."""
    return prediction * hole + target * (1.0 - hole)


OPTIMIZER_SETTINGS: frozenset[str] = frozenset({"lr", "betas", "d_lr"})
"""The settings of `optimizer` (module-wide and per stage): Adam's lr and betas, the discriminators' lr
(None: the generator's)."""


@dataclass(frozen=True)
class Stage:
    """A training phase: its length in steps (None: until the end), loss weights, generator forward
    options, optimizer settings replacing the module's."""

    steps: int | None
    losses: dict[str, float]
    forward: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, Any] = field(default_factory=dict)

    @property
    def terms(self) -> dict[str, float]:
        """The loss terms with a nonzero weight."""
        return {name: weight for name, weight in self.losses.items() if weight}


class ExternalInpainter(L.LightningModule):
    """Trains a backbone generator (and its discriminators) to complete holes in RGB or monochrome."""

    def __init__(
        self,
        backbone: str = "gatedconv",
        bottleneck: str = "mono",
        generator: Mapping[str, Any] | None = None,
        discriminators: Mapping[str, Mapping[str, Any]] | None = None,
        losses: Mapping[str, float] | None = None,
        stages: Sequence[Mapping[str, Any]] | None = None,
        optimizer: Mapping[str, Any] | None = None,
        loss_range: Sequence[float] = (0.0, 1.0),
        critic_steps: int = 1,
        critic_first: bool = True,
        loss_options: Mapping[str, Mapping[str, Any]] | None = None,
        num_samples: int = 4,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.bottleneck = bottleneck
        self.generator = build_backbone(backbone, bottleneck, **dict(generator or {}))
        self.views = {view: dict(spec) for view, spec in (discriminators or {}).items()}
        self.discriminators = nn.ModuleDict({
            view: build_discriminator(spec["name"], bottleneck, **dict(spec.get("options") or {}))
            for view, spec in self.views.items()
        })
        self.stages = self._validate_stages(dict(losses or {"l1": 1.0}), stages)
        self.loss_range = (float(loss_range[0]), float(loss_range[1]))
        range_width(self.loss_range)  # rejects an empty or reversed range
        if critic_steps < 1:
            raise ValueError(f"critic_steps must be at least 1, got {critic_steps}")
        self.critic_steps = int(critic_steps)
        self.critic_first = bool(critic_first)
        self.loss_options = {term: dict(options) for term, options in (loss_options or {}).items()}
        self.optimizer_settings = {"lr": 1e-4, "betas": (0.5, 0.999), "d_lr": None,
                                   **_checked_optimizer_settings(optimizer or {})}
        self._d_optimizer: torch.optim.Optimizer | None = None
        self._d_optimizer_state: dict | None = None
        self._stage_index: int | None = None  # the stage of the last training step (None: none yet)

    def _validate_stages(self, losses_: dict[str, float], stages: Sequence[Mapping[str, Any]] | None) -> list[Stage]:
        schedule = ([Stage(s.get("steps"), dict(s["losses"]), dict(s.get("forward") or {}),
                           _checked_optimizer_settings(s.get("optimizer") or {})) for s in stages]
                    if stages else [Stage(None, losses_)])
        for index, stage in enumerate(schedule):
            if stage.steps is None and index != len(schedule) - 1:
                raise ValueError("only the last stage may run without a step count")
            missing = views_of(stage.losses) - set(self.views)
            if missing:
                raise ValueError(f"loss terms need discriminator view(s) {sorted(missing)} that are not configured")
            self._validate_forward_options(stage.forward, set(stage.terms))
        return schedule

    def _validate_forward_options(self, forward: dict[str, Any], terms: set[str]) -> None:
        validate = getattr(self.generator, "validate_stage", None)
        if validate is not None:
            validate(forward, terms)
        elif forward:
            raise ValueError(f"this backbone takes no stage forward options, got {sorted(forward)}")

    # ---------------------------------------------------------------- inputs and predictions
    def prepare(self, image: Tensor, hole: Tensor) -> tuple[Tensor, Tensor]:
        """(generator input with zeros in the hole, target): mono target for the mono bottleneck."""
        known = 1.0 - hole
        if self.bottleneck == "mono":
            mono = rgb_to_mono(image)
            return torch.cat([image, mono], dim=1) * known, mono
        return image * known, image

    def forward(self, image: Tensor, hole: Tensor) -> Tensor:
        """The completed prediction (monochrome or RGB), known pixels kept."""
        x, target = self.prepare(image, hole)
        return completed_prediction(self.generator(x, hole)["output"], target, hole)

    def stage_index(self, step: int) -> int:
        """The index of the stage that `step` falls into."""
        start = 0
        for index, stage in enumerate(self.stages):
            if stage.steps is None or step < start + stage.steps:
                return index
            start += stage.steps
        return len(self.stages) - 1

    def active_stage(self, step: int) -> Stage:
        """The stage that `step` falls into."""
        return self.stages[self.stage_index(step)]

    def _training_inputs(self, batch: dict[str, Tensor], target: Tensor) -> dict[str, Tensor]:
        """The hook's extra forward inputs: the batch's loader-computed `edges` if any, else `hook(target)`."""
        hook = getattr(self.generator, "training_inputs", None)
        if hook is None:
            return {}
        return {"edges": batch["edges"]} if "edges" in batch else hook(target)

    def _view_pairs(self, views: set[str], outputs: dict[str, Tensor], completed: Tensor | None, target: Tensor,
                    hole: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        pairs = {} if completed is None else {"output": (completed, target)}
        extra = getattr(self.generator, "adversarial_views", None)
        if extra is not None:
            pairs.update(extra(outputs, target, hole, views))
        return {view: pairs[view] for view in views}

    # ---------------------------------------------------------------- optimization
    def stage_optimizer_settings(self, index: int) -> dict[str, Any]:
        """The optimizer settings of stage `index`: the module's, replaced by the stage's own."""
        return {**self.optimizer_settings, **self.stages[index].optimizer}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        settings = self.stage_optimizer_settings(0)
        return torch.optim.Adam(self.generator.parameters(), lr=settings["lr"], betas=tuple(settings["betas"]))

    def discriminator_optimizer(self) -> torch.optim.Optimizer:
        """The discriminators' Adam (module-owned so that `global_step` counts generator steps)."""
        if self._d_optimizer is None:
            settings = self.stage_optimizer_settings(self._stage_index or 0)
            self._d_optimizer = torch.optim.Adam(self.discriminators.parameters(),
                                                 lr=settings["d_lr"] or settings["lr"], betas=tuple(settings["betas"]))
            if self._d_optimizer_state is not None:
                self._d_optimizer.load_state_dict(self._d_optimizer_state)
        return self._d_optimizer

    def _enter_stage(self, index: int) -> None:
        """Fresh Adam states at stage `index`'s settings, for the generator and the discriminators (the
        releases train each stage as a separate run, e.g. EdgeConnect's models 1, 2, 3)."""
        settings = self.stage_optimizer_settings(index)
        _restart_adam(self.optimizers().optimizer, settings["lr"], settings["betas"])
        if self._d_optimizer is not None:
            _restart_adam(self._d_optimizer, settings["d_lr"] or settings["lr"], settings["betas"])
        self._d_optimizer_state = None
        self._stage_index = index

    def on_fit_start(self) -> None:
        precision = str(self.trainer.precision)
        if precision.startswith("16"):
            raise ValueError("precision 16-mixed is not supported (loss scaling); use 32-true or bf16-mixed")
        for stage in self.stages:  # fail now, not at a later stage, if ImageNet weights are missing
            require_pretrained_terms(stage.terms, self.loss_options)

    def _discriminator_step(self, views: set[str], pairs: dict[str, tuple[Tensor, Tensor]], hole: Tensor) -> Tensor:
        total = torch.zeros((), device=hole.device)
        for view in sorted(views):
            spec, discriminator = self.views[view], self.discriminators[view]
            total = total + critic_loss(spec["adversarial"], lambda x, d=discriminator: d(x, hole)["logits"],
                                        pairs[view][1], pairs[view][0].detach(), spec.get("gp_weight", 10.0),
                                        self.loss_range)
        optimizer = self.discriminator_optimizer()
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(total)
        optimizer.step()
        return total.detach()

    def _critic_steps(self, views: set[str], pairs: dict[str, tuple[Tensor, Tensor]], hole: Tensor) -> dict[str, Tensor]:
        """`critic_steps` discriminator steps on the views (none without views); the last loss as a log."""
        logs = {}
        for _ in range(self.critic_steps if views else 0):
            logs["train/d_loss"] = self._discriminator_step(views, pairs, hole)
        return logs

    def _generator_step(self, terms: dict[str, float], context: TermContext,
                        pairs: dict[str, tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
        """One generator step on the weighted terms, the discriminators' verdicts as they are now; its logs."""
        for view in context.adversarial:
            discriminator = self.discriminators[view]
            discriminator.requires_grad_(False)
            context.fake_verdicts[view] = discriminator(pairs[view][0], context.hole)
            with torch.no_grad():
                context.real_verdicts[view] = discriminator(pairs[view][1], context.hole)
        values = {name: term_value(name, context) for name in terms}
        g_loss = sum(weight * values[name] for name, weight in terms.items())
        optimizer = self.optimizers()
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        optimizer.step()
        for view in context.adversarial:
            self.discriminators[view].requires_grad_(True)
        return {**{f"train/{name}": value.detach() for name, value in values.items()}, "train/g_loss": g_loss.detach()}

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        image, hole = batch["image"], batch["hole"]
        x, target = self.prepare(image, hole)
        index = self.stage_index(self.global_step)
        if index != self._stage_index:
            self._enter_stage(index)
        stage = self.stages[index]
        views = views_of(stage.terms)
        outputs = self.generator(x, hole, **self._training_inputs(batch, target), **stage.forward)
        completed = completed_prediction(outputs["output"], target, hole) if "output" in outputs else None
        pairs = self._view_pairs(views, outputs, completed, target, hole)
        context = TermContext(outputs=outputs, completed=completed, target=target, hole=hole,
                              adversarial={v: self.views[v]["adversarial"] for v in views},
                              value_range=self.loss_range, loss_options=self.loss_options)
        if self.critic_first:
            logs = {**self._critic_steps(views, pairs, hole), **self._generator_step(stage.terms, context, pairs)}
        else:
            logs = {**self._generator_step(stage.terms, context, pairs), **self._critic_steps(views, pairs, hole)}
        self.log_dict(logs, prog_bar=False, batch_size=image.shape[0])
        self.log("train/loss", logs["train/g_loss"], prog_bar=True, batch_size=image.shape[0])
        return logs["train/g_loss"]

    # ---------------------------------------------------------------- validation
    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        image, hole = batch["image"], batch["hole"]
        _, target = self.prepare(image, hole)
        completed = self(image, hole).clamp(0, 1)
        size = image.shape[0]
        self.log("val/psnr", psnr_per_image(completed, target).mean(), sync_dist=True, batch_size=size)
        self.log("val/ssim", ssim(completed, target), sync_dist=True, batch_size=size)
        self.log("val/hole_l1", masked_l1(completed, target, hole), sync_dist=True, batch_size=size,
                 prog_bar=True)
        if batch_idx == 0 and self.global_rank == 0:
            self._log_samples(image, hole, completed, target)

    def _log_samples(self, image: Tensor, hole: Tensor, completed: Tensor, target: Tensor) -> None:
        count = min(self.hparams.num_samples, image.shape[0])
        grid = sample_grid(image[:count] * (1 - hole[:count]), hole[:count], completed[:count], target[:count])
        logged = False
        for logger in self.loggers:
            log_image = getattr(logger, "log_image", None)
            if log_image is not None:  # W&B
                log_image(key="val/samples", images=[to_uint8(grid)], step=self.global_step,
                          caption=["rows: input | mask | output | target"])
                logged = True
        if not logged:  # CSV or no logger: a PNG in the run directory
            write_image(Path(self.trainer.default_root_dir) / "samples" / f"step_{self.global_step:07d}.png", grid)

    # ---------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self._d_optimizer is not None:
            checkpoint["discriminator_optimizer"] = self._d_optimizer.state_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._d_optimizer_state = checkpoint.get("discriminator_optimizer")
        done = checkpoint.get("global_step", 0)
        self._stage_index = self.stage_index(done - 1) if done else None  # the restored Adam states' stage


def _restart_adam(optimizer: torch.optim.Optimizer, lr: float, betas: Sequence[float]) -> None:
    """`optimizer` without its state (moments, step counts), at learning rate `lr` and `betas`."""
    optimizer.state.clear()
    for group in optimizer.param_groups:
        group.update(lr=lr, betas=tuple(betas))


def _checked_optimizer_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` as a dict; raises ValueError for a key that is not an optimizer setting."""
    unknown = set(settings) - OPTIMIZER_SETTINGS
    if unknown:
        raise ValueError(f"unknown optimizer setting(s) {sorted(unknown)}; expected {sorted(OPTIMIZER_SETTINGS)}")
    return dict(settings)
