"""Each backbone's objective as its release computes it: value range of the L1 terms and of the
WGAN-GP slope, critic steps per generator step, GMCNN's PyTorch objective and its TensorFlow option
(`conf/backbone/*.yaml`, `ExternalInpainter`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from torch import Tensor, nn
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.utils.data import DataLoader

from eiip.external import loss_terms
from eiip.external.loss_terms import TermContext, term_value
from eiip.external.losses import IDMRFLoss
from eiip.external.module import ExternalInpainter, completed_prediction
from eiip.external.training import build_model
from eiip.pretrained import vgg19_features

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32
STEPS = 2
RELEASE_CRITIC_STEPS = {"gatedconv": 1, "edgeconnect": 1, "hifill": 3, "gmcnn": 5, "gmcnn_tf": 5}


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
    # pytorch/model/net.py forward_G: aeloss(pred * (1 - mask), gt * (1 - mask)) / mean(1 - mask), gt / 127.5 - 1
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
TERMS_OFF = {"edgeconnect": ("adv_edges", "fm_edges", "perceptual", "style"), "gmcnn": ("id_mrf",),
             "gmcnn_tf": ("id_mrf",)}


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


@pytest.mark.parametrize("backbone", ["hifill", "gmcnn_tf"])
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


def test_gmcnn_critic_loss_is_the_pytorch_release_hinge_without_penalty() -> None:
    """net.py forward_D: hinge on each critic's scores, no gradient penalty (the critic is ||w|| = 3:
    a penalty would add 10 (1.5 - 1)^2); eiip's hinge halves both parts (the same Adam steps)."""
    model = _model("gmcnn", 3.0, "backbone.optimizer.lr=0")
    trainer = _fit(model)
    image, hole = _batch()
    x, target = model.prepare(image, hole)
    fake = completed_prediction(StubGenerator.prediction(x), target, hole)
    critic = model.discriminators["output"]
    real_score, fake_score = critic(target, hole)["logits"][0], critic(fake, hole)["logits"][0]
    expected = 0.5 * F.relu(1.0 - real_score).mean() + 0.5 * F.relu(1.0 + fake_score).mean()
    torch.testing.assert_close(trainer.callback_metrics["train/d_loss"], expected.detach())


@pytest.mark.parametrize("backbone", ["gmcnn", "gmcnn_tf"])
def test_gmcnn_learning_rate_is_the_releases(backbone: str) -> None:
    """train_options.py --lr 1e-5 (both releases), Adam betas (0.5, 0.9), generator and critics."""
    model = _model(backbone)
    for optimizer in (model.configure_optimizers(), model.discriminator_optimizer()):
        assert optimizer.defaults["lr"] == 1e-5
        assert optimizer.defaults["betas"] == (0.5, 0.9)


def _id_mrf(model: ExternalInpainter, target: Tensor, completed: Tensor) -> Tensor:
    context = TermContext(outputs={}, completed=completed, target=target, hole=torch.zeros_like(target[:, :1]),
                          loss_options=model.loss_options)
    return term_value("id_mrf", context)


def test_gmcnn_id_mrf_is_the_pytorch_release_sum_over_its_fine_tuning_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """loss.py mrf_loss: each image centred on its own (per position), the images' terms summed over
    the release's fine-tuning batch of 8: the term is 8 x the batch mean whatever the batch size,
    so 1, 2 or 4 images give the strength of the release's 8; the TensorFlow option keeps ops.py's."""
    monkeypatch.setattr(loss_terms, "_VGG", loss_terms._VGGTerms())
    torch.manual_seed(0)
    random_vgg19 = vgg19_features()
    monkeypatch.setattr(loss_terms.losses, "_shared_pretrained_vgg19", lambda: random_vgg19)
    model = _model("gmcnn")
    target, completed = torch.rand(2, 1, SIZE, SIZE), torch.rand(2, 1, SIZE, SIZE)
    release = IDMRFLoss(random_vgg19, centering="position", reduction="sum", max_positions=None)
    each = [release(completed[i:i + 1], target[i:i + 1]) for i in range(2)]  # the release's term of each image
    torch.testing.assert_close(_id_mrf(model, target[:1], completed[:1]), 8 * each[0])
    torch.testing.assert_close(_id_mrf(model, target, completed), 4 * (each[0] + each[1]))
    torch.testing.assert_close(_id_mrf(model, target.repeat(2, 1, 1, 1), completed.repeat(2, 1, 1, 1)),
                               4 * (each[0] + each[1]))
    assert _model("gmcnn_tf").loss_options == {"id_mrf": {"centering": "batch", "reduction": "mean",
                                                          "sum_batch": None, "max_positions": 65 * 65}}
    with pytest.raises(ValueError, match="sum_batch"):
        IDMRFLoss(random_vgg19, reduction="mean", sum_batch=8)


def test_every_stage_starts_with_fresh_adam_states_at_its_settings() -> None:
    """As the releases' separate runs per stage: at a stage change the generator's and the critics'
    Adam forget their moments and step counts and take the stage's learning rates."""
    stages = [{"steps": 1, "losses": {"l1": 1.0, "adv_output": 1.0}},
              {"steps": None, "losses": {"l1": 1.0, "adv_output": 1.0}, "optimizer": {"lr": 1e-6, "d_lr": 1e-7}}]
    model = ExternalInpainter("gatedconv", generator={"cnum": 4}, stages=stages, optimizer={"lr": 1e-4},
                              discriminators={"output": {"name": "gatedconv", "adversarial": "hinge"}})
    model.generator, model.discriminators["output"] = StubGenerator(), LinearCritic(1, 1.0)
    seen: list[tuple[str, float, int]] = []  # before each optimizer step: network, lr, Adam steps taken so far

    def record(optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        first = optimizer.param_groups[0]["params"][0]
        steps = int(optimizer.state[first]["step"]) if optimizer.state[first] else 0
        seen.append(("generator" if first is model.generator.offset else "critic", optimizer.param_groups[0]["lr"], steps))

    handle = register_optimizer_step_pre_hook(record)
    try:
        _fit(model)
    finally:
        handle.remove()
    assert seen == [("critic", 1e-4, 0), ("generator", 1e-4, 0), ("critic", 1e-7, 0), ("generator", 1e-6, 0)]


def test_a_resumed_run_keeps_the_adam_states_of_its_stage() -> None:
    """The restored states belong to the stage of the checkpoint's last step: kept within it, dropped after it."""
    model = ExternalInpainter("gatedconv", generator={"cnum": 4},
                              stages=[{"steps": 2, "losses": {"l1": 1.0}}, {"steps": None, "losses": {"l1": 0.5}}])
    for done, stage in ((0, None), (1, 0), (2, 0), (3, 1)):
        model.on_load_checkpoint({"global_step": done})
        assert model._stage_index == stage


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
