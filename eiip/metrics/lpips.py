"""LPIPS (Zhang et al. 2018, the ``lpips`` package's v0.1 formula) on in-project feature stacks.

Images in [0, 1] are mapped to [-1, 1], shifted and scaled by the LPIPS ScalingLayer, and passed
through an ImageNet feature stack (:mod:`eiip.pretrained`, no torchvision), tapped after each LPIPS
slice (:data:`eiip.pretrained.LPIPS_SLICE_ENDS`). Each tapped map is unit-normalized along channels,
the squared difference is weighted by a non-negative 1x1 linear layer (the v0.1 calibration shipped
with torchmetrics), averaged over space and summed over layers.

With a region, each layer's distance map is bilinearly upsampled to the image size (as the ``lpips``
package's ``spatial=True``) and averaged over the region's pixels only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
import torchmetrics
from torch import Tensor, nn

from eiip.pretrained import LPIPS_SLICE_ENDS, build_features, load_imagenet_features

__all__ = ["LPIPS", "LPIPS_NETS", "lpips_linear_path", "reduce_distance_maps"]

#: LPIPS network name -> in-project ImageNet feature stack (:mod:`eiip.pretrained`).
LPIPS_NETS: dict[str, str] = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}

_CHANNELS: dict[str, tuple[int, ...]] = {
    "alex": (64, 192, 384, 256, 256),
    "vgg": (64, 128, 256, 512, 512),
    "squeeze": (64, 128, 256, 384, 384, 512, 512),
}
#: Smallest image side each backbone accepts (smaller inputs pool down to nothing).
_MIN_SIZE: dict[str, int] = {"alex": 31, "vgg": 16, "squeeze": 17}
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10
_LINEAR_KEY = re.compile(r"lin(\d+)\.model\.1\.weight")


def lpips_linear_path(net: str) -> Path:
    """The v0.1 linear-layer weights of `net` shipped inside the installed torchmetrics package."""
    return Path(torchmetrics.__file__).parent / "functional" / "image" / "lpips_models" / f"{net}.pth"


def _linear_layers(net: str) -> nn.ModuleList:
    """The per-layer 1x1 convs (no bias) of `net`, loaded from torchmetrics' ``lin{i}.model.1.weight``."""
    path = lpips_linear_path(net)
    state = torch.load(path, map_location="cpu", weights_only=True)
    renamed = {}
    for key, value in state.items():
        match = _LINEAR_KEY.fullmatch(key)
        if match is None:
            raise RuntimeError(f"unexpected entry {key!r} in the LPIPS linear weights {path}")
        renamed[f"{match.group(1)}.weight"] = value
    layers = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in _CHANNELS[net])
    layers.load_state_dict(renamed, strict=True)
    if any(bool((layer.weight < 0).any()) for layer in layers):
        raise RuntimeError(f"the LPIPS linear weights in {path} must be non-negative")
    return layers


def _unit_normalize(features: Tensor) -> Tensor:
    """Divide each feature vector (along channels) by its L2 norm, with lpips' epsilon."""
    return features / (features.square().sum(dim=1, keepdim=True).sqrt() + _EPS)


def _check_images(prediction: Tensor, target: Tensor, net: str) -> None:
    if prediction.ndim != 4 or prediction.shape[1] != 3:
        raise ValueError(f"LPIPS expects (B, 3, H, W) images, got prediction of shape {tuple(prediction.shape)}")
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape")
    if min(prediction.shape[2:]) < _MIN_SIZE[net]:
        raise ValueError(f"LPIPS {net!r} needs images of at least {_MIN_SIZE[net]}x{_MIN_SIZE[net]} pixels, "
                         f"got {tuple(prediction.shape[2:])}")


def _batched_region(region: Tensor, batch: int, size: tuple[int, int]) -> Tensor:
    """`region` ((B, 1, H, W) or (1, H, W), bool or float) as a float (B, 1, H, W) mask of nonzero pixels."""
    if region.ndim == 3:
        region = region[None]
    if region.ndim != 4 or region.shape[1] != 1 or region.shape[0] not in (1, batch) or region.shape[2:] != size:
        raise ValueError(f"region must be (B, 1, H, W) or (1, H, W) with B={batch} and (H, W)={size}, "
                         f"got {tuple(region.shape)}")
    mask = region.bool().expand(batch, 1, *size).float()
    if not mask.flatten(1).any(dim=1).all():
        raise ValueError("the LPIPS region is empty for at least one image")
    return mask


def reduce_distance_maps(maps: Sequence[Tensor], region: Tensor | None = None) -> Tensor:
    """LPIPS per image, shape (B,), from the per-layer maps of :meth:`LPIPS.distance_maps`.

    Without `region`: each map's spatial mean, summed over layers. With `region` ((B, 1, H, W) or
    (1, H, W), nonzero = counted): each map upsampled bilinearly to (H, W), averaged over the region.
    """
    if region is None:
        return sum(m.mean(dim=(2, 3)) for m in maps).flatten()
    size = (int(region.shape[-2]), int(region.shape[-1]))
    mask = _batched_region(region, maps[0].shape[0], size).to(maps[0].device)
    upsampled = sum(F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps)
    return (upsampled * mask).sum(dim=(1, 2, 3)) / mask.sum(dim=(1, 2, 3))


class LPIPS(nn.Module):
    """Learned perceptual distance between (B, 3, H, W) images in [0, 1]; frozen, eval mode, no grad.

    `net` is "alex" (default), "vgg" or "squeeze". ``pretrained=True`` loads the ImageNet backbone
    from the torch.hub cache, downloading it on first use (raising :class:`eiip.hub.PretrainedWeightsMissing`
    when it is absent and cannot be downloaded); ``pretrained=False`` keeps random backbone weights.
    The linear layers are always loaded.
    """

    def __init__(self, net: str = "alex", pretrained: bool = True) -> None:
        if net not in LPIPS_NETS:
            raise ValueError(f"unknown LPIPS network {net!r}; expected one of {sorted(LPIPS_NETS)}")
        super().__init__()
        backbone_name = LPIPS_NETS[net]
        self.net = net
        self.slice_ends = LPIPS_SLICE_ENDS[backbone_name]
        self.backbone = load_imagenet_features(backbone_name) if pretrained else build_features(backbone_name)
        self.lins = _linear_layers(net)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.eval()
        self.requires_grad_(False)

    @torch.no_grad()
    def distance_maps(self, prediction: Tensor, target: Tensor) -> list[Tensor]:
        """Per-layer distance maps, each (B, 1, h_l, w_l) at that layer's resolution."""
        _check_images(prediction, target, self.net)
        images = torch.cat([prediction, target]).float()
        scaled = (images * 2.0 - 1.0 - self.shift) / self.scale
        maps = []
        for features, linear in zip(self.backbone.taps(scaled, self.slice_ends), self.lins, strict=True):
            first, second = _unit_normalize(features).chunk(2)
            maps.append(linear((first - second).square()))
        return maps

    @torch.no_grad()
    def forward(self, prediction: Tensor, target: Tensor, region: Tensor | None = None) -> Tensor:
        """LPIPS of each image pair, shape (B,); over `region` only (nonzero = counted) when given."""
        if region is not None and tuple(region.shape[-2:]) != tuple(prediction.shape[-2:]):
            raise ValueError(f"region {tuple(region.shape)} does not match images {tuple(prediction.shape)}")
        return reduce_distance_maps(self.distance_maps(prediction, target), region)
