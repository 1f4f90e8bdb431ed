"""HiFill (Yi et al., CVPR 2020, "Contextual Residual Aggregation for Ultra High-Resolution Inpainting").

Written from the paper and the authors' TF training code (Zili Yi's "Hifill-tensorflow": `model.py`,
`ops.py`, `config.yml`, and its `test.py` for the residual aggregation; the Atlas200dk
sample-imageinpainting-HiFill repository ships the frozen inference graph), not copied.

Building blocks
---------------
* Light-weight gated convolution, `LWGatedConv2d`: `ELU(conv_f(x)) * sigmoid(gate(x))` with a cheap
  gate. Variants (`gate=`): "sc" single-channel gate (one k x k conv to 1 channel, broadcast over
  the features: LWGC_sc, the release's "slice"), "ds" depth-separable gate (3x3 depthwise + 1x1
  pointwise to C channels: LWGC_ds as in the paper), "pw" pointwise gate (1x1 to C channels: what
  the release's "ds" op computes, its depthwise stage commented out), "full" (a regular gated
  conv, DeepFill v2). Release config: coarse "slice" (sc), refine "ds"; these are the defaults.
  Zero ("SAME") padding as the release's `conv2d`; initialization: see the deviations.
* Coarse network (runs at `coarse_size / low_res` x the working resolution, i.e. 256 for a 512
  working grid as in the release): 5x5 s2 (c), 3x3 (c), 3x3 s2 (2c), 3 x 3x3 (2c), dilated block of
  14 convs (rates 1,1,1,2,2,2,2,2,4,4,4,4,8,8), 3 x 3x3 (2c), up x2 + 3x3 (c), 3x3 (c), up x2 + 3x3
  to the output channels, clamp [-1, 1]; c = 32. Upsampling is bilinear.
* Refine network at the working resolution L (a U-Net): input = the image with the coarse
  prediction pasted into the hole, and the mask. Encoder levels halve the size down to
  `bottleneck_size` = 64 (L = 256: two levels with 64, 128 channels; L = 512: three, 32/64/128 as
  the release), each a 3x3 s2 + a 3x3 LWGC. Bottleneck: dilated block (rates 1, 2, 4, 8, 16), then
  contextual attention: scores between 3x3 patches of the bottleneck features subsampled by 2
  (a 32x32 grid for L = 256, 512), cosine-like (reference patches L2-normalized), fused along the
  diagonals (3x3 identity, both directions), softmax with scale 10 over reference patches that
  are entirely outside the hole (hole max-pooled onto the grid, dilated by 3x3). The features
  aggregated with these scores go through a conv, are concatenated with the hallucinated
  features and fused by a conv.
* Attention transfer: the *same* scores aggregate the encoder features at every skip level of
  the decoder (patches of 2r x 2r at stride r = level size / 32), each followed by two convs
  (rates 1 and 2) and concatenated with the up-sampled decoder features.
* Contextual residual aggregation (CRA), for inputs larger than the working resolution: the
  input is box-downsampled by the integer factor f = min(H, W) // L (hole max-pooled: a low-res
  pixel is known only if all its pixels are), inpainted at low resolution, then
  `output = up(low_res_prediction) + aggregate(residual, scores)` where `residual = input -
  up(down(input))` on the known region (the high frequencies) and `aggregate` pastes, for every
  cell of the attention grid, the score-weighted sum of the residual patches (non-overlapping
  patches of size H / 32 on the high-resolution grid). The result is clamped and the known
  pixels are composited back. At the working resolution (f = 1) CRA is the identity.

Registry interface
------------------
`forward(image, hole)`, `image` in [0, 1] with zero hole pixels, `hole` 1 in the hole. The image
is mapped to [-1, 1] with the hole zeroed (`(2 * image - 1) * (1 - hole)`: the release's input),
the mask appended, predictions mapped back to [0, 1]. Returns

* "output": (B, C_out, H, W). At the working resolution: the refine network's prediction (not
  composited, like the other backbones; the training module composites). Above it: the CRA
  result, known pixels composited (the release's high-resolution inference path).
* "coarse": the coarse prediction, bilinearly resized to (H, W).
* "low_res": the refine prediction at the working resolution (the release's `x2`; it is "output"
  when H, W are the working size). The release's losses (hole and valid L1 on coarse and refine)
  apply to "coarse" and "low_res".

For bottleneck "rgb" (the paper's baseline) the input is the release's [RGB, mask] and the
prediction RGB; for "mono" the input is [RGB, mono, mask] and the prediction the monochrome,
which is pasted into the mono channel before the refine network (the RGB hole stays empty).

Sizes: with f = min(H, W) // low_res (at least 1), H and W must be divisible by f, the working size
(H/f, W/f) by 2^(levels + 1) (8 for low_res 256, 16 for 512), and the coarse grid by 4.

Deviations from the release, all deliberate:

* Working resolution `low_res` = 256 by default (the release trains the refine net at 512, its
  coarse net at 256; `low_res=512` gives that layout, including the extra 32-channel level).
  The encoder widths follow the release's rule (4c at the 64x64 bottleneck, halving per level up).
* Masked softmax over the valid reference patches (renormalized); the release computes
  `softmax(y * mask * 10) * mask`, so masked patches still take probability mass and the
  aggregated features shrink by a data-dependent factor. With no valid patch the scores are 0.
* Attention transfer divides by the number of overlapping patches (the aggregated feature is a
  convex combination; the release sums the overlaps), and the bottleneck aggregation uses
  4x4 patches at stride 2 like every other level (the release uses 3x3 there).
* The LWGC_ds gate is the paper's depthwise 3x3 + pointwise 1x1 ("pw" reproduces the release op).
* Non-square inputs keep their aspect ratio (the release resizes to a square and back).
* Initialization: feature convs N(0, 6 / fan_in), gate convs N(0, 1 / fan_in), biases 0, instead
  of the release's truncated N(0, 0.05): with that init the signal vanishes through the 25 gated
  layers of the coarse net (measured here: constant coarse output at init, gradients ~1e-12 at
  its first layer); with this one the activation scale stays ~0.5 through the coarse net.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from eiip.external.backbones.registry import BottleneckSpec, check_generator_inputs, register_backbone

FEATURE_GAIN: float = 6.0 ** 0.5
"""Feature convs are initialized N(0, FEATURE_GAIN^2 / fan_in): He's sqrt(2) for the ELU times
sqrt(3) for the sigmoid gate (E[sigmoid(z)^2] ~ 1/3 for unit-variance logits), so that the
activation scale holds through the 25 gated layers of the coarse net."""

GATE_GAIN: float = 1.0
"""Gate convs are initialized N(0, GATE_GAIN^2 / fan_in) (unit-variance gate logits)."""

GATES: tuple[str, ...] = ("sc", "ds", "pw", "full")
COARSE_DILATIONS: tuple[int, ...] = (1, 1, 1, 2, 2, 2, 2, 2, 4, 4, 4, 4, 8, 8)
REFINE_DILATIONS: tuple[int, ...] = (1, 2, 4, 8, 16)


def _init(conv: nn.Conv2d, gain: float = GATE_GAIN) -> nn.Conv2d:
    fan_in = conv.weight[0].numel()
    nn.init.normal_(conv.weight, 0.0, gain / fan_in**0.5)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


class LWGatedConv2d(nn.Module):
    """Light-weight gated conv: ELU(features) * sigmoid(gate), the gate variant picked by `gate`."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        gate: str = "sc",
    ) -> None:
        super().__init__()
        if gate not in GATES:
            raise ValueError(f"unknown gate {gate!r}; expected one of {', '.join(GATES)}")
        self.gate_type = gate
        pad = dilation * (kernel_size - 1) // 2
        self.features = _init(nn.Conv2d(in_channels, out_channels, kernel_size, stride, pad, dilation), FEATURE_GAIN)
        if gate == "sc":
            self.gate: nn.Module = _init(nn.Conv2d(in_channels, 1, kernel_size, stride, pad, dilation))
        elif gate == "full":
            self.gate = _init(nn.Conv2d(in_channels, out_channels, kernel_size, stride, pad, dilation))
        elif gate == "pw":
            self.gate = _init(nn.Conv2d(in_channels, out_channels, 1, stride))
        else:  # depthwise 3x3 + pointwise 1x1
            self.gate = nn.Sequential(
                _init(nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False)),
                _init(nn.Conv2d(in_channels, out_channels, 1)),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(self.features(x)) * torch.sigmoid(self.gate(x))


class UpGatedConv2d(nn.Module):
    """Bilinear x2 upsampling, then a 3x3 light-weight gated conv (release `gen_deconv_gated_*`)."""

    def __init__(self, in_channels: int, out_channels: int, gate: str) -> None:
        super().__init__()
        self.conv = LWGatedConv2d(in_channels, out_channels, 3, gate=gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))


# --------------------------------------------------------------------------------------------
# attention: scores, transfer, residual aggregation


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (before, after) of a `kernel`/`stride` window over `size` pixels."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def attention_valid(hole: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, 1, h, w) 1 where a 3x3 patch around the grid cell lies entirely outside the hole."""
    if hole.shape[-2] % grid[0] or hole.shape[-1] % grid[1]:
        raise ValueError(f"hole of size {tuple(hole.shape[-2:])} does not tile a {grid} grid")
    k = (hole.shape[-2] // grid[0], hole.shape[-1] // grid[1])
    cells = F.max_pool2d(hole, kernel_size=k, stride=k)
    return 1.0 - F.max_pool2d(cells, kernel_size=3, stride=1, padding=1)


def _fuse(scores: torch.Tensor, grid: tuple[int, int], k: int) -> torch.Tensor:
    """Add the scores of diagonal neighbours (query +- d, reference +- d), rows then columns."""
    b, h, w = scores.shape[0], grid[0], grid[1]
    eye = torch.eye(k, dtype=scores.dtype, device=scores.device).view(1, 1, k, k)
    y = F.conv2d(scores.reshape(b, 1, h * w, h * w), eye, padding=k // 2)  # along flattened rows
    y = y.view(b, h, w, h, w).permute(0, 2, 1, 4, 3).reshape(b, 1, h * w, h * w)
    y = F.conv2d(y, eye, padding=k // 2)  # along flattened columns
    return y.view(b, w, h, w, h).permute(0, 2, 1, 4, 3).reshape(b, h * w, h * w)


def attention_scores(
    features: torch.Tensor,
    valid: torch.Tensor,
    rate: int = 2,
    ksize: int = 3,
    softmax_scale: float = 10.0,
    fuse_k: int = 3,
) -> torch.Tensor:
    """Contextual-attention scores (B, L_ref, h, w): for every query cell, weights over reference cells.

    `features` (B, C, H, W) are subsampled by `rate` onto the (h, w) = (H / rate, W / rate) grid;
    every cell's `ksize` x `ksize` neighbourhood is a patch; a query patch is correlated with every
    L2-normalized reference patch, the scores fused along diagonals (`fuse_k`, 0 or 1 = off) and
    soft-maxed (`softmax_scale`) over the references with `valid` (B, 1, h, w) == 1. Queries and
    references are the same grid, so L_ref = h * w, indexed row-major.
    """
    x = features[..., ::rate, ::rate]
    b, c, h, w = x.shape
    if tuple(valid.shape) != (b, 1, h, w):
        raise ValueError(f"expected a {(b, 1, h, w)} validity map, got {tuple(valid.shape)}")
    patches = F.unfold(x, ksize, padding=ksize // 2)  # (B, C*k*k, h*w)
    refs = patches / patches.norm(dim=1, keepdim=True).clamp_min(1e-8)
    scores = torch.bmm(refs.transpose(1, 2), patches)  # (B, L_ref, L_query)
    if fuse_k > 1:
        scores = _fuse(scores.transpose(1, 2), (h, w), fuse_k).transpose(1, 2)  # fuse works on (q, r)
    ok = valid.reshape(b, h * w, 1) > 0.5
    logits = (scores * softmax_scale).masked_fill(~ok, float("-inf"))
    any_ok = ok.any(dim=1, keepdim=True)
    probs = torch.softmax(logits.masked_fill(~any_ok, 0.0), dim=1) * any_ok
    return probs.view(b, h * w, h, w)


def transfer_attention(features: torch.Tensor, scores: torch.Tensor, kernel_factor: int = 2) -> torch.Tensor:
    """Aggregate patches of `features` (B, C, H, W) with attention `scores` (B, h*w, h, w).

    The features are cut into patches of size k = kernel_factor * r at stride r = H / h, one per
    grid cell ("SAME" zero padding, as the release's `extract_image_patches`); every query cell
    receives the score-weighted sum of the reference patches; overlapping contributions are
    averaged. kernel_factor 2: attention transfer of the refine network; 1: non-overlapping
    patches, used for contextual residual aggregation.
    """
    b, c, height, width = features.shape
    h, w = scores.shape[-2:]
    if scores.shape[1] != h * w or height % h or width % w or height // h != width // w:
        raise ValueError(f"features {tuple(features.shape)} do not match scores {tuple(scores.shape)}")
    r = height // h
    k = kernel_factor * r
    top, bottom = _same_pad(height, k, r)
    left, right = _same_pad(width, k, r)
    padded = F.pad(features, (left, right, top, bottom))
    patches = F.unfold(padded, k, stride=r)  # (B, C*k*k, h*w)
    aggregated = torch.bmm(patches, scores.reshape(b, h * w, h * w))  # (B, C*k*k, h*w)
    canvas = (padded.shape[-2], padded.shape[-1])
    out = F.fold(aggregated, canvas, k, stride=r)[..., top:top + height, left:left + width]
    if kernel_factor > 1:
        ones = torch.ones(1, k * k, h * w, dtype=features.dtype, device=features.device)
        cover = F.fold(ones, canvas, k, stride=r)[..., top:top + height, left:left + width]
        out = out / cover.clamp_min(1.0)
    return out


def contextual_residual_aggregation(
    image: torch.Tensor,
    hole: torch.Tensor,
    low_res: torch.Tensor,
    scores: torch.Tensor,
) -> torch.Tensor:
    """High-resolution result from a low-resolution prediction (CRA, paper section 3.1).

    `image` (B, C, H, W) the high-resolution target channels in any range (hole content ignored),
    `hole` (B, 1, H, W), `low_res` (B, C, H/f, W/f) the low-resolution prediction, `scores` the
    attention scores (B, h*w, h, w). Returns `up(low_res) + aggregated residual`, with the known
    pixels of `image` composited back (no clamping here).
    """
    factor = image.shape[-2] // low_res.shape[-2]
    if factor * low_res.shape[-2] != image.shape[-2] or factor * low_res.shape[-1] != image.shape[-1]:
        raise ValueError(f"image {tuple(image.shape)} is not an integer multiple of {tuple(low_res.shape)}")
    known = 1.0 - hole
    up_low = low_res if factor == 1 else F.interpolate(low_res, scale_factor=factor, mode="bilinear", align_corners=False)
    if factor == 1:
        return up_low * hole + image * known
    blurred = F.interpolate(F.avg_pool2d(image, factor), scale_factor=factor, mode="bilinear", align_corners=False)
    hole_blocks = F.interpolate(F.max_pool2d(hole, factor), scale_factor=factor, mode="nearest")
    residual = (image - blurred) * (1.0 - hole_blocks)
    filled = up_low + transfer_attention(residual, scores, kernel_factor=1)
    return filled * hole + image * known


# --------------------------------------------------------------------------------------------
# networks


class CoarseNet(nn.Module):
    """HiFill's coarse network (light-weight gated convs, dilated block), [-1, 1] in and out."""

    def __init__(self, in_channels: int, out_channels: int, cnum: int = 32, gate: str = "sc") -> None:
        super().__init__()
        c, c2 = cnum, 2 * cnum
        layers: list[nn.Module] = [
            LWGatedConv2d(in_channels, c, 5, 2, gate=gate),
            LWGatedConv2d(c, c, 3, gate=gate),
            LWGatedConv2d(c, c2, 3, 2, gate=gate),
            *[LWGatedConv2d(c2, c2, 3, gate=gate) for _ in range(3)],
            *[LWGatedConv2d(c2, c2, 3, dilation=d, gate=gate) for d in COARSE_DILATIONS],
            *[LWGatedConv2d(c2, c2, 3, gate=gate) for _ in range(3)],
            UpGatedConv2d(c2, c, gate),
            LWGatedConv2d(c, c, 3, gate=gate),
            UpGatedConv2d(c, out_channels, gate),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.body(x), -1.0, 1.0)


class AttentionTransfer(nn.Module):
    """Skip connection of the refine U-Net: attention-aggregated features + two convs (rates 1, 2)."""

    def __init__(self, channels: int, gate: str) -> None:
        super().__init__()
        self.conv1 = LWGatedConv2d(channels, channels, 3, gate=gate)
        self.conv2 = LWGatedConv2d(channels, channels, 3, dilation=2, gate=gate)

    def forward(self, features: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(transfer_attention(features, scores, kernel_factor=2)))


class RefineNet(nn.Module):
    """HiFill's refine U-Net with contextual attention and attention transfer, [-1, 1] in and out."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        levels: int,
        cnum: int = 32,
        gate: str = "ds",
        softmax_scale: float = 10.0,
        attention_rate: int = 2,
    ) -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"the refine network needs at least one level, got {levels}")
        self.softmax_scale = float(softmax_scale)
        self.attention_rate = int(attention_rate)
        widths = [4 * cnum // 2 ** (levels - 1 - i) for i in range(levels)]
        if min(widths) < 1:
            raise ValueError(f"cnum {cnum} too small for {levels} refine levels")
        self.widths = tuple(widths)
        self.encoder = nn.ModuleList()
        previous = in_channels
        for width in widths:
            self.encoder.append(nn.Sequential(
                LWGatedConv2d(previous, width, 3, 2, gate=gate),
                LWGatedConv2d(width, width, 3, gate=gate),
            ))
            previous = width
        bottleneck = widths[-1]
        self.dilated = nn.Sequential(*[LWGatedConv2d(bottleneck, bottleneck, 3, dilation=d, gate=gate)
                                       for d in REFINE_DILATIONS])
        self.attention_conv = LWGatedConv2d(bottleneck, bottleneck, 3, gate=gate)
        self.attention_fuse = LWGatedConv2d(2 * bottleneck, bottleneck, 3, gate=gate)
        self.up = nn.ModuleList()
        self.up_conv = nn.ModuleList()
        self.transfer = nn.ModuleList()
        channels = bottleneck
        for width in reversed(widths[:-1]):
            self.up.append(UpGatedConv2d(channels, width, gate))
            self.up_conv.append(LWGatedConv2d(width, width, 3, gate=gate))
            self.transfer.append(AttentionTransfer(width, gate))
            channels = 2 * width
        self.to_output = UpGatedConv2d(channels, out_channels, gate)

    @property
    def stride(self) -> int:
        """Working sizes must be divisible by this (encoder levels plus the attention subsampling)."""
        return 2 ** len(self.widths) * self.attention_rate

    def forward(self, x: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(prediction in [-1, 1], attention scores (B, h*w, h, w))."""
        skips = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
        skips.pop()  # the bottleneck itself
        x = self.dilated(x)
        grid = (x.shape[-2] // self.attention_rate, x.shape[-1] // self.attention_rate)
        valid = attention_valid(hole, grid)
        scores = attention_scores(x, valid, rate=self.attention_rate, softmax_scale=self.softmax_scale)
        attended = self.attention_conv(transfer_attention(x, scores, kernel_factor=2))
        x = self.attention_fuse(torch.cat((x, attended), dim=1))
        for up, conv, transfer in zip(self.up, self.up_conv, self.transfer):
            x = conv(up(x))
            x = torch.cat((transfer(skips.pop(), scores), x), dim=1)
        return torch.clamp(self.to_output(x), -1.0, 1.0), scores


class HiFill(nn.Module):
    """HiFill generator (coarse + refine at a working resolution, CRA above it) on the registry interface."""

    def __init__(
        self,
        spec: BottleneckSpec,
        cnum: int = 32,
        low_res: int = 256,
        coarse_size: int = 256,
        bottleneck_size: int = 64,
        coarse_gate: str = "sc",
        refine_gate: str = "ds",
        softmax_scale: float = 10.0,
    ) -> None:
        super().__init__()
        levels = math.log2(low_res / bottleneck_size)
        if low_res < bottleneck_size or levels != int(levels) or levels < 1:
            raise ValueError(f"low_res ({low_res}) must be bottleneck_size ({bottleneck_size}) times a power of 2 >= 2")
        if coarse_size > low_res or low_res % coarse_size:
            raise ValueError(f"coarse_size ({coarse_size}) must divide low_res ({low_res})")
        self.spec = spec
        self.low_res = int(low_res)
        self.coarse_scale = self.low_res // int(coarse_size)
        in_channels = spec.image_channels + 1  # masked image ⊕ mask, as the release
        self.coarse = CoarseNet(in_channels, spec.output_channels, cnum, coarse_gate)
        self.refine = RefineNet(in_channels, spec.output_channels, int(levels), cnum, refine_gate, softmax_scale)

    def working_size(self, height: int, width: int) -> tuple[int, int, int]:
        """(factor f, working height, working width) for an input of the given size; raises if unusable."""
        factor = max(1, min(height, width) // self.low_res)
        h, w = height // factor, width // factor
        step = self.refine.stride
        if (height % factor or width % factor or h % step or w % step
                or h % (4 * self.coarse_scale) or w % (4 * self.coarse_scale)):
            raise ValueError(
                f"HiFill cannot take a {height}x{width} input: with the downsampling factor {factor} "
                f"(min side // low_res {self.low_res}) the size must divide by {factor} and the working size "
                f"{height / factor:g}x{width / factor:g} by {max(step, 4 * self.coarse_scale)}"
            )
        return factor, h, w

    def forward(
        self, image: torch.Tensor, hole: torch.Tensor, return_attention: bool = False
    ) -> dict[str, torch.Tensor]:
        hole = check_generator_inputs(self.spec, image, hole)
        height, width = image.shape[-2:]
        factor, h, w = self.working_size(height, width)
        n_out = self.spec.output_channels

        x_full = (2.0 * image - 1.0) * (1.0 - hole)
        if factor > 1:
            hole_lr = F.max_pool2d(hole, factor)
            x = F.avg_pool2d(x_full, factor) * (1.0 - hole_lr)
        else:
            hole_lr, x = hole, x_full

        # stage 1: coarse
        net_in = torch.cat((x, hole_lr), dim=1)
        if self.coarse_scale > 1:
            coarse_in = F.interpolate(net_in, scale_factor=1.0 / self.coarse_scale, mode="bilinear",
                                      align_corners=False, antialias=True)
            coarse = F.interpolate(self.coarse(coarse_in), size=(h, w), mode="bilinear", align_corners=False)
        else:
            coarse = self.coarse(net_in)

        # stage 2: refine, the coarse prediction pasted into the hole of the predicted channels
        target = x[:, -n_out:]
        pasted = torch.cat((x[:, :-n_out], coarse * hole_lr + target * (1.0 - hole_lr)), dim=1)
        refined, scores = self.refine(torch.cat((pasted, hole_lr), dim=1), hole_lr)

        if factor > 1:
            filled = contextual_residual_aggregation(x_full[:, -n_out:], hole, refined, scores)
            filled = (torch.clamp(filled, -1.0, 1.0) + 1.0) / 2.0
            output = filled * hole + image[:, -n_out:] * (1.0 - hole)  # known pixels bit-exact
            coarse_full = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
        else:
            output, coarse_full = (refined + 1.0) / 2.0, coarse
        result = {
            "output": output,
            "coarse": (coarse_full + 1.0) / 2.0,
            "low_res": (refined + 1.0) / 2.0,
        }
        if return_attention:
            result["attention"] = scores
        return result


@register_backbone("hifill")
def build_hifill(spec: BottleneckSpec, **options: object) -> HiFill:
    """HiFill's generator for the bottleneck (options: see `HiFill`)."""
    return HiFill(spec, **options)  # type: ignore[arg-type]
