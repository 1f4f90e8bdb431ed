"""Each backbone's objective as its release computes it: value range of the L1 terms and of the
WGAN-GP slope, critic steps per generator step (`conf/backbone/*.yaml`, `ExternalInpainter`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from torch import Tensor, nn
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.utils.data import DataLoader

from eiip.external.module import ExternalInpainter, completed_prediction
from eiip.external.training import build_model

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32
STEPS = 2
RELEASE_CRITIC_STEPS = {"gatedconv": 1, "edgeconnect": 1, "hifill": 3, "gmcnn": 5}


def _signed(x: Tensor) -> Tensor:
    return 2.0 * x - 1.0


def _valid_l1(output: Tensor, target: Tensor, hole: Tensor) -> Tensor:
    """HiFill / GMCNN `ae_loss`: mean(|real - x| * (1 - mask)) / mean(1 - mask)."""
    known = (1.0 - hole).expand_as(output)
    return ((target - output).abs() * known).mean() / known.mean()


#: backbone -> (term, the release's formula on the release's range, computed from [0, 1] tensors)
RELEASE_L1: dict[str, tuple[str, Callable[[Tensor, Tensor, Tensor], Tensor]]] = {
    # inpaint_model.py: mean(|batch_pos - x2|), batch_pos = batch_data / 127.5 - 1
    "gatedconv": ("l1", lambda o, t, m: (_signed(t) - _signed(o)).abs().mean()),
    # model.py build_graph_with_losses: ae_loss on real = real / 127.5 - 1
    "hifill": ("valid_l1", lambda o, t, m: _valid_l1(_signed(o), _signed(t), m)),
    # tensorflow/net/network.py build_net: ae_loss on batch_pos = batch_data / 127.5 - 1
    "gmcnn": ("valid_l1", lambda o, t, m: _valid_l1(_signed(o), _signed(t), m)),
    # src/models.py InpaintingModel: L1(outputs, images) / mean(masks), images from to_tensor ([0, 1])
    "edgeconnect": ("l1_over_hole_ratio", lambda o, t, m: (o - t).abs().mean() / m.mean()),
}


class StubGenerator(nn.Module):
    """A fixed prediction per input (its parameter gets a zero gradient), as "output" and "coarse"."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(()))

    @staticmethod
    def prediction(x: Tensor) -> Tensor:
        """The prediction for generator input `x`: a fixed function of it, in [0, 1]."""
        return torch.sigmoid(3.0 * x[:, -1:] - x[:, :1])

    def forward(self, x: Tensor, hole: Tensor) -> dict[str, Tensor]:
        output = self.prediction(x) + 0.0 * self.offset
        return {"output": output, "coarse": output}


class LinearCritic(nn.Module):
    """critic(x) = <w, x> on the [0, 1] image, one head; ||w|| = `norm`."""

    def __init__(self, channels: int, norm: float) -> None:
        super().__init__()
        weight = torch.randn(1, channels, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
        self.weight = nn.Parameter(norm * weight / weight.norm())

    def forward(self, image: Tensor, hole: Tensor) -> dict[str, list[Tensor]]:
        return {"logits": [(image * self.weight).sum(dim=(1, 2, 3)).unsqueeze(1)], "features": []}


#: the terms switched off: VGG terms (no ImageNet weights here) and EdgeConnect's edge model (the stub has none)
TERMS_OFF = {"edgeconnect": ("adv_edges", "fm_edges", "perceptual", "style"), "gmcnn": ("id_mrf",)}


def _model(backbone: str, critic_norm: float = 1.0, *extra: str) -> ExternalInpainter:
    """The backbone's configured objective on a stub generator and linear critics (on the mono bottleneck)."""
    overrides = [f"backbone={backbone}", f"data.train_size=[{SIZE},{SIZE}]", "backbone.stages=null",
                 *(f"backbone.losses.{term}=0" for term in TERMS_OFF.get(backbone, ())), *extra]
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    torch.manual_seed(0)
    model = build_model(cfg)
    model.generator = StubGenerator()
    for view in model.discriminators:
        model.discriminators[view] = LinearCritic(1, critic_norm)
    return model


def _batch() -> tuple[Tensor, Tensor]:
    image = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    hole = torch.zeros(2, 1, SIZE, SIZE)
    hole[:, :, 8:20, 10:26] = 1.0
    return image, hole


@contextmanager
def _counted_steps(model: ExternalInpainter) -> Iterator[Counter]:
    """Counts optimizer steps while inside: "critic" for the discriminators' Adam, "generator" else."""
    counts: Counter = Counter()
    critic_optimizer = model.discriminator_optimizer()
    handle = register_optimizer_step_post_hook(
        lambda optimizer, args, kwargs: counts.update(["critic" if optimizer is critic_optimizer else "generator"]))
    try:
        yield counts
    finally:
        handle.remove()


def _fit(model: ExternalInpainter) -> L.Trainer:
    image, hole = _batch()
    batches = [{"image": image[i], "hole": hole[i]} for i in range(2)] * STEPS
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=STEPS, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, DataLoader(batches, batch_size=2))
    return trainer


@pytest.mark.parametrize("backbone", sorted(RELEASE_L1))
def test_l1_term_is_the_release_formula_in_the_release_range(backbone: str) -> None:
    model = _model(backbone)
    trainer = _fit(model)
    image, hole = _batch()
    x, target = model.prepare(image, hole)
    term, formula = RELEASE_L1[backbone]
    expected = formula(StubGenerator.prediction(x), target, hole)
    torch.testing.assert_close(trainer.callback_metrics[f"train/{term}"], expected)


@pytest.mark.parametrize("backbone", ["hifill", "gmcnn"])
def test_gradient_penalty_slope_is_in_the_release_units(backbone: str) -> None:
    """A critic linear in its [0, 1] input with ||w|| = 3 has slope 1.5 on [-1, 1]: penalty 10 (1.5 - 1)^2."""
    model = _model(backbone, 3.0, "backbone.optimizer.lr=0")  # the critic stays as built
    trainer = _fit(model)
    image, hole = _batch()
    x, target = model.prepare(image, hole)
    fake = completed_prediction(StubGenerator.prediction(x), target, hole)
    critic = model.discriminators["output"]
    wgan = critic(fake, hole)["logits"][0].mean() - critic(target, hole)["logits"][0].mean()
    expected = wgan.detach() + 10.0 * (1.5 - 1.0) ** 2
    torch.testing.assert_close(trainer.callback_metrics["train/d_loss"], expected, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("backbone", sorted(RELEASE_CRITIC_STEPS))
def test_release_critic_steps_per_generator_step_and_global_step(backbone: str) -> None:
    model = _model(backbone)
    with _counted_steps(model) as counts:
        trainer = _fit(model)
    assert counts == {"generator": STEPS, "critic": STEPS * RELEASE_CRITIC_STEPS[backbone]}
    assert trainer.global_step == STEPS


def test_loss_range_and_critic_steps_are_validated() -> None:
    with pytest.raises(ValueError, match="low < high"):
        ExternalInpainter("gatedconv", generator={"cnum": 4}, loss_range=(1, -1))
    with pytest.raises(ValueError, match="critic_steps"):
        ExternalInpainter("gatedconv", generator={"cnum": 4}, critic_steps=0)
