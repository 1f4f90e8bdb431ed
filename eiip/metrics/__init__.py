"""Image-quality metrics."""

from eiip.metrics.fidelity import hole_psnr, psnr, psnr_per_image, ssim

__all__ = ["hole_psnr", "psnr", "psnr_per_image", "ssim"]
