"""The published discriminator of every backbone, registered under the backbone's name.

Each is an `nn.Module` with

    forward(image: (B, C, H, W) in [0, 1], hole: (B, 1, H, W), 1 = hole) -> {
        "logits": list[Tensor],   # one per head (see each class for its shape)
        "features": list[Tensor], # intermediate activations, for feature-matching losses
    }

where C is the bottleneck's prediction channels (`spec.output_channels`: 1 for "mono", 3 for
"rgb"). Each module maps the image to the value range its release trained on ([-1, 1] for the TF
releases and GMCNN, [0, 1] for EdgeConnect).

* "gatedconv": SN-PatchGAN (DeepFill v2 release `build_sn_patch_gan_discriminator`).
* "edgeconnect": the 70x70 spectral-norm PatchGAN of knazeri/edge-connect (`Discriminator`) on
  the raw prediction (not the composite, as the release); "edgeconnect_edge": the same network as the edge model's discriminator, on
  [gray, edges] (2 channels, as in the release; option in_channels=1 for edges only).
  `EdgeConnectDiscriminator` is exported as well.
* "gmcnn": global + local critics of shepnerd/inpainting_gmcnn (PyTorch `GlobalLocalDiscriminator`).
* "hifill": the WGAN-GP critic of HiFill's training code (`HinpaintModel.build_discriminator`).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from eiip.external.backbones.layers import Conv2dSame, spectral_norm_conv
from eiip.external.backbones.registry import BottleneckSpec, register_discriminator

__all__ = [
    "EdgeConnectDiscriminator",
    "GMCNNDiscriminator",
    "HiFillDiscriminator",
    "SNPatchGANDiscriminator",
    "hole_bbox",
]

Size = int | tuple[int, int]


def _pair(size: Size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _to_signed(image: torch.Tensor) -> torch.Tensor:
    return image * 2.0 - 1.0


def _check_size(image: torch.Tensor, size: tuple[int, int], name: str) -> None:
    if tuple(image.shape[-2:]) != size:
        raise ValueError(f"{name} has a linear head built for {size[0]}x{size[1]} inputs, got "
                         f"{image.shape[-2]}x{image.shape[-1]}; pass image_size= when building it")



def _leaky_conv_stack(
    convs: nn.ModuleList, image: torch.Tensor, hole: torch.Tensor | None, require_hole: bool
) -> list[torch.Tensor]:
    """[image in [-1, 1] (+ hole)] through convs with LeakyReLU(0.2); returns every activation."""
    if require_hole and hole is None:
        raise ValueError("this discriminator takes [image, mask]: pass the hole")
    x = _to_signed(image)
    if hole is not None:
        x = torch.cat([x, hole.to(x.dtype)], dim=1)
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), 0.2)
        features.append(x)
    return features

class SNPatchGANDiscriminator(nn.Module):
    """SN-PatchGAN (DeepFill v2): 6 spectral-norm 5x5 stride-2 convs, LeakyReLU(0.2) after each.

    Input [image in [-1, 1], mask] (C + 1 channels): the release concatenates only the mask
    (`gan_with_mask`), no ones channel. Channels cnum x (1, 2, 4, 4, 4, 4) with cnum = 64, TF "SAME"
    padding; the output of the last layer (after its LeakyReLU, as in the release) is flattened to
    (B, 256 * H/64 * W/64) patch logits for the hinge loss.
    """

    def __init__(self, image_channels: int = 3, cnum: int = 64, with_mask: bool = True) -> None:
        super().__init__()
        self.with_mask = with_mask
        widths = (cnum, 2 * cnum, 4 * cnum, 4 * cnum, 4 * cnum, 4 * cnum)
        layers, prev = [], image_channels + (1 if with_mask else 0)
        for width in widths:
            layers.append(spectral_norm_conv(prev, width, 5, stride=2, padding="same"))
            prev = width
        self.convs = nn.ModuleList(layers)

    def forward(self, image: torch.Tensor, hole: torch.Tensor | None = None) -> dict[str, list[torch.Tensor]]:
        features = _leaky_conv_stack(self.convs, image, hole if self.with_mask else None, require_hole=self.with_mask)
        return {"logits": [features[-1].flatten(1)], "features": features}


class EdgeConnectDiscriminator(nn.Module):
    """EdgeConnect's 70x70 PatchGAN: 4x4 convs 64/128/256/512 (stride 2, 2, 2, 1, padding 1) with
    LeakyReLU(0.2), then a 4x4 stride-1 conv to 1 channel; spectral norm (no biases) on all five.
    Weights N(0, 0.02) as in the release. The input is used as is ([0, 1], the release's range);
    the hole is ignored.

    "logits" is the (B, 1, h, w) patch map; "features" the five conv activations (conv5 before any
    sigmoid), used by the edge model's feature-matching loss. The release's "nsgan" puts a sigmoid
    in the network and uses `BCELoss`; here `use_sigmoid=False` is the default because the
    project's nsgan loss is BCE-with-logits (the same objective, numerically stable). Pass
    `use_sigmoid=True` to get the release's probabilities.

    The inpainting discriminator takes the image (C channels). The release's edge discriminator
    takes [gray, edges] (`in_channels=2`); `in_channels=1` builds an edges-only one.
    """

    def __init__(self, in_channels: int = 3, use_sigmoid: bool = False,
                 use_spectral_norm: bool = True) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.use_sigmoid = use_sigmoid
        specs = ((in_channels, 64, 2), (64, 128, 2), (128, 256, 2), (256, 512, 1), (512, 1, 1))
        layers = []
        for cin, cout, stride in specs:
            conv = nn.Conv2d(cin, cout, 4, stride=stride, padding=1, bias=not use_spectral_norm)
            nn.init.normal_(conv.weight, 0.0, 0.02)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
            layers.append(spectral_norm(conv) if use_spectral_norm else conv)
        self.convs = nn.ModuleList(layers)

    def forward(self, image: torch.Tensor, hole: torch.Tensor | None = None) -> dict[str, list[torch.Tensor]]:
        if image.shape[1] != self.in_channels:
            raise ValueError(f"EdgeConnectDiscriminator built for {self.in_channels} input channels, got "
                             f"{image.shape[1]} (the release's edge discriminator takes [gray, edges])")
        x = image
        features = []
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.convs) - 1:
                x = F.leaky_relu(x, 0.2)
            features.append(x)
        out = torch.sigmoid(x) if self.use_sigmoid else x
        return {"logits": [out], "features": features}


def hole_bbox(hole: torch.Tensor) -> torch.Tensor:
    """Bounding box (top, left, height, width) of each sample's hole (B, 1, H, W), as a (B, 4) long
    tensor; an empty hole gives height = width = 0 at the image center."""
    bsz, _, h, w = hole.shape
    rows = hole.detach().reshape(bsz, h, w).gt(0.5)
    boxes = torch.zeros(bsz, 4, dtype=torch.long)
    for i in range(bsz):
        ys = rows[i].any(dim=1).nonzero().flatten()
        xs = rows[i].any(dim=0).nonzero().flatten()
        if ys.numel() == 0:
            boxes[i] = torch.tensor([h // 2, w // 2, 0, 0])
        else:
            top, left = int(ys[0]), int(xs[0])
            boxes[i] = torch.tensor([top, left, int(ys[-1]) - top + 1, int(xs[-1]) - left + 1])
    return boxes


class _GMCNNCritic(nn.Module):
    """GMCNN critic: 4 spectral-norm 5x5 stride-2 convs (cnum, 2, 4, 4 x cnum; padding 2) + ELU,
    flatten, spectral-norm linear to 1."""

    def __init__(self, in_channels: int, cnum: int, size: tuple[int, int], use_spectral_norm: bool) -> None:
        super().__init__()
        self.size = size
        widths = (cnum, 2 * cnum, 4 * cnum, 4 * cnum)
        sn = spectral_norm if use_spectral_norm else (lambda m: m)
        layers, prev = [], in_channels
        for width in widths:
            conv = nn.Conv2d(prev, width, 5, stride=2, padding=2)
            nn.init.normal_(conv.weight, 0.0, 0.02)
            nn.init.zeros_(conv.bias)
            layers.append(sn(conv))
            prev = width
        self.convs = nn.ModuleList(layers)
        fc = prev * _ceil_div(size[0], 16) * _ceil_div(size[1], 16)
        linear = nn.Linear(fc, 1)
        nn.init.normal_(linear.weight, 0.0, 0.02)
        nn.init.zeros_(linear.bias)
        self.linear = sn(linear)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        for conv in self.convs:
            x = F.elu(conv(x))
            features.append(x)
        return self.linear(x.flatten(1)), features


class GMCNNDiscriminator(nn.Module):
    """GMCNN global + local critics (shepnerd/inpainting_gmcnn, PyTorch `GlobalLocalDiscriminator`).

    Each critic: 4 spectral-norm 5x5 stride-2 convs with cnum = 64 (64/128/256/256, padding 2),
    ELU (the release's `act=F.elu`), a spectral-norm linear head to one score (WGAN-style critic;
    the PyTorch release trains it with a hinge loss, the TF one with WGAN-GP). Input: the image only
    (C channels) in [-1, 1]. The global critic sees the whole `image_size` image. The local one
    sees, with `local_input="crop"`, a `local_size` crop (default half the image, the release's
    128x128 `mask_shapes` at 256) centered on the hole's bounding box and clipped to the image (the
    release's input for its rectangular masks, `mask_type == 'rect'`, net.py `initVariables`); with
    `local_input="image"`, the whole image, as the release for free-form masks (its local critic
    then has its own weights and a head sized for `img_shapes`). "logits": [global (B, 1),
    local (B, 1)]; "features": the 4 global then the 4 local conv activations.
    """

    def __init__(self, image_channels: int = 3, cnum: int = 64, image_size: Size = 256,
                 local_size: Size | None = None, use_spectral_norm: bool = True,
                 local_input: Literal["crop", "image"] = "crop") -> None:
        super().__init__()
        if local_input not in ("crop", "image"):
            raise ValueError(f"local_input must be 'crop' or 'image', got {local_input!r}")
        if local_input == "image" and local_size is not None:
            raise ValueError("local_size applies to local_input='crop' only")
        self.local_input = local_input
        self.image_size = _pair(image_size)
        self.local_size = _pair(local_size) if local_size is not None else (
            self.image_size if local_input == "image" else (self.image_size[0] // 2, self.image_size[1] // 2))
        if self.local_size[0] > self.image_size[0] or self.local_size[1] > self.image_size[1]:
            raise ValueError("local_size must not exceed image_size")
        self.global_critic = _GMCNNCritic(image_channels, cnum, self.image_size, use_spectral_norm)
        self.local_critic = _GMCNNCritic(image_channels, cnum, self.local_size, use_spectral_norm)

    def local_boxes(self, hole: torch.Tensor) -> torch.Tensor:
        """(B, 4) long crop boxes (top, left, height, width): `local_size` windows centered on each
        hole's bounding box, clipped to the image."""
        h, w = hole.shape[-2:]
        ch, cw = self.local_size
        bbox = hole_bbox(hole)
        boxes = torch.empty_like(bbox)
        for i, (top, left, bh, bw) in enumerate(bbox.tolist()):
            # Center of the bbox (2x to stay in integers); the crop's top = center - ch / 2.
            t = (2 * top + bh - ch) // 2
            l_ = (2 * left + bw - cw) // 2
            boxes[i] = torch.tensor([min(max(t, 0), h - ch), min(max(l_, 0), w - cw), ch, cw])
        return boxes

    def crop_local(self, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        """The local critic's input: each sample's `local_boxes` crop, (B, C, *local_size); the image
        itself with `local_input="image"`."""
        if self.local_input == "image":
            return image
        crops = [image[i, :, t:t + hh, l_:l_ + ww]
                 for i, (t, l_, hh, ww) in enumerate(self.local_boxes(hole).tolist())]
        return torch.stack(crops)

    def forward(self, image: torch.Tensor, hole: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        _check_size(image, self.image_size, "GMCNNDiscriminator")
        x = _to_signed(image)
        global_logit, global_features = self.global_critic(x)
        local_logit, local_features = self.local_critic(self.crop_local(x, hole))
        return {"logits": [global_logit, local_logit], "features": global_features + local_features}


class HiFillDiscriminator(nn.Module):
    """HiFill's WGAN-GP critic (training code `HinpaintModel.build_discriminator`, `ops.dis_conv`):
    6 plain (no spectral norm) 5x5 stride-2 convs with cnum = 64 (64/128/256/256/256/256), TF
    "SAME" padding, LeakyReLU(0.2), flatten, linear to one score, no sigmoid.

    Input: the image in [-1, 1]; with `with_mask=True` also the mask (the release's
    `GAN_WITH_MASK`, False in its config.yml, hence the default). The release's critic runs at its
    training size (512 in config.yml); here `image_size` defaults to 256, the external stage's
    size. Conv weights truncated-normal(0.05) and zero biases, as in the release's `conv2d`.
    """

    def __init__(self, image_channels: int = 3, cnum: int = 64, image_size: Size = 256,
                 with_mask: bool = False) -> None:
        super().__init__()
        self.image_size = _pair(image_size)
        self.with_mask = with_mask
        widths = (cnum, 2 * cnum, 4 * cnum, 4 * cnum, 4 * cnum, 4 * cnum)
        layers, prev = [], image_channels + (1 if with_mask else 0)
        for width in widths:
            conv = Conv2dSame(prev, width, 5, stride=2)
            nn.init.trunc_normal_(conv.weight, std=0.05, a=-0.1, b=0.1)
            nn.init.zeros_(conv.bias)
            layers.append(conv)
            prev = width
        self.convs = nn.ModuleList(layers)
        fc = prev * _ceil_div(self.image_size[0], 64) * _ceil_div(self.image_size[1], 64)
        self.linear = nn.Linear(fc, 1)
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, image: torch.Tensor, hole: torch.Tensor | None = None) -> dict[str, list[torch.Tensor]]:
        _check_size(image, self.image_size, "HiFillDiscriminator")
        features = _leaky_conv_stack(self.convs, image, hole if self.with_mask else None, require_hole=self.with_mask)
        return {"logits": [self.linear(features[-1].flatten(1))], "features": features}


@register_discriminator("gatedconv")
def build_gatedconv_discriminator(spec: BottleneckSpec, **options: object) -> SNPatchGANDiscriminator:
    """SN-PatchGAN on [prediction, mask] (options: image_channels, cnum, with_mask)."""
    channels = int(options.pop("image_channels", spec.output_channels))  # type: ignore[call-overload]
    return SNPatchGANDiscriminator(channels, **options)  # type: ignore[arg-type]


@register_discriminator("edgeconnect")
def build_edgeconnect_discriminator(spec: BottleneckSpec, **options: object) -> EdgeConnectDiscriminator:
    """EdgeConnect's inpainting discriminator on the prediction (options: in_channels, use_sigmoid,
    use_spectral_norm)."""
    channels = int(options.pop("in_channels", spec.output_channels))  # type: ignore[call-overload]
    return EdgeConnectDiscriminator(channels, **options)  # type: ignore[arg-type]


@register_discriminator("edgeconnect_edge")
def build_edgeconnect_edge_discriminator(spec: BottleneckSpec, **options: object) -> EdgeConnectDiscriminator:
    """EdgeConnect's edge discriminator, the same for both bottlenecks: input [gray, edges] (2
    channels, the release) unless `in_channels` says otherwise (1: edges only)."""
    channels = int(options.pop("in_channels", 2))  # type: ignore[call-overload]
    return EdgeConnectDiscriminator(channels, **options)  # type: ignore[arg-type]


@register_discriminator("gmcnn")
def build_gmcnn_discriminator(spec: BottleneckSpec, **options: object) -> GMCNNDiscriminator:
    """GMCNN global + local critics on the prediction (options: image_channels, cnum, image_size,
    local_size, use_spectral_norm, local_input)."""
    channels = int(options.pop("image_channels", spec.output_channels))  # type: ignore[call-overload]
    return GMCNNDiscriminator(channels, **options)  # type: ignore[arg-type]


@register_discriminator("hifill")
def build_hifill_discriminator(spec: BottleneckSpec, **options: object) -> HiFillDiscriminator:
    """HiFill's WGAN-GP critic on the prediction (options: image_channels, cnum, image_size, with_mask)."""
    channels = int(options.pop("image_channels", spec.output_channels))  # type: ignore[call-overload]
    return HiFillDiscriminator(channels, **options)  # type: ignore[arg-type]
