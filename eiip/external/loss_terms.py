"""Named generator loss terms, so a backbone's objective is a config dict `{term: weight}`.

Each term reads a `TermContext` (the generator's outputs, the target, the hole, the discriminator
verdicts on the generated views) and returns a scalar. `adv_<view>` and `fm_<view>` are the
adversarial and feature-matching terms of discriminator view `<view>` (e.g. `adv_output`,
`fm_edges`). VGG-based terms build their (pretrained, frozen) feature network on first use, so a
config that switches them off never needs the ImageNet weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

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


@dataclass
class TermContext:
    """What the loss terms of one generator step may read."""

    outputs: dict[str, Tensor]
    completed: Tensor
    target: Tensor
    hole: Tensor
    fake_verdicts: dict[str, dict[str, list[Tensor]]] = field(default_factory=dict)
    real_verdicts: dict[str, dict[str, list[Tensor]]] = field(default_factory=dict)
    adversarial: dict[str, str] = field(default_factory=dict)


def _resized(x: Tensor, like: Tensor) -> Tensor:
    return x if x.shape[-2:] == like.shape[-2:] else F.interpolate(x, size=like.shape[-2:], mode="bilinear")


class _VGGTerms:
    """Lazily built VGG19 losses (pretrained weights are only needed when such a term is on)."""

    CLASSES = {"perceptual": losses.PerceptualLoss, "style": losses.StyleLoss, "id_mrf": losses.IDMRFLoss}

    def __init__(self) -> None:
        self._modules: dict[str, torch.nn.Module] = {}

    def get(self, name: str) -> torch.nn.Module:
        if name not in self._modules:
            self._modules[name] = self.CLASSES[name].pretrained()
        return self._modules[name]


_VGG = _VGGTerms()
#: The terms that need ImageNet VGG19 weights (train.py pretrained_losses=false drops them).
PRETRAINED_TERMS: frozenset[str] = frozenset(_VGGTerms.CLASSES)


def require_pretrained_terms(names: Iterable[str]) -> None:
    """Build the VGG-based terms among `names` now: raises PretrainedWeightsMissing if weights are absent."""
    for name in names:
        if name in _VGGTerms.CLASSES:
            _VGG.get(name)


def _reconstruction_terms() -> dict[str, Callable[[TermContext], Tensor]]:
    return {
        "l1": lambda c: losses.l1_loss(c.outputs["output"], c.target),
        "l1_over_hole_ratio": lambda c: losses.l1_over_hole_ratio(c.outputs["output"], c.target, c.hole),
        "coarse_l1": lambda c: losses.l1_loss(_resized(c.outputs["coarse"], c.target), c.target),
        "hole_l1": lambda c: losses.hole_valid_l1(c.outputs["output"], c.target, c.hole)[0],
        "valid_l1": lambda c: losses.hole_valid_l1(c.outputs["output"], c.target, c.hole)[1],
        "confidence_l1": lambda c: losses.confidence_driven_l1(c.outputs["output"], c.target, c.hole),
        "perceptual": lambda c: _VGG.get("perceptual")(c.outputs["output"], c.target),
        "style": lambda c: _VGG.get("style")(c.outputs["output"] * c.hole, c.target * c.hole),
        "id_mrf": lambda c: _VGG.get("id_mrf")(c.completed, c.target),
    }


RECONSTRUCTION_TERMS = _reconstruction_terms()


def term_value(name: str, context: TermContext) -> Tensor:
    """The value of term `name` (a reconstruction term, `adv_<view>` or `fm_<view>`)."""
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


def views_of(terms: dict[str, float]) -> set[str]:
    """Discriminator views that the active adversarial / feature-matching terms need."""
    return {name.partition("_")[2] for name, weight in terms.items()
            if weight and name.partition("_")[0] in ("adv", "fm") and name not in RECONSTRUCTION_TERMS}
