"""Image-quality metrics."""

from eiip.metrics.fidelity import hole_psnr, psnr, psnr_per_image, ssim
from eiip.metrics.lpips import LPIPS, LPIPS_NETS, lpips_linear_path, reduce_distance_maps
from eiip.metrics.quality import HOLE_RATIO_EDGES, METRIC_KEYS, ImageMetrics, summarize

__all__ = [
    "HOLE_RATIO_EDGES",
    "LPIPS",
    "LPIPS_NETS",
    "METRIC_KEYS",
    "ImageMetrics",
    "hole_psnr",
    "lpips_linear_path",
    "psnr",
    "psnr_per_image",
    "reduce_distance_maps",
    "ssim",
    "summarize",
]
