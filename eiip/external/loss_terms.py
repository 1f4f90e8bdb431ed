"""Named generator loss terms, so a backbone's objective is a config dict `{term: weight}`.

Each term reads a `TermContext` (the generator's outputs, the target, the hole, the discriminator
verdicts on the generated views) and returns a scalar. `adv_<view>` and `fm_<view>` are the
adversarial and feature-matching terms of discriminator view `<view>` (e.g. `adv_output`,
`fm_edges`). VGG-based terms build their (pretrained, frozen) feature network on first use, so a
config that switches them off never needs the ImageNet weights; a backbone's `loss_options`
(`TermContext.loss_options`, `{term: {keyword: value}}`) are their constructor's keywords (e.g.
GMCNN's ID-MRF reduction and centering).

The pixel L1 terms are taken in the objective's value range (`TermContext.value_range`, a
backbone's `loss_range`): images are [0, 1] tensors, and an L1 distance on the affine image
[low, high] is (high - low) times the [0, 1] one, so these terms are scaled by the range's width
(2 on the TensorFlow releases' [-1, 1]). VGG terms read [0, 1] images, as their feature networks do.

Every loss is computed in float32, also under mixed precision (`precision: bf16-mixed`): the terms,
the discriminators' losses and the gradient penalty run with autocast off on their inputs cast to
float32 (`in_float32`), as the four releases train in fp32; the generators' and discriminators'
forward passes stay under autocast (the gradient penalty's critic pass excepted: its double
backward runs in float32).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from eiip.external import losses

GENERATOR_ADVERSARIAL: dict[str, Callable[[list[Tensor]], Tensor]] = {
    "hinge": losses.hinge_g_loss,
    "nsgan": losses.nsgan_g_loss,
    "wgan-gp": losses.wgan_g_loss,
}
DISCRIMINATOR_ADVERSARIAL: dict[str, Callable[[list[Tensor], list[Tensor]], Tensor]] = {
    "hinge": losses.hinge_d_loss,
    "nsgan": losses.nsgan_d_loss,
    "wgan-gp": losses.wgan_d_loss,
}


Value = TypeVar("Value")


def _float32(value: Value) -> Value:
    """`value` with its floating-point tensors (also inside dicts, lists, tuples and dataclasses) as float32."""
    if isinstance(value, Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, dict):
        return {key: _float32(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_float32(item) for item in value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: _float32(getattr(value, f.name)) for f in fields(value)})
    return value


def in_float32(device: torch.device, loss: Callable[..., Tensor], *args: Any) -> Tensor:
    """`loss(*args)` in float32: autocast off on `device`'s type, floating-point tensors in `args` cast to float32."""
    with torch.autocast(device.type, enabled=False):
        return loss(*_float32(args))


@dataclass
class TermContext:
    """What the loss terms of one generator step may read (`completed`: None when the generator
    gives no "output", e.g. EdgeConnect's edge model alone)."""

    outputs: dict[str, Tensor]
    completed: Tensor | None
    target: Tensor
    hole: Tensor
    fake_verdicts: dict[str, dict[str, list[Tensor]]] = field(default_factory=dict)
    real_verdicts: dict[str, dict[str, list[Tensor]]] = field(default_factory=dict)
    adversarial: dict[str, str] = field(default_factory=dict)
    value_range: losses.ValueRange = (0.0, 1.0)
    loss_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _resized(x: Tensor, like: Tensor) -> Tensor:
    return x if x.shape[-2:] == like.shape[-2:] else F.interpolate(x, size=like.shape[-2:], mode="bilinear")


def _coarse(c: TermContext) -> Tensor:
    """The coarse stage's output at the target's size."""
    return _resized(c.outputs["coarse"], c.target)


class _VGGTerms:
    """Lazily built VGG19 losses (pretrained weights are only needed when such a term is on)."""

    CLASSES = {"perceptual": losses.PerceptualLoss, "style": losses.StyleLoss, "id_mrf": losses.IDMRFLoss}

    def __init__(self) -> None:
        self._modules: dict[tuple[str, str], torch.nn.Module] = {}

    def get(self, name: str, options: Mapping[str, Any] | None = None) -> torch.nn.Module:
        """The loss `name` built with constructor keywords `options` (one instance per distinct options)."""
        options = dict(options or {})
        key = (name, repr(sorted(options.items())))
        if key not in self._modules:
            self._modules[key] = self.CLASSES[name].pretrained(**options)
        return self._modules[key]


_VGG = _VGGTerms()
#: The terms that need ImageNet VGG19 weights (train.py pretrained_losses=false drops them).
PRETRAINED_TERMS: frozenset[str] = frozenset(_VGGTerms.CLASSES)


def require_pretrained_terms(names: Iterable[str],
                             loss_options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Build the VGG-based terms among `names` (with their `loss_options`) now: raises
    PretrainedWeightsMissing if weights are absent."""
    for name in names:
        if name in _VGGTerms.CLASSES:
            _VGG.get(name, (loss_options or {}).get(name))


def _vgg_term(name: str, context: TermContext) -> torch.nn.Module:
    """The VGG-based loss `name` with the context's options for it."""
    return _VGG.get(name, context.loss_options.get(name))


def _pixel_l1_terms() -> dict[str, Callable[[TermContext], Tensor]]:
    """The L1 terms on [0, 1] images (`_in_value_range` scales them to the context's range)."""
    return {
        "l1": lambda c: losses.l1_loss(c.outputs["output"], c.target),
        "l1_over_hole_ratio": lambda c: losses.l1_over_hole_ratio(c.outputs["output"], c.target, c.hole),
        "coarse_l1": lambda c: losses.l1_loss(_coarse(c), c.target),
        "hole_l1": lambda c: losses.hole_valid_l1(c.outputs["output"], c.target, c.hole)[0],
        "valid_l1": lambda c: losses.hole_valid_l1(c.outputs["output"], c.target, c.hole)[1],
        "hole_l1_unnormalized": lambda c: losses.hole_l1_unnormalized(c.outputs["output"], c.target, c.hole),
        "coarse_hole_l1_unnormalized": lambda c: losses.hole_l1_unnormalized(_coarse(c), c.target, c.hole),
        "coarse_valid_l1": lambda c: losses.hole_valid_l1(_coarse(c), c.target, c.hole)[1],
        "confidence_l1": lambda c: losses.confidence_driven_l1(c.outputs["output"], c.target, c.hole),
    }


def _in_value_range(term: Callable[[TermContext], Tensor]) -> Callable[[TermContext], Tensor]:
    return lambda c: losses.range_width(c.value_range) * term(c)


def _reconstruction_terms() -> dict[str, Callable[[TermContext], Tensor]]:
    return {
        **{name: _in_value_range(term) for name, term in _pixel_l1_terms().items()},
        "perceptual": lambda c: _vgg_term("perceptual", c)(c.outputs["output"], c.target),
        "style": lambda c: _vgg_term("style", c)(c.outputs["output"] * c.hole, c.target * c.hole),
        "id_mrf": lambda c: _vgg_term("id_mrf", c)(c.completed, c.target),
    }


RECONSTRUCTION_TERMS = _reconstruction_terms()


def term_value(name: str, context: TermContext) -> Tensor:
    """The value of term `name` (a reconstruction term, `adv_<view>` or `fm_<view>`), in float32."""
    return in_float32(context.target.device, functools.partial(_term_value, name), context)


def _term_value(name: str, context: TermContext) -> Tensor:
    if name in RECONSTRUCTION_TERMS:
        return RECONSTRUCTION_TERMS[name](context)
    kind, _, view = name.partition("_")
    if kind == "adv" and view in context.fake_verdicts:
        return GENERATOR_ADVERSARIAL[context.adversarial[view]](context.fake_verdicts[view]["logits"])
    if kind == "fm" and view in context.fake_verdicts:
        return losses.feature_matching_loss(context.real_verdicts[view]["features"],
                                            context.fake_verdicts[view]["features"])
    raise KeyError(f"unknown loss term {name!r}; reconstruction terms: {', '.join(RECONSTRUCTION_TERMS)}, "
                   "or adv_<view> / fm_<view> for a configured discriminator view")


def critic_loss(adversarial: str, critic: Callable[[Tensor], list[Tensor]], real: Tensor, fake: Tensor,
                gp_weight: float = 10.0, value_range: losses.ValueRange = (0.0, 1.0)) -> Tensor:
    """A discriminator's loss on (real, fake) of kind `adversarial`: its verdicts as the caller runs it
    (e.g. under autocast), the loss in float32; "wgan-gp" adds the gradient penalty, whose critic
    pass and double backward run entirely in float32."""
    loss = in_float32(real.device, DISCRIMINATOR_ADVERSARIAL[adversarial], critic(real), critic(fake))
    if adversarial == "wgan-gp":
        penalty = functools.partial(losses.gradient_penalty, critic, lambda_gp=gp_weight, value_range=value_range)
        loss = loss + in_float32(real.device, penalty, real, fake)
    return loss


def views_of(terms: dict[str, float]) -> set[str]:
    """Discriminator views that the active adversarial / feature-matching terms need."""
    return {name.partition("_")[2] for name, weight in terms.items()
            if weight and name.partition("_")[0] in ("adv", "fm") and name not in RECONSTRUCTION_TERMS}
