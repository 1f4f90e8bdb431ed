"""Reusable building blocks for the inpainting backbones.

* `Conv2dSame`: a convolution with TensorFlow's "SAME" padding (asymmetric for strided convs on
  even sizes), so the TF releases (DeepFill v2, HiFill) are reproduced pixel-for-pixel in layout.
* `GatedConv2d` / `GatedDeconv2d`: DeepFill v2 gated convolutions (Yu et al., ICCV 2019).
* `ContextualAttention`: DeepFill's patch-matching attention layer (Yu et al., CVPR 2018), as in
  the v2.0.0 release (`inpaint_ops.contextual_attention`), matched in chunks of foreground
  positions so that memory stays linear in the image area.
* `spectral_norm_conv`: spectral-normalized conv blocks for discriminators.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = [
    "ATTENTION_CHUNK_BYTES",
    "ContextualAttention",
    "Conv2dSame",
    "GatedConv2d",
    "GatedDeconv2d",
    "check_mask_downsampling",
    "downsample_mask",
    "extract_patches",
    "same_padding",
    "spectral_norm_conv",
]

Activation = Literal["elu", "relu"] | None
MaskDownsampling = Literal["sample", "maxpool"]

ATTENTION_CHUNK_BYTES = 256 * 2**20
"""Default budget, in bytes, of the score arrays of one chunk of `ContextualAttention`'s match."""


def same_padding(size: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) of one spatial dimension of length `size`.

    The output has ceil(size / stride) samples; when the total padding is odd TF puts the extra
    pixel after (bottom/right), unlike PyTorch's symmetric `padding=`.
    """
    effective = (kernel_size - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """`nn.Conv2d` with TensorFlow "SAME" padding computed from the input size at run time."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 dilation: int = 1, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0,
                         dilation=dilation, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1])
        if top == bottom and left == right:  # symmetric: let the conv pad (no copy)
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def spectral_norm_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                       padding: int | Literal["same"] = "same", dilation: int = 1,
                       bias: bool = True) -> nn.Conv2d:
    """A spectral-normalized conv (`torch.nn.utils.parametrizations.spectral_norm`, 1 power iteration).

    padding="same" gives TensorFlow "SAME" padding (`Conv2dSame`, the TF releases); an int gives
    PyTorch's symmetric padding (the PyTorch releases, e.g. EdgeConnect's 4x4 convs with padding 1).
    """
    if padding == "same":
        conv: nn.Conv2d = Conv2dSame(in_channels, out_channels, kernel_size, stride, dilation, bias)
    else:
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=int(padding),
                         dilation=dilation, bias=bias)
    return spectral_norm(conv)


def _activation(name: Activation) -> nn.Module:
    if name == "elu":
        return nn.ELU()
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"unknown activation {name!r}; expected 'elu', 'relu' or None")


class GatedConv2d(nn.Module):
    """DeepFill v2 gated convolution: `activation(features) * sigmoid(gate)`.

    As in the official release (`gen_conv` of JiahuiYu/generative_inpainting v2.0.0) one
    convolution produces 2 x `out_channels` maps; the first half are the features, the second the
    gate. With `activation=None` it is the release's output layer: a plain conv to `out_channels`,
    no gate. TF "SAME" padding; weights Glorot-uniform and biases zero (TF's defaults).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 dilation: int = 1, activation: Activation = "elu") -> None:
        super().__init__()
        self.out_channels = out_channels
        self.gated = activation is not None
        self.conv = Conv2dSame(in_channels, out_channels * (2 if self.gated else 1), kernel_size,
                               stride=stride, dilation=dilation)
        self.act = _activation(activation) if self.gated else nn.Identity()
        nn.init.xavier_uniform_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if not self.gated:
            return x
        features, gate = x.split(self.out_channels, dim=1)
        return self.act(features) * torch.sigmoid(gate)


class GatedDeconv2d(nn.Module):
    """DeepFill v2 `gen_deconv`: nearest-neighbour 2x upsampling, then a 3x3 gated conv."""

    def __init__(self, in_channels: int, out_channels: int, activation: Activation = "elu") -> None:
        super().__init__()
        self.conv = GatedConv2d(in_channels, out_channels, 3, 1, activation=activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def extract_patches(x: torch.Tensor, kernel_size: int, stride: int = 1) -> torch.Tensor:
    """All `kernel_size` x `kernel_size` patches of x (B, C, H, W) at `stride`, TF "SAME" padding
    (zeros), as (B, L, C, k, k) with L = ceil(H / stride) * ceil(W / stride) in row-major order."""
    b, c, h, w = x.shape
    top, bottom = same_padding(h, kernel_size, stride)
    left, right = same_padding(w, kernel_size, stride)
    x = F.pad(x, (left, right, top, bottom))
    cols = F.unfold(x, kernel_size, stride=stride)  # (B, C*k*k, L)
    return cols.transpose(1, 2).reshape(b, -1, c, kernel_size, kernel_size)


def check_mask_downsampling(mode: str) -> None:
    """Raise ValueError unless `mode` is a :data:`MaskDownsampling`."""
    if mode not in get_args(MaskDownsampling):
        raise ValueError(f"mask downsampling must be one of {get_args(MaskDownsampling)}, got {mode!r}")


def downsample_mask(mask: torch.Tensor, factor: int, mode: MaskDownsampling = "sample") -> torch.Tensor:
    """A (B, 1, H, W) float mask at 1/`factor` resolution, (B, 1, ceil(H/f), ceil(W/f)).

    "sample" keeps the top-left pixel of each `factor` x `factor` block (the release's nearest
    resize, so thinner holes can be missed); "maxpool" marks a block as hole if any of its pixels is.
    """
    check_mask_downsampling(mode)
    if mode == "sample":
        return mask[..., ::factor, ::factor]
    return F.max_pool2d(mask, factor, ceil_mode=True)


def _fg_neighbours(positions: torch.Tensor, shifts: range, hf: int, wf: int,
                   column_major: bool) -> torch.Tensor:
    """Row-major indices (len(shifts), n) of the foreground positions `d` steps from `positions`
    (row-major indices on the hf x wf grid) along the row- or column-major flattening of the grid,
    wrapping across row / column ends; -1 where that runs off either end of the flattening."""
    d = torch.tensor(list(shifts), device=positions.device)[:, None]
    if column_major:
        q = (positions % wf) * hf + positions // wf + d
        neighbours = (q % hf) * wf + q // hf
    else:
        q = neighbours = positions + d
    return torch.where((q >= 0) & (q < hf * wf), neighbours, -1)


def _fuse_step(scores: torch.Tensor, sources: torch.Tensor, neighbours: torch.Tensor,
               shifts: range) -> torch.Tensor:
    """One identity-kernel pass of the fusion: out[t, j] = sum_d scores[source of t at d, j + d].

    `scores` (len(sources), L) belong to the sorted foreground indices `sources`; `neighbours`
    (len(shifts), n) says, per shift d, which source each of the n targets takes (-1: none, as
    the zero padding); j + d outside [0, L) contributes zero.
    """
    n_bg = scores.shape[1]
    out = scores.new_zeros(neighbours.shape[1], n_bg)
    for d, neighbour in zip(shifts, neighbours):
        if abs(d) >= n_bg:
            continue
        targets = (neighbour >= 0).nonzero().squeeze(1)
        rows = torch.searchsorted(sources, neighbour[targets])
        lo, hi = max(d, 0), n_bg + min(d, 0)
        out[:, lo - d:hi - d].index_add_(0, targets, scores[rows, lo:hi])
    return out


class ContextualAttention(nn.Module):
    """DeepFill contextual attention (release v2.0.0 `contextual_attention`).

    For foreground features f and background features b (B, C, H, W) and the hole mask (B, 1, H, W),
    1 = hole:

    1. raw 2r x 2r patches of b at stride r (r = `rate`) are kept for reconstruction;
    2. f, b and the mask are downsampled by r (nearest; the mask as `mask_mode`, see
       :func:`downsample_mask`); 3x3 patches of the downsampled b are
       L2-normalized (norm floored at 1e-4) and correlated with the 3x3 patches of the downsampled
       f (zero padded): cosine-style matching scores of foreground positions against background patches;
    3. optional fusion ("propagation"): the score map, viewed as a (fg position x bg position)
       image, is convolved with a `fuse_k` x `fuse_k` identity kernel along the row-major, then
       (after a transpose) the column-major flattening of both, favouring coherent shifts;
    4. background patches that touch the hole (any hole pixel in their 3x3 window) are excluded:
       scores x valid, softmax over background patches with scale `softmax_scale`, x valid again
       (so excluded patches get exactly zero weight);
    5. the output is the transposed conv of the attention map with the raw patches (stride r),
       divided by 4 (each output pixel is covered by 4 overlapping 2r x 2r patches).

    Steps 2-5 run per sample on chunks of consecutive foreground positions (whole rows when the
    budget allows), sized so that about `chunk_bytes` hold the chunk's score arrays: peak memory
    is linear in the image area, never the full (fg x bg) matrix. Fusion needs the raw scores of
    the chunk's neighbours (the rows around it, and across the wrap of the flattenings), which
    are recomputed with each chunk; the result equals the full-matrix computation.

    Differences from the release: the mask is per sample (the release uses the first sample's mask
    for the whole batch) and the r-downsampling is `x[..., ::r, ::r]` (TF's resize picks slightly
    different pixels).
    """

    def __init__(self, ksize: int = 3, rate: int = 2, fuse_k: int = 3, softmax_scale: float = 10.0,
                 fuse: bool = True, eps: float = 1e-4, mask_mode: MaskDownsampling = "sample",
                 chunk_bytes: int = ATTENTION_CHUNK_BYTES) -> None:
        super().__init__()
        check_mask_downsampling(mask_mode)
        if ksize % 2 == 0 or fuse_k % 2 == 0:
            raise ValueError(f"ksize and fuse_k must be odd, got {ksize} and {fuse_k}")
        self.mask_mode = mask_mode
        self.ksize = ksize
        self.rate = rate
        self.fuse_k = fuse_k
        self.softmax_scale = softmax_scale
        self.fuse = fuse
        self.eps = eps
        self.chunk_bytes = chunk_bytes

    def _chunk_size(self, wf: int, n_bg: int, itemsize: int) -> int:
        """Foreground positions per chunk: about 3 live (positions x n_bg) score arrays, counting
        the neighbours that fusion adds (fuse_k // 2 rows either side, or that many times the
        chunk below a row), fit in `chunk_bytes`; a multiple of wf once a whole row fits."""
        fit = max(1, self.chunk_bytes // (3 * n_bg * itemsize))
        p = self.fuse_k // 2 if self.fuse else 0
        halo = 2 * p * (wf + 2)
        if fit >= halo + wf:
            return (fit - halo) // wf * wf
        return max(1, fit // (2 * p + 1))

    def _match(self, f_pad: torch.Tensor, patches: torch.Tensor, positions: torch.Tensor,
               wf: int) -> torch.Tensor:
        """Raw scores (n, Lb): the ksize x ksize patches of the padded downsampled foreground
        f_pad (C, Hf + 2q, Wf + 2q) at row-major `positions` against `patches` (Lb, C*k*k)."""
        k = torch.arange(self.ksize, device=positions.device)
        rows = (positions // wf)[:, None, None] + k[None, :, None]
        cols = (positions % wf)[:, None, None] + k[None, None, :]
        fg = f_pad[:, rows, cols]  # (C, n, k, k)
        return fg.transpose(0, 1).reshape(len(positions), -1) @ patches.T

    def _attend(self, f_pad: torch.Tensor, patches: torch.Tensor, valid: torch.Tensor, start: int,
                stop: int, fg_size: tuple[int, int], bg_size: tuple[int, int]) -> torch.Tensor:
        """Attention (stop - start, Lb) of the row-major foreground positions [start, stop) of one
        sample: matched, fused, masked by `valid` (Lb,) and softmaxed over the background."""
        hf, wf = fg_size
        hb, wb = bg_size
        targets = torch.arange(start, stop, device=f_pad.device)
        if not self.fuse:
            scores = self._match(f_pad, patches, targets, wf)
        else:
            shifts = range(-(self.fuse_k // 2), self.fuse_k // 2 + 1)
            # Column-major neighbours of the targets, and the row-major neighbours of those.
            near = _fg_neighbours(targets, shifts, hf, wf, column_major=True)
            mid = near[near >= 0].unique()
            far = _fg_neighbours(mid, shifts, hf, wf, column_major=False)
            sources = far[far >= 0].unique()
            scores = _fuse_step(self._match(f_pad, patches, sources, wf), sources, far, shifts)
            scores = scores.view(-1, hb, wb).transpose(1, 2).reshape(-1, hb * wb)  # bg column-major
            scores = _fuse_step(scores, mid, near, shifts)
            scores = scores.view(-1, wb, hb).transpose(1, 2).reshape(-1, hb * wb)
        return torch.softmax(scores * valid * self.softmax_scale, dim=1) * valid

    def forward(self, f: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None,
                return_attention: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend from f to b; returns y (B, C, H, W) and, optionally, the attention
        (B, Hb*Wb, Hf, Wf): weight of each background patch (row-major) per foreground position.
        The attention is assembled from the chunks, so asking for it costs its full size."""
        if f.shape != b.shape:
            raise ValueError(f"foreground {tuple(f.shape)} and background {tuple(b.shape)} must match")
        bsz, c, h, w = b.shape
        r = self.rate
        raw = extract_patches(b, 2 * r, stride=r).flatten(2)  # (B, Lb, C*2r*2r)
        f_d = f[..., ::r, ::r]
        b_d = b[..., ::r, ::r]
        hf, wf = f_d.shape[-2:]
        hb, wb = b_d.shape[-2:]
        n_fg, n_bg = hf * wf, hb * wb
        if raw.shape[1] != n_bg:  # cannot happen with stride-r SAME patches; guard anyway
            raise RuntimeError("raw and downsampled patch grids disagree")

        patches = extract_patches(b_d, self.ksize, stride=1).flatten(2)  # (B, Lb, C*k*k)
        norms = patches.norm(dim=2, keepdim=True).clamp_min(self.eps)
        patches = patches / norms

        if mask is None:
            valid = torch.ones(bsz, n_bg, dtype=f.dtype, device=f.device)
        else:
            m_d = downsample_mask(mask.to(f.dtype), r, self.mask_mode)
            if m_d.shape[0] == 1 and bsz > 1:
                m_d = m_d.expand(bsz, -1, -1, -1)
            m_patches = extract_patches(m_d, self.ksize, stride=1)  # (B, Lb, 1, k, k)
            valid = (m_patches.flatten(2).sum(dim=2) == 0).to(f.dtype)  # (B, Lb)

        q = self.ksize // 2
        f_pad = F.pad(f_d, (q, q, q, q))
        step = self._chunk_size(wf, n_bg, f.element_size())
        y = f.new_zeros(bsz, c, (hf + 1) * r, (wf + 1) * r)  # the transposed conv's full output
        chunks = []
        for i in range(bsz):
            for start in range(0, n_fg, step):
                stop = min(start + step, n_fg)
                attn = self._attend(f_pad[i], patches[i], valid[i], start, stop, (hf, wf), (hb, wb))
                if return_attention:
                    chunks.append(attn)
                # Reconstruction of the chunk's rows: paste the weighted raw patches (a strip of the
                # transposed conv), positions outside the chunk padded with zero weight.
                row0, row1 = start // wf, -(-stop // wf)
                cols = F.pad(attn @ raw[i], (0, 0, start - row0 * wf, row1 * wf - stop))
                strip = F.fold(cols.T, ((row1 - row0 + 1) * r, (wf + 1) * r), 2 * r, stride=r)
                y[i, :, row0 * r:(row1 + 1) * r] += strip
        top, _ = same_padding(h, 2 * r, r)
        left, _ = same_padding(w, 2 * r, r)
        y = y[..., top:top + h, left:left + w] / 4.0
        if not return_attention:
            return y
        attention = torch.cat(chunks).view(bsz, n_fg, n_bg).transpose(1, 2).reshape(bsz, n_bg, hf, wf)
        return y, attention
