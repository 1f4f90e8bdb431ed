"""Image-quality metrics."""

from eiip.metrics.fidelity import hole_psnr, psnr, ssim

__all__ = ["hole_psnr", "psnr", "ssim"]
