"""Composed training configs: each backbone's release batch size and its overrides, GatedConv's attention mask."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import eiip.external.backbones.gatedconv  # noqa: F401  (registers "gatedconv")
from eiip.external.backbones import build_backbone

ROOT = Path(__file__).resolve().parents[1]

#: BATCH_SIZE / batch_size of each release's training config (README for GMCNN's pretraining).
RELEASE_BATCH_SIZES = {"gatedconv": 16, "edgeconnect": 8, "hifill": 4, "gmcnn": 16}


def batch_size(*overrides: str) -> int:
    """data.batch_size of the training config composed with `overrides`."""
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=list(overrides)).data.batch_size


@pytest.mark.parametrize("data", ["places2", "celebahq", "paris", "dtd"])
@pytest.mark.parametrize(("backbone", "expected"), sorted(RELEASE_BATCH_SIZES.items()))
def test_data_takes_the_backbones_release_batch_size(backbone: str, expected: int, data: str) -> None:
    assert batch_size(f"backbone={backbone}", f"data={data}") == expected


def test_batch_size_overrides() -> None:
    assert batch_size("backbone=edgeconnect", "data=places2", "data.batch_size=3") == 3
    assert batch_size("backbone=edgeconnect", "data=places2", "backbone.batch_size=5") == 5
    assert batch_size("backbone=edgeconnect", "data=sample") == 4  # a data config may set its own
    assert batch_size("backbone=telea", "data=places2") == 16  # learning-free backbones carry none


def test_gatedconv_attention_mask_option() -> None:
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        assert compose("train", overrides=["backbone=gatedconv"]).backbone.generator.attention_mask == "sample"
        cfg = compose("train", overrides=["backbone=gatedconv", "backbone.generator.attention_mask=maxpool"])
    assert build_backbone("gatedconv", "rgb", cnum=4, **cfg.backbone.generator).attention_mask == "maxpool"
