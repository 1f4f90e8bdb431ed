"""Chroma-only output: the generators predict the two chroma channels (I, Q) of NTSC YIQ and the RGB
is rebuilt around the given monochrome, so the output's Y is the input monochrome exactly.

YIQ's Y row is the paper's 0.30/0.59/0.11, so RGB = Y + A (I, Q) with A the last two columns of the
YIQ -> RGB matrix. Chroma that would leave the RGB cube is scaled towards gray per pixel, never
clipped: the gray (Y, 0, 0) lies inside the cube for Y in [0, 1], so the largest t in [0, 1] with
Y + t A (I, Q) inside it keeps Y while staying a valid color. Training uses the unscaled Y + A (I, Q):
the scaling has no gradient along the chroma's direction once it saturates, whereas the loss of the
unscaled color pulls chroma beyond the cube back (every target lies inside it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from eiip.color import rgb_to_yiq, yiq_to_rgb

_SAFE = 1e-12
# RGB offsets of a unit I and a unit Q (the YIQ -> RGB matrix's last two columns), shape (2, 3)
_CHROMA_DIRECTIONS = yiq_to_rgb(torch.eye(3, dtype=torch.float64)[:, :, None, None])[1:, :, 0, 0]


def chroma_to_rgb(mono: torch.Tensor, chroma: torch.Tensor, *, in_gamut: bool = True) -> torch.Tensor:
    """RGB (..., 3, H, W) with monochrome `mono` (..., 1, H, W) and chroma `chroma` (..., 2, H, W);
    with `in_gamut` the chroma is scaled towards gray where the color would leave [0, 1]."""
    if mono.shape[-3] != 1 or chroma.shape[-3] != 2 or mono.shape[-2:] != chroma.shape[-2:]:
        raise ValueError(f"expected mono (..., 1, H, W) and chroma (..., 2, H, W), got {tuple(mono.shape)}, "
                         f"{tuple(chroma.shape)}")
    i_direction, q_direction = _CHROMA_DIRECTIONS.to(chroma)[..., None, None]  # (3, 1, 1) each
    # elementwise rather than a matrix product, so a batch rounds exactly like its images one by one
    offset = i_direction * chroma[..., 0:1, :, :] + q_direction * chroma[..., 1:2, :, :]
    if not in_gamut:
        return mono + offset
    room = torch.where(offset > 0, 1.0 - mono, -mono)  # how far each channel may move in the offset's direction
    moving = offset.abs() > _SAFE
    limits = torch.where(moving, room / torch.where(moving, offset, 1.0), 1.0)
    scale = limits.amin(dim=-3, keepdim=True).clamp(0.0, 1.0)
    return mono + scale * offset


def upsample_chroma(rgb: torch.Tensor, mono: torch.Tensor) -> torch.Tensor:
    """Colors at `mono`'s resolution: the chroma (I, Q) of the low-resolution (B, 3, h, w) `rgb`,
    upsampled bilinearly, around the full-resolution (B, 1, H, W) monochrome, kept in gamut."""
    chroma = F.interpolate(rgb_to_yiq(rgb)[:, 1:], size=mono.shape[-2:], mode="bilinear", align_corners=False)
    return chroma_to_rgb(mono, chroma)
