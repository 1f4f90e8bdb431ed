"""Shared fixtures: small real photos from installed packages, deterministic holes."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch

from eiip.data.samples import load_sample_photo

torch.set_num_threads(min(2, os.cpu_count() or 1))

_WANDB_DIR = tempfile.mkdtemp(prefix="eiip-wandb-")
for _variable in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR"):
    os.environ.setdefault(_variable, _WANDB_DIR)
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("EIIP_OFFLINE", "1")  # pretrained weights: never reach the network (tests of downloads unset it)


@pytest.fixture(scope="session")
def astronaut64() -> torch.Tensor:
    """skimage's astronaut, center-cropped and resized to 64x64, (3, 64, 64) in [0, 1]."""
    return load_sample_photo("astronaut", 64)


@pytest.fixture()
def rect_known() -> torch.Tensor:
    """(1, 64, 64) bool known mask with a 20x24 rectangular hole."""
    known = torch.ones(1, 64, 64, dtype=torch.bool)
    known[:, 22:42, 18:42] = False
    return known
