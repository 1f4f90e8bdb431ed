"""Per-image inpainting quality (PSNR, SSIM, LPIPS over the whole image and over the hole) and summaries."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics.functional.image import structural_similarity_index_measure

from eiip.metrics.fidelity import psnr_per_image
from eiip.metrics.lpips import LPIPS, reduce_distance_maps
from eiip.pretrained import PretrainedWeightsMissing

__all__ = ["HOLE_RATIO_EDGES", "METRIC_KEYS", "ImageMetrics", "summarize"]

#: Hole-ratio bucket edges of :func:`summarize`: [0, 10%), [10%, 20%), ..., [60%, 100%].
HOLE_RATIO_EDGES: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0)
#: The keys of each row returned by :class:`ImageMetrics`.
METRIC_KEYS: tuple[str, ...] = (
    "psnr", "ssim", "lpips", "hole_psnr", "hole_ssim", "hole_lpips", "hole_l1", "hole_ratio",
)


def _hole_mean(values: Tensor, hole: Tensor) -> Tensor:
    """Mean of (B, C, H, W) `values` over the pixels where the float (B, 1, H, W) `hole` is 1; NaN if empty."""
    total = (values * hole).sum(dim=(1, 2, 3))
    return total / (hole.sum(dim=(1, 2, 3)) * values.shape[1])


def _psnr_from_mse(mse: Tensor) -> Tensor:
    return -10.0 * torch.log10(mse.clamp_min(1e-12))


def _build_lpips(net: str | None) -> tuple[LPIPS | None, str | None]:
    """The pretrained LPIPS of `net`, or None and the one-line reason it is unavailable."""
    if net is None:
        return None, "LPIPS disabled (lpips_net=None)"
    try:
        return LPIPS(net), None
    except PretrainedWeightsMissing as error:
        return None, str(error)


class ImageMetrics:
    """Per-image metrics of inpainted batches, as reported in the paper plus hole-only variants.

    LPIPS uses the pretrained `lpips_net` backbone ("alex", "vgg", "squeeze"; None disables it). If
    its ImageNet weights are not in the torch.hub cache and cannot be downloaded, LPIPS values are NaN and
    :attr:`lpips_unavailable` holds the one-line reason. `lpips_model`, when given, is used instead
    of building one (e.g. a random-weight ``LPIPS(pretrained=False)``).
    """

    def __init__(self, lpips_net: str | None = "alex", device: torch.device | str = "cpu", *,
                 lpips_model: LPIPS | None = None) -> None:
        self.device = torch.device(device)
        self.lpips_unavailable: str | None = None
        if lpips_model is None:
            lpips_model, self.lpips_unavailable = _build_lpips(lpips_net)
        self.lpips: LPIPS | None = None if lpips_model is None else lpips_model.to(self.device)

    def __call__(self, output: Tensor, target: Tensor, hole: Tensor) -> list[dict[str, float]]:
        """One dict per image (keys :data:`METRIC_KEYS`) for (B, 3, H, W) `output` (already composited
        with the known pixels) and `target` in [0, 1], and the (B, 1, H, W) `hole` (nonzero = hole).

        Hole metrics are NaN for an image without hole pixels.
        """
        output, target, hole = self._prepare(output, target, hole)
        ssim, ssim_map = structural_similarity_index_measure(
            output, target, data_range=1.0, reduction="none", return_full_image=True)
        lpips, hole_lpips = self._lpips(output, target, hole)
        columns = {
            "psnr": psnr_per_image(output, target),
            "ssim": ssim,
            "lpips": lpips,
            "hole_psnr": _psnr_from_mse(_hole_mean((output - target).square(), hole)),
            "hole_ssim": _hole_mean(ssim_map, hole),
            "hole_lpips": hole_lpips,
            "hole_l1": _hole_mean((output - target).abs(), hole),
            "hole_ratio": hole.mean(dim=(1, 2, 3)),
        }
        values = {key: columns[key].tolist() for key in METRIC_KEYS}
        return [{key: float(values[key][i]) for key in METRIC_KEYS} for i in range(output.shape[0])]

    def _prepare(self, output: Tensor, target: Tensor, hole: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Validate shapes; float tensors on the metric device, `hole` as a 0/1 mask."""
        if output.ndim != 4 or output.shape[1] != 3 or output.shape != target.shape:
            raise ValueError(f"output and target must both be (B, 3, H, W), got {tuple(output.shape)} "
                             f"and {tuple(target.shape)}")
        expected = (output.shape[0], 1, *output.shape[2:])
        if tuple(hole.shape) != expected:
            raise ValueError(f"hole must be {expected}, got {tuple(hole.shape)}")
        to_device = {"device": self.device, "dtype": torch.float32}
        return output.to(**to_device), target.to(**to_device), hole.bool().to(**to_device)

    def _lpips(self, output: Tensor, target: Tensor, hole: Tensor) -> tuple[Tensor, Tensor]:
        """Whole-image and hole-only LPIPS, shape (B,) each; NaN where unavailable or the hole is empty."""
        in_hole = torch.full((output.shape[0],), math.nan, device=self.device)
        if self.lpips is None:
            return in_hole.clone(), in_hole
        maps = self.lpips.distance_maps(output, target)
        has_hole = hole.flatten(1).any(dim=1)
        if has_hole.any():
            in_hole[has_hole] = reduce_distance_maps([m[has_hole] for m in maps], hole[has_hole])
        return reduce_distance_maps(maps), in_hole


def _bucket_labels(edges: Sequence[float]) -> list[str]:
    return [f"{low * 100:g}-{high * 100:g}%" for low, high in zip(edges[:-1], edges[1:])]


def _bucket_index(ratio: float, edges: Sequence[float]) -> int:
    """Index of the bucket [edges[i], edges[i + 1]) holding `ratio`; the last bucket is closed."""
    if not edges[0] <= ratio <= edges[-1]:
        raise ValueError(f"hole ratio {ratio} is outside the bucket edges [{edges[0]}, {edges[-1]}]")
    return min(bisect.bisect_right(edges, ratio) - 1, len(edges) - 2)


def _means(rows: Sequence[Mapping[str, object]]) -> dict[str, Any]:
    """{"n": len(rows)} and the NaN-ignoring mean of every float-valued key (NaN if none is finite)."""
    keys = list(dict.fromkeys(key for row in rows for key, value in row.items() if isinstance(value, float)))
    summary: dict[str, Any] = {"n": len(rows)}
    for key in keys:
        values = (row.get(key) for row in rows)
        present = [value for value in values if isinstance(value, float) and not math.isnan(value)]
        summary[key] = sum(present) / len(present) if present else math.nan
    return summary


def summarize(rows: Sequence[Mapping[str, object]],
              edges: Sequence[float] = HOLE_RATIO_EDGES) -> dict[str, Any]:
    """Means of :class:`ImageMetrics` rows overall and per hole-ratio bucket, NaN values ignored.

    Every float-valued key is averaged (others, e.g. image ids, are skipped). Returns
    ``{"overall": {"n": ..., "psnr": ..., ...}, "buckets": {"10-20%": {"n": ..., ...}, ...}}``;
    buckets [edges[i], edges[i + 1]) (the last one closed) follow `edges` in order, empty ones omitted
    (no rows: ``{"overall": {"n": 0}, "buckets": {}}``).
    """
    if len(edges) < 2 or any(high <= low for low, high in zip(edges[:-1], edges[1:])):
        raise ValueError(f"bucket edges must be strictly increasing with at least two values, got {edges}")
    buckets: list[list[Mapping[str, object]]] = [[] for _ in range(len(edges) - 1)]
    for row in rows:
        buckets[_bucket_index(float(row["hole_ratio"]), edges)].append(row)
    labelled = {label: _means(bucket) for label, bucket in zip(_bucket_labels(edges), buckets) if bucket}
    return {"overall": _means(rows), "buckets": labelled}
