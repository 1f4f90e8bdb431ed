"""PSNR (whole image or a region) and SSIM for (C, H, W) or (B, C, H, W) images in [0, 1]."""

from __future__ import annotations

import torch
from torchmetrics.functional.image import structural_similarity_index_measure


def psnr(prediction: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None) -> float:
    """PSNR in dB (data range 1) over all pixels, or over pixels where `region` ((1, H, W) bool) is True."""
    squared_error = (prediction.float() - target.float()).square()
    if region is not None:
        selected = region.bool().expand_as(squared_error)
        if not selected.any():
            raise ValueError("the PSNR region is empty")
        squared_error = squared_error[selected]
    mse = squared_error.mean().clamp_min(1e-12)
    return float(-10.0 * torch.log10(mse))


def psnr_per_image(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of each image of a (B, C, H, W) batch, shape (B,)."""
    mse = (prediction.float() - target.float()).square().flatten(1).mean(dim=1).clamp_min(1e-12)
    return -10.0 * torch.log10(mse)


def hole_psnr(prediction: torch.Tensor, target: torch.Tensor, known: torch.Tensor) -> float:
    """PSNR over the hole (pixels where `known` is False) only."""
    return psnr(prediction, target, ~known.bool())


def ssim(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """SSIM (Gaussian window 11, sigma 1.5, data range 1) averaged over channels and pixels."""
    def batched(x: torch.Tensor) -> torch.Tensor:
        return (x if x.ndim == 4 else x[None]).float()

    return float(structural_similarity_index_measure(batched(prediction), batched(target), data_range=1.0))
