"""FID and KID between two sets of FID Inception pool features, with torchmetrics' statistics.

The Inception runs batch by batch during an evaluation (features stored in the run directory);
the distances are computed once over the whole run from the stored (N, 2048) features, by
torchmetrics' ``FrechetInceptionDistance`` and ``KernelInceptionDistance`` given a feature module
that passes the stored features through (:class:`StoredFeatures`).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

__all__ = ["KID_SUBSET_SIZE", "KID_SUBSETS", "StoredFeatures", "distribution_distances"]

#: KID: subsets of at most this many images (fewer when the run has fewer), this many subsets.
KID_SUBSET_SIZE = 1000
KID_SUBSETS = 100


class StoredFeatures(nn.Module):
    """Feature module for torchmetrics' FID/KID whose inputs already are (N, num_features) features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        if features.ndim != 2 or features.shape[1] != self.num_features:
            raise ValueError(f"expected (N, {self.num_features}) features, got {tuple(features.shape)}")
        return features


def distribution_distances(real: np.ndarray, fake: np.ndarray, seed: int = 0,
                           device: torch.device | str = "cpu") -> dict[str, float]:
    """``fid``, ``kid_mean`` and ``kid_std`` between the (N, D) feature sets of real and completed images.

    Needs N >= 2 in both sets (ValueError otherwise). KID uses subsets of ``min(1000, N)`` images,
    drawn with `seed`. Computed on `device` (FID's eigenvalues of a 2048x2048 matrix: about a minute
    on two CPU cores).
    """
    count = min(len(real), len(fake))
    if count < 2:
        raise ValueError(f"FID and KID need at least 2 images, got {count}")
    if real.ndim != 2 or real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"real {real.shape} and fake {fake.shape} must be (N, D) with the same D")
    real_t, fake_t = (torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)).to(device) for a in (real, fake))
    features = StoredFeatures(real.shape[1])
    fid = FrechetInceptionDistance(feature=features).to(device)
    fid.update(real_t, real=True)
    fid.update(fake_t, real=False)
    with warnings.catch_warnings():  # "will save all extracted features": they are in memory already
        warnings.filterwarnings("ignore", message=".*save all extracted features.*")
        kid = KernelInceptionDistance(feature=features, subsets=KID_SUBSETS,
                                      subset_size=min(KID_SUBSET_SIZE, count)).to(device)
    kid.update(real_t, real=True)
    kid.update(fake_t, real=False)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid_mean": float(kid_mean), "kid_std": float(kid_std)}
