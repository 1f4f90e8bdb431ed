"""FID Inception features of an evaluation run, stored batch by batch, and FID/KID over the whole run.

Each batch writes ``features/{first position}.npz`` (positions, real = targets, fake = completions;
(B, 2048) float32) before its rows are appended, so every image with a row has its features, whichever
process and run wrote them; the distances are computed at merge time from all of them, so several
processes and resumed runs give the FID of the whole run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eiip.hub import PretrainedWeightsMissing
from eiip.pretrained import PretrainedWeightsMismatch
from eiip.metrics.distribution import KID_SUBSET_SIZE, distribution_distances
from eiip.metrics.inception import FIDInceptionV3, load_fid_inception

__all__ = ["FEATURES_DIR", "build_fid_inception", "distribution_summary", "write_features"]

FEATURES_DIR = "features"


def build_fid_inception(enabled: bool, device: torch.device) -> tuple[FIDInceptionV3 | None, str | None]:
    """The FID Inception on `device`, or None and the one-line reason FID/KID are unavailable."""
    if not enabled:
        return None, "FID disabled (metrics.fid=false)"
    try:
        return load_fid_inception().to(device), None
    except (PretrainedWeightsMissing, PretrainedWeightsMismatch) as error:  # absent offline, or not the right file
        return None, str(error)


@torch.no_grad()
def write_features(run_dir: Path, network: FIDInceptionV3, positions: Sequence[int],
                   real: Tensor, fake: Tensor) -> None:
    """Pool features of a batch's targets (`real`) and completions (`fake`), (B, 3, H, W) in [0, 1]."""
    device = next(network.parameters()).device
    arrays = {name: network(images.to(device)).cpu().numpy().astype(np.float32)
              for name, images in (("real", real), ("fake", fake))}
    folder = run_dir / FEATURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{positions[0]:08d}.npz"
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, positions=np.asarray(positions, dtype=np.int64), **arrays)
    os.replace(partial, path)


def _read_features(run_dir: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Position -> (real, fake) features of every stored batch."""
    by_position: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for path in sorted((run_dir / FEATURES_DIR).glob("*.npz")):
        if path.name.endswith(".partial.npz"):
            continue
        with np.load(path) as stored:
            for position, real, fake in zip(stored["positions"], stored["real"], stored["fake"], strict=True):
                by_position[int(position)] = (real, fake)
    return by_position


def distribution_summary(run_dir: Path, positions: Sequence[int], unavailable: str | None,
                         device: torch.device | str = "cpu") -> dict[str, Any]:
    """``{"n", "fid", "kid_mean", "kid_std", "kid_subset_size"}`` over the images at `positions` (computed
    on `device`), or ``{"n", "unavailable": reason}`` when the network was missing, features are missing
    or there are fewer than 2 images."""
    summary: dict[str, Any] = {"n": len(positions)}
    if unavailable is None:
        stored = _read_features(run_dir)
        missing = [p for p in positions if p not in stored]
        if missing:
            unavailable = (f"no FID features for {len(missing)} of {len(positions)} images (evaluated with "
                           "FID unavailable or disabled): rerun into a new directory for FID")
        elif len(positions) < 2:
            unavailable = f"FID and KID need at least 2 images, the run has {len(positions)}"
        else:
            real = np.stack([stored[p][0] for p in positions])
            fake = np.stack([stored[p][1] for p in positions])
            return summary | distribution_distances(real, fake, device=device) | {
                "kid_subset_size": min(KID_SUBSET_SIZE, len(positions))}
    return summary | {"unavailable": unavailable}
