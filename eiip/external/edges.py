"""Canny edge maps as EdgeConnect uses them (Nazeri et al. 2019).

The official release computes the edge map with `skimage.feature.canny(gray, sigma=2)` with the
default thresholds (0.1 / 0.2 of the float range) on the grayscale image in [0, 1]:

* training: on the *full* gray image; the edge model then sees `edges * (1 - hole)`;
* test: on the masked gray image with canny's `mask=` argument set to the known region, so the
  Gaussian smoothing ignores hole pixels (normalised convolution) and no edge is reported at, or
  one pixel inside, the hole boundary (the mask is eroded by a 3x3 structuring element).

`canny_edges` does both on a batch: pass `known` for the test-time variant. The release's config
`SIGMA` also has two special values that are kept here: 0 draws a random integer sigma in 1..4 per
image (seeded through a `torch.Generator`), -1 returns no edges at all.

Canny is not differentiable and has no torch implementation here: it runs with scikit-image on
the CPU (the tensors are copied to host memory and the result is moved back to the input's
device and dtype). In training, the data loader workers compute the full image's edges
(`InpaintingDataModule(edges_sigma=...)`, set by train.py for EdgeConnect); without them
`ExternalInpainter` calls `EdgeConnect.training_inputs` once per step. The generator's forward only
calls it when no map is given (inference). Either costs a few milliseconds per 256x256 image.

Gray images are the paper's monochrome (`eiip.color.rgb_to_mono`, 0.30/0.59/0.11), not
scikit-image's `rgb2gray` (0.2125/0.7154/0.0721) that the release uses; use `gray_for_edges`.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.feature import canny

from eiip.color import rgb_to_mono

DEFAULT_SIGMA: float = 2.0
"""Standard deviation of canny's Gaussian filter in EdgeConnect (config `SIGMA: 2`)."""

RANDOM_SIGMA: float = 0.0
"""`sigma=0`: a random integer sigma in 1..4 per image (release config `SIGMA: 0`)."""

NO_EDGES: float = -1.0
"""`sigma=-1`: an all-zero edge map (release config `SIGMA: -1`)."""


def gray_for_edges(image: torch.Tensor) -> torch.Tensor:
    """The gray image edges are computed on: (B, 3, H, W) RGB -> monochrome, (B, 1, H, W) as is.

    A 4-channel RGB ⊕ monochrome image (the mono bottleneck's input) gives its 4th channel.
    """
    if image.ndim != 4:
        raise ValueError(f"expected a (B, C, H, W) image, got shape {tuple(image.shape)}")
    channels = image.shape[1]
    if channels == 1:
        return image
    if channels == 3:
        return rgb_to_mono(image)
    if channels == 4:
        return image[:, 3:4]
    raise ValueError(f"expected 1 (gray), 3 (RGB) or 4 (RGB ⊕ mono) channels, got {channels}")


def _sigmas(batch: int, sigma: float, generator: torch.Generator | None) -> list[float]:
    if sigma == RANDOM_SIGMA:
        draws = torch.randint(1, 5, (batch,), generator=generator)
        return [float(s) for s in draws]
    if sigma < 0 and sigma != NO_EDGES:
        raise ValueError(f"sigma must be > 0, 0 (random 1..4) or -1 (no edges), got {sigma}")
    return [float(sigma)] * batch


def canny_edges(
    gray: torch.Tensor,
    sigma: float = DEFAULT_SIGMA,
    known: torch.Tensor | None = None,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Binary Canny edge maps of a batch of gray images.

    Args:
        gray: (B, 1, H, W) gray images in [0, 1].
        sigma: Gaussian sigma (EdgeConnect: 2); 0 = random integer in 1..4 per image, -1 = no edges.
        known: optional (B, 1, H, W) mask, nonzero = known pixel. When given, canny ignores the
            other pixels (release test mode) and never reports edges there.
        generator: seeds the random sigmas of `sigma=0`.

    Returns:
        (B, 1, H, W) float tensor of 0/1 on `gray`'s device and dtype. Runs on the CPU (scikit-image).
    """
    if gray.ndim != 4 or gray.shape[1] != 1:
        raise ValueError(f"expected a (B, 1, H, W) gray tensor, got shape {tuple(gray.shape)}")
    if known is not None and known.shape != gray.shape:
        raise ValueError(f"known mask shape {tuple(known.shape)} does not match gray {tuple(gray.shape)}")
    batch = gray.shape[0]
    sigmas = _sigmas(batch, sigma, generator)
    if sigma == NO_EDGES:
        return torch.zeros_like(gray)
    images = gray.detach().to("cpu", torch.float64).numpy()[:, 0]
    masks = None if known is None else (known.detach().to("cpu") > 0).numpy()[:, 0]
    out = np.zeros(images.shape, dtype=bool)
    for i in range(batch):
        out[i] = canny(images[i], sigma=sigmas[i], mask=None if masks is None else masks[i])
    if masks is not None:
        out &= masks  # canny already stays inside the (eroded) mask; make it explicit
    return torch.from_numpy(out[:, None]).to(device=gray.device, dtype=gray.dtype)


def image_edges(image: torch.Tensor, sigma: float = DEFAULT_SIGMA, **kwargs: object) -> torch.Tensor:
    """Canny edges of a full (unmasked) image batch for the data pipeline: RGB, RGB ⊕ mono or gray."""
    return canny_edges(gray_for_edges(image), sigma, **kwargs)  # type: ignore[arg-type]
