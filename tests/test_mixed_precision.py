"""Mixed precision leaves the objective alone: under CPU bf16 autocast (`precision: bf16-mixed`) every
loss term, discriminator loss and gradient penalty equals its float32 value (`eiip.external.loss_terms`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import torch
from torch import Tensor, nn

from eiip.external import loss_terms
from eiip.external.loss_terms import DISCRIMINATOR_ADVERSARIAL, RECONSTRUCTION_TERMS, TermContext, critic_loss, term_value
from eiip.external.losses import gradient_penalty
from eiip.external.module import completed_prediction
from eiip.pretrained import vgg19_features

SIZE = 32
GENERATOR_TERMS = [*RECONSTRUCTION_TERMS, "adv_output", "fm_output"]  # adv_output also for each other kind


@pytest.fixture(scope="module", autouse=True)
def random_vgg19() -> Iterator[None]:
    """The VGG-based terms on a seeded random VGG19 (no ImageNet weights needed)."""
    torch.manual_seed(0)
    features = vgg19_features()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loss_terms, "_VGG", loss_terms._VGGTerms())
        patch.setattr(loss_terms.losses, "_shared_pretrained_vgg19", lambda: features)
        yield


def _rand(*shape: int, seed: int) -> Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _bf16_context(adversarial: str) -> TermContext:
    """A generator step's context as bf16 autocast leaves it: the networks' outputs and the
    discriminator's verdicts in bf16, the target and hole in float32 (fixed values)."""
    output, coarse = _rand(2, 1, SIZE, SIZE, seed=1).bfloat16(), _rand(2, 1, SIZE // 2, SIZE // 2, seed=2).bfloat16()
    target = _rand(2, 1, SIZE, SIZE, seed=3)
    hole = torch.zeros(2, 1, SIZE, SIZE)
    hole[..., 6:22, 9:27] = 1.0
    fake = {"logits": [_rand(2, 1, 4, 4, seed=4).bfloat16() - 0.5], "features": [_rand(2, 8, 8, 8, seed=5).bfloat16()]}
    real = {"logits": [_rand(2, 1, 4, 4, seed=6).bfloat16()], "features": [_rand(2, 8, 8, 8, seed=7).bfloat16()]}
    return TermContext(outputs={"output": output, "coarse": coarse}, completed=completed_prediction(output, target, hole),
                       target=target, hole=hole, fake_verdicts={"output": fake}, real_verdicts={"output": real},
                       adversarial={"output": adversarial}, value_range=(-1.0, 1.0),
                       loss_options={"id_mrf": {"centering": "position", "reduction": "sum", "max_positions": None}})


def _in_float32(context: TermContext) -> TermContext:
    """`context` with every tensor as float32 (the reference values: no autocast, float32 inputs)."""
    def verdicts(view: dict[str, list[Tensor]]) -> dict[str, list[Tensor]]:
        return {key: [x.float() for x in tensors] for key, tensors in view.items()}

    return replace(context, outputs={key: x.float() for key, x in context.outputs.items()},
                   completed=context.completed.float(),
                   fake_verdicts={v: verdicts(d) for v, d in context.fake_verdicts.items()},
                   real_verdicts={v: verdicts(d) for v, d in context.real_verdicts.items()})


def _assert_float32_value(value: Tensor, expected: Tensor) -> None:
    assert value.dtype == torch.float32
    assert abs(value.item() - expected.item()) <= 1e-3 * abs(expected.item()), (value.item(), expected.item())


@pytest.mark.parametrize(("name", "adversarial"), [*((name, "hinge") for name in GENERATOR_TERMS),
                                                    *(("adv_output", kind) for kind in ("nsgan", "wgan-gp"))])
def test_generator_terms_under_bf16_autocast_equal_their_float32_values(name: str, adversarial: str) -> None:
    context = _bf16_context(adversarial)
    expected = term_value(name, _in_float32(context))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = term_value(name, context)
    _assert_float32_value(value, expected)


class SmallCritic(nn.Module):
    """Two convolutions (which bf16 autocast runs in bf16), one head of 8x8 logits."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                                    nn.Conv2d(8, 1, 3, stride=2, padding=1))

    def forward(self, image: Tensor) -> list[Tensor]:
        return [self.layers(image)]


@pytest.mark.parametrize("adversarial", sorted(DISCRIMINATOR_ADVERSARIAL))
def test_critic_losses_under_bf16_autocast_equal_their_float32_values(adversarial: str) -> None:
    """The loss of the critic's (bf16) verdicts in float32; WGAN-GP's penalty entirely in float32."""
    critic, real, fake = SmallCritic(), _rand(2, 1, SIZE, SIZE, seed=1), _rand(2, 1, SIZE, SIZE, seed=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        verdicts = [critic(real)[0].float(), critic(fake)[0].float()]
    expected = DISCRIMINATOR_ADVERSARIAL[adversarial](*verdicts)
    if adversarial == "wgan-gp":
        torch.manual_seed(3)
        expected = expected + gradient_penalty(critic, real, fake, 10.0, value_range=(-1.0, 1.0))
    torch.manual_seed(3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = critic_loss(adversarial, critic, real, fake, 10.0, (-1.0, 1.0))
    _assert_float32_value(value, expected)
