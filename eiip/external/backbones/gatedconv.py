"""DeepFill v2 / GatedConv generator (Yu et al., ICCV 2019, "Free-Form Image Inpainting with
Gated Convolution"), following the official TF release JiahuiYu/generative_inpainting v2.0.0
(`inpaint_model.py` `build_inpaint_net`, `inpaint_ops.py`).

Architecture (cnum = 48; channel counts are the release's `gen_conv(x, cnum)` arguments, i.e.
features + gates, so each gated layer outputs half of them):

* input [masked image, ones, mask] (the release's `x = concat([x, ones_x, ones_x * mask])`);
* coarse network: 5x5 conv cnum, 3x3 stride-2 2cnum, 3x3 2cnum, 3x3 stride-2 4cnum, two 3x3 4cnum,
  dilated 3x3 4cnum with rates 2/4/8/16, two 3x3 4cnum, gated deconv (nearest 2x + 3x3) 2cnum,
  3x3 2cnum, gated deconv cnum, 3x3 cnum/2, 3x3 conv to the output channels (no gate), tanh;
* the coarse result is pasted into the known pixels and refined by two branches of the same
  encoder shape: a dilated one (rates 2/4/8/16) and one ending in a ReLU-gated conv followed by
  contextual attention (3x3 patches, rate 2, softmax scale 10, fuse kernel 3, hole patches
  excluded) and two 3x3 convs; both are concatenated and decoded like the coarse network; tanh.

All gated convs use ELU features (ReLU for the layer before attention) times a sigmoid gate, TF
"SAME" padding, Glorot-uniform weights and zero biases. ~4.05 M parameters (rgb), matching the
published ~4.1 M.

Where the release and the paper differ, the release is followed:

* the refinement network takes only the pasted coarse result (`xnow = x`; the paper's figure also
  feeds the mask), and its encoders use cnum, cnum, 2cnum, 2cnum/4cnum channels as in the code;
* the discriminator sees [image, mask] (see `discriminators.py`).

Adaptations to this project:

* value range: the release works on [-1, 1] with tanh outputs; our tensors are in [0, 1], so
  `forward` maps the masked input to [-1, 1] (hole pixels set to 0, like the release's
  `batch_pos * (1 - mask)`), and maps both predictions back with (y + 1) / 2;
* bottleneck: the image has `spec.image_channels` channels (RGB, or RGB ⊕ monochrome for "mono")
  and the prediction `spec.output_channels`; the pasted refinement input uses the input's last
  `output_channels` channels as the known pixels (RGB for "rgb", the monochrome for "mono");
* sizes not divisible by 8 are reflection-padded and the outputs cropped;
* the contextual-attention mask is per sample (the release shares the first sample's mask).

`attention_mask` says which background patches contextual attention excludes as hole. The release
resizes the mask by nearest neighbour to the attention's resolution (1/8 of the image: 1/4 at the
branch input, then rate 2), so it looks at one pixel per 8x8 block and a hole thinner than ~8 px
can be missed and its (unfilled) features attended to: "sample" (default) keeps that rule;
"maxpool" marks a block as hole if any of its 64 pixels is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from eiip.external.backbones.layers import (
    ContextualAttention,
    GatedConv2d,
    GatedDeconv2d,
    MaskDownsampling,
    downsample_mask,
)
from eiip.external.backbones.registry import BottleneckSpec, register_backbone

__all__ = ["GatedConvGenerator", "build_gatedconv"]

_MULTIPLE = 8


def _gen_conv(in_channels: int, cnum: int, kernel_size: int = 3, stride: int = 1, rate: int = 1,
              activation: str = "elu") -> GatedConv2d:
    """The release's `gen_conv(x, cnum, ...)`: a gated conv with cnum // 2 output channels."""
    return GatedConv2d(in_channels, cnum // 2, kernel_size, stride, rate,
                       activation=activation)  # type: ignore[arg-type]


def _gen_deconv(in_channels: int, cnum: int) -> GatedDeconv2d:
    """The release's `gen_deconv(x, cnum)`: nearest 2x + 3x3 gated conv, cnum // 2 outputs."""
    return GatedDeconv2d(in_channels, cnum // 2)


def _encoder(in_channels: int, cnum: int, widths: tuple[int, int, int, int]) -> list[nn.Module]:
    """5x5 conv, 3x3 stride-2, 3x3, 3x3 stride-2 (the four first layers of each branch)."""
    w1, w2, w3, w4 = widths
    return [
        _gen_conv(in_channels, w1, 5, 1),
        _gen_conv(w1 // 2, w2, 3, 2),
        _gen_conv(w2 // 2, w3, 3, 1),
        _gen_conv(w3 // 2, w4, 3, 2),
    ]


def _dilated(channels: int, cnum: int) -> list[nn.Module]:
    return [_gen_conv(channels, cnum, 3, 1, rate) for rate in (2, 4, 8, 16)]


def _decoder(in_channels: int, cnum: int, out_channels: int) -> list[nn.Module]:
    """3x3 4cnum x2, deconv 2cnum, 3x3 2cnum, deconv cnum, 3x3 cnum/2, output conv (no gate)."""
    c4 = 4 * cnum
    return [
        _gen_conv(in_channels, c4),
        _gen_conv(c4 // 2, c4),
        _gen_deconv(c4 // 2, 2 * cnum),
        _gen_conv(cnum, 2 * cnum),
        _gen_deconv(cnum, cnum),
        _gen_conv(cnum // 2, cnum // 2),
        GatedConv2d(cnum // 4, out_channels, 3, 1, activation=None),
    ]


class GatedConvGenerator(nn.Module):
    """DeepFill v2 two-stage generator on the registry interface.

    forward(image (B, image_channels, H, W) in [0, 1], hole pixels 0; hole (B, 1, H, W), 1 = hole)
    -> {"output": refined (B, output_channels, H, W) in [0, 1], "coarse": coarse stage, same shape}.
    Internally the input is mapped to [-1, 1] and the tanh outputs back to [0, 1].
    """

    def __init__(self, image_channels: int = 3, output_channels: int = 3, cnum: int = 48,
                 softmax_scale: float = 10.0, fuse: bool = True, attention_mask: MaskDownsampling = "sample") -> None:
        super().__init__()
        if cnum % 4:
            raise ValueError(f"cnum must be divisible by 4, got {cnum}")
        if output_channels > image_channels:
            raise ValueError("output_channels cannot exceed image_channels "
                             "(the known pixels come from the input)")
        self.image_channels = image_channels
        self.output_channels = output_channels
        c, c2, c4 = cnum, 2 * cnum, 4 * cnum

        # Stage 1 (coarse): conv1 .. conv17.
        self.coarse = nn.Sequential(
            *_encoder(image_channels + 2, cnum, (c, c2, c2, c4)),
            _gen_conv(c4 // 2, c4), _gen_conv(c4 // 2, c4),  # conv5, conv6
            *_dilated(c4 // 2, c4),  # conv7..conv10 (rates 2, 4, 8, 16)
            *_decoder(c4 // 2, cnum, output_channels),  # conv11 .. conv17
        )
        # Stage 2, dilated ("hallucination") branch: xconv1 .. xconv10.
        self.refine_conv = nn.Sequential(
            *_encoder(output_channels, cnum, (c, c, c2, c2)),
            _gen_conv(c2 // 2, c4), _gen_conv(c4 // 2, c4),  # xconv5, xconv6
            *_dilated(c4 // 2, c4),
        )
        # Stage 2, attention branch: pmconv1 .. pmconv6 (ReLU), contextual attention, pmconv9/10.
        self.refine_attention_encoder = nn.Sequential(
            *_encoder(output_channels, cnum, (c, c, c2, c4)),
            _gen_conv(c4 // 2, c4), _gen_conv(c4 // 2, c4, activation="relu"),
        )
        self.attention_mask = attention_mask
        self.contextual_attention = ContextualAttention(ksize=3, rate=2, fuse_k=3, softmax_scale=softmax_scale,
                                                        fuse=fuse, mask_mode=attention_mask)
        self.refine_attention_decoder = nn.Sequential(_gen_conv(c4 // 2, c4), _gen_conv(c4 // 2, c4))
        # Stage 2, merge: allconv11 .. allconv17.
        self.refine_decoder = nn.Sequential(*_decoder(c4, cnum, output_channels))

    def forward(self, image: torch.Tensor, hole: torch.Tensor) -> dict[str, torch.Tensor]:
        if image.shape[1] != self.image_channels:
            raise ValueError(f"expected {self.image_channels} image channels, got {image.shape[1]}")
        h, w = image.shape[-2:]
        pad_h, pad_w = -h % _MULTIPLE, -w % _MULTIPLE
        hole = hole.to(image.dtype)
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            image = F.pad(image, (0, pad_w, 0, pad_h), mode=mode)
            hole = F.pad(hole, (0, pad_w, 0, pad_h), mode=mode)

        known = 1.0 - hole
        x = (image * 2.0 - 1.0) * known  # [-1, 1], hole pixels 0 (the release's batch_incomplete)
        ones = torch.ones_like(hole)
        coarse = torch.tanh(self.coarse(torch.cat([x, ones, ones * hole], dim=1)))

        x_known = x[:, -self.output_channels:]
        pasted = coarse * hole + x_known * known
        hallucinated = self.refine_conv(pasted)
        features = self.refine_attention_encoder(pasted)
        hole_small = downsample_mask(hole, hole.shape[-1] // features.shape[-1], self.attention_mask)
        attended = self.contextual_attention(features, features, hole_small)
        attended = self.refine_attention_decoder(attended)
        refined = torch.tanh(self.refine_decoder(torch.cat([hallucinated, attended], dim=1)))

        out = {"output": (refined + 1.0) / 2.0, "coarse": (coarse + 1.0) / 2.0}
        if pad_h or pad_w:
            out = {key: value[..., :h, :w] for key, value in out.items()}
        return out


@register_backbone("gatedconv")
def build_gatedconv(spec: BottleneckSpec, **options: object) -> GatedConvGenerator:
    """DeepFill v2 generator for the bottleneck's channels (options: cnum, softmax_scale, fuse, attention_mask)."""
    return GatedConvGenerator(spec.image_channels, spec.output_channels, **options)  # type: ignore[arg-type]
