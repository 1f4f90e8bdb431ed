"""Losses of the four external-stage backbones (pure functions and small frozen-feature modules).

Conventions: images are (B, C, H, W) in [0, 1]; ``hole`` is (B, 1, H, W), 1 (or True) = missing.
Adversarial arguments may be a tensor or a list of tensors (one per discriminator head, e.g. GMCNN's
global + local); per-head losses are summed, as GMCNN's release does.

Sources of the published formulas: DeepFill v2 / SN-PatchGAN (``gan_sn_patch_gan_loss``),
EdgeConnect (knazeri/edge-connect ``src/loss.py``, ``src/models.py``), GMCNN
(shepnerd/inpainting_gmcnn ``pytorch/model/{loss,layer,net}.py``, ``pytorch/util/utils.py``,
``pytorch/options/train_options.py``), HiFill (duxingren14/Hifill-tensorflow ``model.py``).

VGG-based losses take the feature stack in the constructor (``vgg19_features()`` for tests,
``.pretrained()`` for ImageNet weights from the torch.hub cache). The stack is frozen and *not*
registered as a submodule: it stays out of ``state_dict()`` (no ~80 MB VGG19 in every checkpoint)
and out of ``parameters()``, and follows the input's device on first use. Instances created with
``.pretrained()`` share one VGG19 per process. Inputs are [0, 1] images with 1 (the monochromic
bottleneck, repeated to 3) or 3 channels; ``input_norm`` follows each release: EdgeConnect feeds
VGG19 the raw [0, 1] image ("none"), GMCNN subtracts the ImageNet mean ("mean"); "imagenet"
(mean/std) is available, but the published weights (perceptual 0.1, style 250, mrf 0.05) were
tuned with the release's setting.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eiip.pretrained import IMAGENET_MEAN, IMAGENET_STD, VGG19_LAYER_INDEX, load_imagenet_features

__all__ = [
    "IDMRFLoss",
    "PerceptualLoss",
    "StyleLoss",
    "confidence_driven_l1",
    "confidence_weight_map",
    "feature_matching_loss",
    "gradient_penalty",
    "gram_matrix",
    "hinge_d_loss",
    "hinge_g_loss",
    "hole_l1_unnormalized",
    "hole_valid_l1",
    "l1_loss",
    "l1_over_hole_ratio",
    "masked_l1",
    "nsgan_d_loss",
    "nsgan_g_loss",
    "range_width",
    "wgan_d_loss",
    "wgan_g_loss",
]

Logits = Tensor | Sequence[Tensor]
InputNorm = Literal["none", "mean", "imagenet"]
ValueRange = tuple[float, float]


def range_width(value_range: ValueRange) -> float:
    """high - low of a (low, high) value range; raises unless high > low."""
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ValueError(f"a value range needs low < high, got {tuple(value_range)}")
    return high - low

# --------------------------------------------------------------------------------------------------
# Reconstruction
# --------------------------------------------------------------------------------------------------


def l1_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error over all elements."""
    return (pred - target).abs().mean()


def l1_over_hole_ratio(pred: Tensor, target: Tensor, hole: Tensor, eps: float = 1e-8) -> Tensor:
    """EdgeConnect's L1: mean |pred - target| over all elements, divided by the hole ratio mean(hole)."""
    return l1_loss(pred, target) / hole.to(pred.dtype).mean().clamp_min(eps)


def masked_l1(pred: Tensor, target: Tensor, weight_map: Tensor, eps: float = 1e-8) -> Tensor:
    """sum(|pred - target| * w) / sum(w), `w` broadcast to pred's shape (mean over weighted pixels)."""
    weight = weight_map.to(pred.dtype).expand_as(pred)
    return ((pred - target).abs() * weight).sum() / weight.sum().clamp_min(eps)


def hole_l1_unnormalized(pred: Tensor, target: Tensor, hole: Tensor) -> Tensor:
    """HiFill's hole L1: mean over *all* elements of |pred - target| * hole (not divided by the hole area)."""
    return ((pred - target).abs() * hole.to(pred.dtype)).mean()


def hole_valid_l1(pred: Tensor, target: Tensor, hole: Tensor) -> tuple[Tensor, Tensor]:
    """(hole L1, valid L1), each normalized by its own region's pixels; the valid one is the
    ``ae`` loss of HiFill and GMCNN (mean(|pred - target| * valid) / mean(valid))."""
    hole = hole.to(pred.dtype)
    return masked_l1(pred, target, hole), masked_l1(pred, target, 1.0 - hole)


def _gmcnn_gaussian_1d(kernel_size: int, sigma: float) -> Tensor:
    """1-D factor of GMCNN's ``gauss_kernel``: the 2-D kernel sqrt(outer(k, k)) is separable."""
    interval = (2.0 * sigma + 1.0) / kernel_size
    edges = torch.linspace(-sigma - interval / 2, sigma + interval / 2, kernel_size + 1, dtype=torch.float64)
    factor = torch.special.ndtr(edges).diff().sqrt()
    return factor / factor.sum()


def confidence_weight_map(hole: Tensor, kernel_size: int = 65, sigma: float = 1.0 / 40,
                          iterations: int = 7) -> Tensor:
    """GMCNN's confidence map: 1 on known pixels, propagated confidence in (0, 1) inside the hole.

    As ConfidenceDrivenMaskLayer: ``init = 1 - hole``; repeat ``conf = blur(init) * hole;
    init = conf + (1 - hole)``, with the release's ``gauss_kernel(size, sigma)`` and reflection
    padding of ``size // 2``. Returns the final ``init``, (B, 1, H, W); no gradient.
    """
    if hole.ndim != 4 or hole.shape[1] != 1:
        raise ValueError(f"hole must be (B, 1, H, W), got {tuple(hole.shape)}")
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    dtype = hole.dtype if hole.is_floating_point() else torch.float32
    hole = hole.detach().to(dtype)
    factor = _gmcnn_gaussian_1d(kernel_size, sigma).to(hole.device, dtype)
    pad = kernel_size // 2
    mode = "reflect" if min(hole.shape[-2:]) > pad else "replicate"  # reflect needs pad < size
    weight = 1.0 - hole
    with torch.no_grad():
        for _ in range(iterations):
            blurred = F.pad(weight, (pad, pad, pad, pad), mode=mode)
            blurred = F.conv2d(blurred, factor.view(1, 1, 1, -1))
            blurred = F.conv2d(blurred, factor.view(1, 1, -1, 1))
            weight = blurred * hole + (1.0 - hole)
    return weight


def confidence_driven_l1(pred: Tensor, target: Tensor, hole: Tensor, weight_map: Tensor | None = None,
                         eps: float = 1e-8) -> Tensor:
    """GMCNN's confidence-driven reconstruction loss on the hole.

    Release: ``L1(completed * conf, gt * conf) / mean(hole)`` with ``conf`` the confidence inside the
    hole (0 on known pixels), i.e. sum(|pred - target| * conf) / (C * sum(hole)). The known-region
    term (``ae``, weight 1.2) is the valid part of :func:`hole_valid_l1`.
    """
    hole = hole.to(pred.dtype)
    if weight_map is None:
        weight_map = confidence_weight_map(hole)
    confidence = (weight_map.to(pred.dtype) * hole).expand_as(pred)
    return ((pred - target).abs() * confidence).sum() / hole.expand_as(pred).sum().clamp_min(eps)


# --------------------------------------------------------------------------------------------------
# Adversarial
# --------------------------------------------------------------------------------------------------


def _total(terms: Iterable[Tensor]) -> Tensor:
    """Sum of loss terms (keeps their device and dtype; no Python-float start value)."""
    terms = list(terms)
    if not terms:
        raise ValueError("nothing to sum")
    return functools.reduce(operator.add, terms)


def _heads(logits: Logits) -> list[Tensor]:
    heads = [logits] if isinstance(logits, Tensor) else list(logits)
    if not heads:
        raise ValueError("no discriminator outputs given")
    return heads


def hinge_d_loss(real_logits: Logits, fake_logits: Logits) -> Tensor:
    """SN-PatchGAN D: 0.5 * mean(relu(1 - real)) + 0.5 * mean(relu(1 + fake)), summed over heads."""
    return _total(0.5 * F.relu(1.0 - r).mean() + 0.5 * F.relu(1.0 + f).mean()
                  for r, f in zip(_heads(real_logits), _heads(fake_logits), strict=True))


def hinge_g_loss(fake_logits: Logits) -> Tensor:
    """SN-PatchGAN G: -mean(fake), summed over heads."""
    return _total(-f.mean() for f in _heads(fake_logits))


def nsgan_d_loss(real_logits: Logits, fake_logits: Logits) -> Tensor:
    """EdgeConnect's nsgan D: (BCE(real, 1) + BCE(fake, 0)) / 2 on logits, summed over heads."""
    return _total(0.5 * (F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
                         + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)))
                  for r, f in zip(_heads(real_logits), _heads(fake_logits), strict=True))


def nsgan_g_loss(fake_logits: Logits) -> Tensor:
    """EdgeConnect's nsgan G: BCE(fake, 1) on logits (non-saturating), summed over heads."""
    return _total(F.binary_cross_entropy_with_logits(f, torch.ones_like(f)) for f in _heads(fake_logits))


def wgan_d_loss(real_logits: Logits, fake_logits: Logits) -> Tensor:
    """WGAN critic: mean(fake) - mean(real), summed over heads (add :func:`gradient_penalty`)."""
    return _total(f.mean() - r.mean() for r, f in zip(_heads(real_logits), _heads(fake_logits), strict=True))


def wgan_g_loss(fake_logits: Logits) -> Tensor:
    """WGAN generator: -mean(fake), summed over heads."""
    return _total(-f.mean() for f in _heads(fake_logits))


def gradient_penalty(critic_fn: Callable[[Tensor], Logits], real: Tensor, fake: Tensor, lambda_gp: float = 10.0,
                     mask: Tensor | None = None, generator: torch.Generator | None = None,
                     value_range: ValueRange = (0.0, 1.0)) -> Tensor:
    """WGAN-GP: lambda * mean_b (||d critic(x_hat) / d x_hat||_2 - 1)^2.

    ``x_hat = alpha * real + (1 - alpha) * fake`` with one ``alpha ~ U(0, 1)`` per sample; the
    gradient is taken with ``create_graph=True`` so the penalty trains the critic. `critic_fn` may
    return a tensor or a list of tensors (their sums are added). `mask` (broadcastable to the input)
    restricts the gradient norm to a region, as DeepFill v1 / HiFill may do. The critic reads [0, 1]
    images; the gradient is taken with respect to the image in `value_range` (the releases' [-1, 1]:
    the [0, 1] gradient divided by the range's width), so the target slope 1 is in those units.
    """
    alpha = torch.rand((real.shape[0],) + (1,) * (real.ndim - 1), generator=generator,
                       dtype=real.dtype, device="cpu" if generator is not None else real.device).to(real.device)
    interpolated = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    score = _total(head.sum() for head in _heads(critic_fn(interpolated)))
    (gradients,) = torch.autograd.grad(score, interpolated, create_graph=True)
    gradients = gradients / range_width(value_range)
    if mask is not None:
        gradients = gradients * mask
    norms = gradients.flatten(1).norm(2, dim=1)
    return lambda_gp * (norms - 1.0).square().mean()


def feature_matching_loss(real_features: Sequence[Tensor], fake_features: Sequence[Tensor]) -> Tensor:
    """EdgeConnect's feature matching: sum over D layers of L1(fake_i, real_i.detach())."""
    if len(real_features) != len(fake_features) or not real_features:
        raise ValueError("real and fake feature lists must be non-empty and of equal length")
    return _total(F.l1_loss(f, r.detach()) for r, f in zip(real_features, fake_features, strict=True))


# --------------------------------------------------------------------------------------------------
# VGG19 feature losses
# --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _shared_pretrained_vgg19() -> nn.Module:
    return load_imagenet_features("vgg19")


def gram_matrix(features: Tensor) -> Tensor:
    """(B, C, C) Gram matrices normalized by C * H * W (EdgeConnect)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


class _VGG19Loss(nn.Module):
    """Holds a frozen VGG19 feature stack (outside the module tree) and taps named layers."""

    def __init__(self, features: nn.Module, input_norm: InputNorm) -> None:
        super().__init__()
        stack = features.features if hasattr(features, "features") else features
        if not isinstance(stack, nn.Sequential) or len(stack) < 32:
            raise TypeError("expected a VGG19 feature stack (e.g. eiip.pretrained.vgg19_features())")
        if input_norm not in ("none", "mean", "imagenet"):
            raise ValueError(f"input_norm must be 'none', 'mean' or 'imagenet', got {input_norm!r}")
        stack.eval().requires_grad_(False)
        self._stack: tuple[nn.Sequential] = (stack,)  # a tuple keeps it out of the module tree
        self.input_norm = input_norm
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def pretrained(cls, **kwargs):
        """The loss on ImageNet VGG19 from the torch.hub cache (raises PretrainedWeightsMissing if absent)."""
        return cls(_shared_pretrained_vgg19(), **kwargs)

    def _prepare(self, x: Tensor) -> Tensor:
        if x.shape[1] == 1:  # the monochromic bottleneck
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] != 3:
            raise ValueError(f"expected 1 or 3 channels, got {x.shape[1]}")
        if self.input_norm == "mean":
            x = x - self.mean.to(x.dtype)
        elif self.input_norm == "imagenet":
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return x

    def _features(self, x: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
        stack = self._stack[0]
        first = next(stack.parameters())
        if first.device != x.device:
            stack.to(x.device)
        wanted = {VGG19_LAYER_INDEX[n]: n for n in names}
        last = max(wanted)
        out: dict[str, Tensor] = {}
        x = self._prepare(x)
        for index, layer in enumerate(stack):
            x = layer(x)
            if index in wanted:
                out[wanted[index]] = x
            if index == last:
                break
        return out

    def extra_repr(self) -> str:
        return f"input_norm={self.input_norm!r}"


class PerceptualLoss(_VGG19Loss):
    """EdgeConnect's perceptual loss: sum_l w_l * mean|phi_l(x) - phi_l(y)| over relu1_1..relu5_1.

    `input_norm`: EdgeConnect feeds [0, 1] images to VGG19 unnormalized ("none", the default, the
    setting its weights 0.1 / 250 were tuned with); "imagenet" standardizes with mean/std.
    """

    LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

    def __init__(self, features: nn.Module, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0, 1.0),
                 input_norm: InputNorm = "none") -> None:
        super().__init__(features, input_norm)
        if len(weights) != len(self.LAYERS):
            raise ValueError(f"need {len(self.LAYERS)} layer weights, got {len(weights)}")
        self.weights = tuple(float(w) for w in weights)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        fx, fy = self._features(x, self.LAYERS), self._features(y, self.LAYERS)
        return _total(w * F.l1_loss(fx[n], fy[n]) for n, w in zip(self.LAYERS, self.weights, strict=True))


class StyleLoss(_VGG19Loss):
    """EdgeConnect's style loss: sum_l mean|G(phi_l(x)) - G(phi_l(y))|, Gram / (C*H*W).

    Layers relu2_2, relu3_4, relu4_4, relu5_2 by default. `input_norm` as :class:`PerceptualLoss`.
    """

    LAYERS: tuple[str, ...] = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")

    def __init__(self, features: nn.Module, layers: Sequence[str] | None = None,
                 input_norm: InputNorm = "none") -> None:
        super().__init__(features, input_norm)
        self.layers = tuple(layers) if layers is not None else self.LAYERS
        unknown = [n for n in self.layers if n not in VGG19_LAYER_INDEX]
        if unknown:
            raise KeyError(f"unknown VGG19 layers {unknown}")

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        fx, fy = self._features(x, self.layers), self._features(y, self.layers)
        return _total(F.l1_loss(gram_matrix(fx[n]), gram_matrix(fy[n])) for n in self.layers)


class IDMRFLoss(_VGG19Loss):
    """GMCNN's implicit diversified MRF loss on VGG19 features (1x1 patches).

    Per layer: features centered by the target's mean (see `centering`) and L2-normalized over
    channels; per sample, d = (1 - cos) / 2 between every target (m) and generated (n) position;
    relative distance d / (min_m d + eps); similarity exp((bias - rel) / h) normalized over m; for
    every target position the max over n; loss = -log(mean_m max_n). Release weights: style layers
    relu3_2 and relu4_2 (1 each) plus content layer relu4_2 (1), so relu4_2 counts twice; h = 0.5,
    eps = 1e-5.

    The two releases differ in three settings (the defaults are the TensorFlow release's; GMCNN's
    config, ``conf/backbone/gmcnn.yaml``, sets the PyTorch port's):

    * `centering`: "batch" subtracts the target's per-channel mean over batch and positions
      (TensorFlow ``ops.py`` ``center_by_T``, whose T, the features the patches come from, is the
      prediction there); "position" subtracts, at every position, the target's mean over channels
      (PyTorch ``loss.py`` ``mrf_loss``: ``mean(tar, 1)``).
    * `reduction`: "mean" over the batch (TensorFlow, batch-size independent) or "sum" (PyTorch).
      With "sum", `sum_batch` (if set) takes the sum as over a batch of that many images (the
      batch mean times `sum_batch`), so the term's strength against the mean-reduced terms does
      not follow the training batch size (GMCNN's config: 8, the PyTorch release's fine-tuning batch).
    * `max_positions`: maps with more positions are compared on the same random subset of that
      many positions (TensorFlow: 65**2, bounding the O(N^2) memory); None compares all (PyTorch).

    `input_norm="mean"` as both releases (subtract the ImageNet mean, no std).
    """

    def __init__(self, features: nn.Module,
                 style_layers: Mapping[str, float] | None = None,
                 content_layers: Mapping[str, float] | None = None,
                 lambda_style: float = 1.0, lambda_content: float = 1.0,
                 h: float = 0.5, bias: float = 1.0, eps: float = 1e-5,
                 reduction: Literal["mean", "sum"] = "mean", sum_batch: int | None = None,
                 max_positions: int | None = 65 * 65,
                 centering: Literal["batch", "position"] = "batch",
                 input_norm: InputNorm = "mean") -> None:
        super().__init__(features, input_norm)
        self.style_layers = dict(style_layers if style_layers is not None else {"relu3_2": 1.0, "relu4_2": 1.0})
        self.content_layers = dict(content_layers if content_layers is not None else {"relu4_2": 1.0})
        unknown = [n for n in (*self.style_layers, *self.content_layers) if n not in VGG19_LAYER_INDEX]
        if not self.style_layers and not self.content_layers:
            raise ValueError("ID-MRF needs at least one style or content layer")
        if unknown:
            raise KeyError(f"unknown VGG19 layers {unknown}")
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        if sum_batch is not None and (reduction != "sum" or sum_batch < 1):
            raise ValueError(f"sum_batch needs reduction 'sum' and at least 1 image, got {sum_batch} with {reduction!r}")
        if centering not in ("batch", "position"):
            raise ValueError(f"centering must be 'batch' or 'position', got {centering!r}")
        self.lambda_style, self.lambda_content = float(lambda_style), float(lambda_content)
        self.h, self.bias, self.eps = float(h), float(bias), float(eps)
        self.reduction = reduction
        self.sum_batch = sum_batch
        self.max_positions = max_positions
        self.centering = centering

    def mrf(self, gen: Tensor, tar: Tensor) -> Tensor:
        """ID-MRF between two (B, C, H, W) feature maps (reduced over the batch)."""
        gen, tar = gen.flatten(2), tar.flatten(2)  # (B, C, N)
        if self.max_positions is not None and gen.shape[-1] > self.max_positions:
            keep = torch.randperm(gen.shape[-1], device=gen.device)[: self.max_positions]
            gen, tar = gen[..., keep], tar[..., keep]
        mean_t = tar.mean(dim=(0, 2) if self.centering == "batch" else 1, keepdim=True)
        gen = F.normalize(gen - mean_t, dim=1, eps=1e-12)
        tar = F.normalize(tar - mean_t, dim=1, eps=1e-12)
        losses = []
        for g, t in zip(gen, tar, strict=True):  # one sample at a time bounds the (N, N) memory
            distance = (1.0 - t.transpose(0, 1) @ g) / 2.0  # (M target, N generated)
            relative = distance / (distance.min(dim=0, keepdim=True).values + self.eps)
            similarity = torch.softmax((self.bias - relative) / self.h, dim=0)  # = exp(.) / sum_m exp(.)
            losses.append(-torch.log(similarity.max(dim=1).values.mean()))
        stacked = torch.stack(losses)
        if self.reduction == "mean":
            return stacked.mean()
        return stacked.sum() if self.sum_batch is None else stacked.mean() * self.sum_batch

    def forward(self, gen: Tensor, tar: Tensor) -> Tensor:
        names = sorted(set(self.style_layers) | set(self.content_layers), key=VGG19_LAYER_INDEX.__getitem__)
        fg, ft = self._features(gen, names), self._features(tar, names)
        per_layer = {n: self.mrf(fg[n], ft[n]) for n in names}
        terms = [self.lambda_style * w * per_layer[n] for n, w in self.style_layers.items()]
        terms += [self.lambda_content * w * per_layer[n] for n, w in self.content_layers.items()]
        return _total(terms)
