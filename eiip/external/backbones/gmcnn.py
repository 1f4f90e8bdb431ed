"""GMCNN generator (Wang et al., NeurIPS 2018, "Image Inpainting via Generative Multi-column CNNs").

Architecture (official release shepnerd/inpainting_gmcnn, `pytorch/model/net.py`, class `GMCNN`),
written from the published structure, not copied:

* Input: the masked image and the mask, concatenated (the release feeds `cat(gt * (1 - mask),
  mask)`); the image lives in [-1, 1] with the hole set to 0.
* Three columns ("encoder branches") with k x k kernels, k = 7, 5, 3, each:
  conv k (in -> c), conv k stride 2 (c -> 2c), conv k (2c), conv k stride 2 (2c -> 4c), 2 x conv k
  (4c), dilated convs k with rates 2, 4, 8, 16 (4c), 2 x conv k (4c), with c = cnum = 32, so widths
  32/64/128; then each column returns to full resolution differently (as in the release):
    - 7x7 column: one bilinear x4 upsampling (align_corners=True) -> 4c channels;
    - 5x5 column: nearest x2, conv 5 (4c -> 2c), conv 5 (2c), bilinear x2 -> 2c channels;
    - 3x3 column: nearest x2, conv 3 (4c -> 2c), conv 3 (2c), nearest x2, conv 3 (2c -> c),
      conv 3 (c) -> c channels.
* Decoder: the columns concatenated (7c = 224 channels), conv 3 (7c -> c/2) + ELU, conv 3
  (c/2 -> out), clamped to [-1, 1].
* Every conv uses reflection padding of dilation * (k - 1) / 2 and ELU, except the last one; no
  normalization (release default `using_norm=False`); weights N(0, 0.02), biases 0 (release
  `init_weights`).

~12.6 M parameters (rgb bottleneck: 12.56 M; mono: 12.57 M).

Registry interface (`eiip.external.backbones.registry`): `forward(image, hole)` with `image` in [0, 1]
(hole pixels zero) and `hole` 1 in the hole. Inside, the image is mapped to [-1, 1] and its hole
zeroed again (`(2 * image - 1) * (1 - hole)`, exactly the release's input), the mask appended, and
the clamped [-1, 1] prediction mapped back to [0, 1] (`(y + 1) / 2`). For the rgb bottleneck (the
paper's baseline) the input is exactly the release's [RGB, mask] and the output RGB; for mono it
is [RGB, mono, mask] (DESIGN.md: RGB ⊕ mono ⊕ mask) and the output the monochrome.

Deviations from the release, all deliberate:

* Sizes not divisible by 4 are reflection-padded to a multiple of 4 and the output cropped (the
  release's fixed x4 / x2 upsamplings need it).
* Reflection padding needs a pad smaller than the feature map (the rate-16 7x7 conv pads 48 on a
  H/4 map, i.e. H >= 196); for smaller inputs such a layer falls back to zero padding instead of
  failing.
* The generator returns the raw (clamped) prediction; compositing with the known pixels and the
  confidence-driven / ID-MRF / adversarial losses live in the training module, not here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from eiip.external.backbones.registry import BottleneckSpec, check_generator_inputs, register_backbone

INIT_STD: float = 0.02
"""Std of the normal weight init (release `init_weights(net, 'normal', gain=0.02)`)."""

DILATIONS: tuple[int, ...] = (2, 4, 8, 16)
"""Dilation rates of each column's middle block."""

KERNELS: tuple[int, ...] = (7, 5, 3)
"""Kernel sizes of the three columns."""


class PadConv(nn.Module):
    """Reflection pad (zero pad when the map is too small) + conv + optional ELU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        act: bool = True,
    ) -> None:
        super().__init__()
        self.pad = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, dilation=dilation)
        self.act = act
        nn.init.normal_(self.conv.weight, 0.0, INIT_STD)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad:
            mode = "reflect" if self.pad < min(x.shape[-2:]) else "constant"
            x = F.pad(x, (self.pad,) * 4, mode=mode)
        x = self.conv(x)
        return F.elu(x) if self.act else x


class Upsample(nn.Module):
    """Fixed-factor upsampling (release `PureUpsampling`: bilinear uses align_corners=True)."""

    def __init__(self, scale: int, mode: str) -> None:
        super().__init__()
        self.scale = scale
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[-2] * self.scale, x.shape[-1] * self.scale)
        if self.mode == "nearest":
            return F.interpolate(x, size=size, mode="nearest")
        return F.interpolate(x, size=size, mode=self.mode, align_corners=True)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, mode={self.mode!r}"


def _column(in_channels: int, cnum: int, k: int) -> nn.Sequential:
    """One encoder branch of GMCNN with k x k kernels, back at full resolution."""
    c1, c2, c4 = cnum, 2 * cnum, 4 * cnum
    layers: list[nn.Module] = [
        PadConv(in_channels, c1, k),
        PadConv(c1, c2, k, stride=2),
        PadConv(c2, c2, k),
        PadConv(c2, c4, k, stride=2),
        PadConv(c4, c4, k),
        PadConv(c4, c4, k),
    ]
    layers += [PadConv(c4, c4, k, dilation=d) for d in DILATIONS]
    layers += [PadConv(c4, c4, k), PadConv(c4, c4, k)]
    if k == 7:
        layers += [Upsample(4, "bilinear")]
    elif k == 5:
        layers += [Upsample(2, "nearest"), PadConv(c4, c2, k), PadConv(c2, c2, k), Upsample(2, "bilinear")]
    elif k == 3:
        layers += [
            Upsample(2, "nearest"), PadConv(c4, c2, k), PadConv(c2, c2, k),
            Upsample(2, "nearest"), PadConv(c2, c1, k), PadConv(c1, c1, k),
        ]
    else:  # pragma: no cover - KERNELS is fixed
        raise ValueError(f"no GMCNN column with kernel {k}")
    return nn.Sequential(*layers)


def column_channels(cnum: int) -> tuple[int, ...]:
    """Output channels of the 7x7, 5x5 and 3x3 columns (4c, 2c, c)."""
    return (4 * cnum, 2 * cnum, cnum)


class GMCNN(nn.Module):
    """GMCNN generator on the registry interface: forward(image, hole) -> {"output": ...}."""

    def __init__(self, spec: BottleneckSpec, cnum: int = 32) -> None:
        super().__init__()
        if cnum < 2 or cnum % 2:
            raise ValueError(f"cnum must be an even number >= 2, got {cnum}")
        self.spec = spec
        self.cnum = int(cnum)
        in_channels = spec.image_channels + 1  # masked image ⊕ mask, as the release
        self.columns = nn.ModuleList(_column(in_channels, self.cnum, k) for k in KERNELS)
        self.decoder = nn.Sequential(
            PadConv(sum(column_channels(self.cnum)), self.cnum // 2, 3),
            PadConv(self.cnum // 2, spec.output_channels, 3, act=False),
        )

    def forward(self, image: torch.Tensor, hole: torch.Tensor) -> dict[str, torch.Tensor]:
        hole = check_generator_inputs(self.spec, image, hole)
        height, width = image.shape[-2:]
        x = torch.cat(((2.0 * image - 1.0) * (1.0 - hole), hole), dim=1)
        pad_h, pad_w = (-height) % 4, (-width) % 4
        if pad_h or pad_w:
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        features = torch.cat([column(x) for column in self.columns], dim=1)
        y = torch.clamp(self.decoder(features), -1.0, 1.0)
        y = y[..., :height, :width]
        return {"output": (y + 1.0) / 2.0}


@register_backbone("gmcnn")
def build_gmcnn(spec: BottleneckSpec, **options: object) -> GMCNN:
    """GMCNN's generator for the bottleneck (options: `cnum`, default 32 as the release)."""
    return GMCNN(spec, **options)  # type: ignore[arg-type]
