"""Monochrome conversion and color-space helpers.

This module is the one place the paper's monochrome weights (0.30 R + 0.59 G + 0.11 B) live.
Images are float tensors in [0, 1] with the channel axis third from last: (..., C, H, W).
"""

from __future__ import annotations

import torch

MONO_WEIGHTS: tuple[float, float, float] = (0.30, 0.59, 0.11)
"""Weights of R, G and B in the monochrome image (paper, section 3.1)."""


def _weights_like(x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(MONO_WEIGHTS, dtype=x.dtype, device=x.device).view(3, 1, 1)


def rgb_to_mono(rgb: torch.Tensor) -> torch.Tensor:
    """Monochrome of an RGB image: (..., 3, H, W) -> (..., 1, H, W)."""
    if rgb.ndim < 3 or rgb.shape[-3] != 3:
        raise ValueError(f"expected an RGB tensor of shape (..., 3, H, W), got {tuple(rgb.shape)}")
    return (rgb * _weights_like(rgb)).sum(dim=-3, keepdim=True)


def mono_to_rgb(mono: torch.Tensor) -> torch.Tensor:
    """Gray RGB image with every channel equal to the monochrome: (..., 1, H, W) -> (..., 3, H, W)."""
    if mono.ndim < 3 or mono.shape[-3] != 1:
        raise ValueError(f"expected a monochrome tensor of shape (..., 1, H, W), got {tuple(mono.shape)}")
    return mono.expand(*mono.shape[:-3], 3, *mono.shape[-2:])


def composite(filled: torch.Tensor, original: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Keep `original` where `known` is 1 and take `filled` in the hole (known is (..., 1, H, W)).

    A bool ``known`` selects (one pass, and a NaN on the side not taken never shows); a float one blends."""
    if known.dtype == torch.bool:
        return torch.where(known, original, filled)
    known = known.to(filled.dtype)
    return original * known + filled * (1.0 - known)


def composite_(filled: torch.Tensor, original: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """:func:`composite` with a bool ``known``, written into ``filled`` (no new image: large photos); returns it."""
    return torch.where(known, original, filled, out=filled)


# NTSC 1953 YIQ; its Y row is exactly the paper's monochrome weights, so Y == rgb_to_mono(rgb).
_RGB_TO_YIQ = torch.tensor(
    [
        MONO_WEIGHTS,
        (0.60, -0.28, -0.32),
        (0.21, -0.52, 0.31),
    ],
    dtype=torch.float64,
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _apply_matrix(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    if x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"expected a 3-channel tensor of shape (..., 3, H, W), got {tuple(x.shape)}")
    return torch.einsum("ij,...jhw->...ihw", matrix.to(dtype=x.dtype, device=x.device), x)


def rgb_to_yiq(rgb: torch.Tensor) -> torch.Tensor:
    """RGB -> YIQ (Y is the monochrome; I and Q carry the chroma)."""
    return _apply_matrix(rgb, _RGB_TO_YIQ)


def yiq_to_rgb(yiq: torch.Tensor) -> torch.Tensor:
    """YIQ -> RGB (not clipped: chroma far from the data can leave [0, 1])."""
    return _apply_matrix(yiq, _YIQ_TO_RGB)
