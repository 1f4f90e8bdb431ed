"""eiip.pipeline: external stages (checkpoint, OpenCV, truth) and both stages on one image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torch.utils.data import DataLoader

from eiip.color import rgb_to_mono
from eiip.colorize import get_colorizer
from eiip.data.samples import load_sample_photo
from eiip.external.module import ExternalInpainter
from eiip.hd_strategy import SizedStage
from eiip.io import InputError
from eiip.metrics import hole_psnr
from eiip.pipeline import (
    CheckpointStage,
    ClassicalStage,
    TruthStage,
    build_external_stage,
    two_stage,
)

PHOTOS = ("astronaut", "coffee", "chelsea")
TINY_GENERATORS: dict[str, dict[str, Any]] = {
    "gatedconv": {"cnum": 8},
    "hifill": {"cnum": 4, "low_res": 64, "coarse_size": 64, "bottleneck_size": 16},
}


def hole_mask(height: int, width: int) -> Image.Image:
    """A drawn mask (mode L, white = hole): a rectangle and a three-point stroke, about 8% of the image."""
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    draw.rectangle((width // 4, height // 3, width // 4 + width // 5, height // 3 + height // 6), fill=255)
    draw.line([(width // 8, 3 * height // 4), (width // 2, 5 * height // 8), (7 * width // 8, 7 * height // 8)],
              fill=255, width=4)
    return mask


def hole_of(mask: Image.Image) -> torch.Tensor:
    """(1, H, W) bool hole of a drawn mask."""
    return torch.from_numpy(np.asarray(mask) > 127)[None]


def tiny_checkpoint(path: Path, bottleneck: str, backbone: str = "gatedconv") -> Path:
    """Train a tiny ExternalInpainter one step on a real photo and save its Lightning checkpoint."""
    torch.manual_seed(0)
    module = ExternalInpainter(backbone=backbone, bottleneck=bottleneck, generator=TINY_GENERATORS[backbone],
                               losses={"l1": 1.0},
                               config={"bottleneck": {"name": bottleneck}, "data": {"name": "tiny"}})
    image = load_sample_photo("coffee", 64)
    hole = hole_of(hole_mask(64, 64)).float()
    batches = DataLoader([{"image": image, "hole": hole}] * 2, batch_size=2)
    trainer = L.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, batches)
    trainer.save_checkpoint(path)
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny 1-step checkpoints: gatedconv mono and rgb, hifill mono."""
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "mono": tiny_checkpoint(root / "mono.ckpt", "mono"),
        "rgb": tiny_checkpoint(root / "rgb.ckpt", "rgb"),
        "hifill": tiny_checkpoint(root / "hifill.ckpt", "mono", backbone="hifill"),
    }


def photo_batch(size: tuple[int, int] = (64, 64)) -> tuple[torch.Tensor, torch.Tensor]:
    """The three photos as a (3, 3, H, W) batch and the drawn hole as a (3, 1, H, W) float batch."""
    images = torch.stack([load_sample_photo(name, size) for name in PHOTOS])
    hole = hole_of(hole_mask(*size)).float()[None].expand(len(PHOTOS), -1, -1, -1)
    return images, hole


def with_noisy_hole(images: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """The images with random values in the hole."""
    noise = torch.rand(images.shape, generator=torch.Generator().manual_seed(1))
    return images * (1 - hole) + noise * hole


def assert_known_exact(completed: torch.Tensor, images: torch.Tensor, hole: torch.Tensor) -> None:
    truth = rgb_to_mono(images) if completed.shape[1] == 1 else images
    known = (hole < 0.5).expand_as(completed)
    assert torch.equal(completed[known], truth[known])


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_classical_stage_keeps_known_pixels_and_fills_the_hole_near_the_truth(method: str) -> None:
    images, hole = photo_batch()
    completed = ClassicalStage(method)(images, hole)
    assert completed.shape == (3, 1, 64, 64)
    assert_known_exact(completed, images, hole)
    truth = rgb_to_mono(images)
    for mono, target, hole_one in zip(completed, truth, hole):
        known = hole_one < 0.5
        # measured 13.7-17.6 dB (telea and ns alike); a mid-gray fill gets 10.3-14.2 dB
        assert hole_psnr(mono, target, known) > 13.0
        assert hole_psnr(mono, target, known) > hole_psnr(torch.full_like(mono, 0.5), target, known) + 2.5


@pytest.mark.parametrize("stage", ["telea", "ns", "mono", "rgb", "hifill"])
def test_hole_content_does_not_change_the_completion(stage: str, checkpoints: dict[str, Path]) -> None:
    external = ClassicalStage(stage) if stage in ("telea", "ns") else CheckpointStage(checkpoints[stage])
    images, hole = photo_batch((61, 77))
    completed = external(images, hole)
    assert torch.equal(completed, external(with_noisy_hole(images, hole), hole))
    assert torch.equal(completed, external(images.masked_fill(hole > 0.5, float("nan")), hole))


def test_truth_stage_is_the_monochrome_of_the_full_image() -> None:
    images, hole = photo_batch()
    noisy = with_noisy_hole(images, hole)
    assert torch.equal(TruthStage()(noisy, hole), rgb_to_mono(noisy))
    assert TruthStage.output == "mono"


@pytest.mark.parametrize("bottleneck, channels", [("mono", 1), ("rgb", 3)])
def test_checkpoint_stage_reports_its_bottleneck_and_config(
    bottleneck: str, channels: int, checkpoints: dict[str, Path]
) -> None:
    stage = CheckpointStage(checkpoints[bottleneck])
    assert stage.output == bottleneck
    assert stage.config == {"bottleneck": {"name": bottleneck}, "data": {"name": "tiny"}}
    assert not stage.module.training
    assert not any(p.requires_grad for p in stage.module.parameters())
    images, hole = photo_batch()
    completed = stage(images, hole)
    assert completed.shape == (3, channels, 64, 64)
    assert_known_exact(completed, images, hole)
    assert not torch.equal(completed * hole, (rgb_to_mono(images) if channels == 1 else images) * hole)


@pytest.mark.parametrize("name, size", [("mono", (61, 77)), ("hifill", (61, 77)), ("hifill", (130, 150))])
def test_checkpoint_stage_takes_any_image_size(name: str, size: tuple[int, int], checkpoints: dict[str, Path]) -> None:
    images, hole = photo_batch(size)
    completed = CheckpointStage(checkpoints[name])(images, hole)
    assert completed.shape == (3, 1, *size)
    assert torch.isfinite(completed).all()
    assert_known_exact(completed, images, hole)


def test_bad_checkpoints_raise_one_line_input_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"lr": 1.0}}, other)
    cases = {tmp_path / "missing.ckpt": "checkpoint not found", text: "cannot read checkpoint",
             other: "not an eiip external-stage"}
    for path, message in cases.items():
        with pytest.raises(InputError, match=message) as error:
            CheckpointStage(path)
        assert "\n" not in str(error.value)


def test_build_external_stage(checkpoints: dict[str, Path]) -> None:
    assert isinstance(build_external_stage("telea", hd_strategy=None), ClassicalStage)
    assert build_external_stage("ns", hd_strategy=None).method == "ns"
    assert isinstance(build_external_stage("truth"), TruthStage)  # reads the image itself: never wrapped
    assert isinstance(build_external_stage(ckpt=str(checkpoints["mono"]), hd_strategy=None), CheckpointStage)
    sized = build_external_stage(ckpt=str(checkpoints["mono"]))  # the default: crop above 512x640
    assert isinstance(sized, SizedStage) and isinstance(sized.stage, CheckpointStage)
    assert (sized.strategy, sized.working_pixels, sized.downscale, sized.output) == ("crop", 512 * 640, True, "mono")
    telea = build_external_stage("telea")
    assert isinstance(telea.stage, ClassicalStage) and (telea.working_pixels, telea.downscale) == (1_000_000, False)
    for kwargs in ({}, {"backbone": "telea", "ckpt": str(checkpoints["mono"])}):
        with pytest.raises(InputError, match="exactly one"):
            build_external_stage(**kwargs)
    with pytest.raises(InputError, match="unknown learning-free backbone"):
        build_external_stage("gatedconv")
    with pytest.raises(ValueError):
        ClassicalStage("fast")
    with pytest.raises(ValueError):
        ClassicalStage("telea", radius=0)


@pytest.mark.parametrize("colorizer", ["levin", "dt"])
def test_two_stage_colorizes_the_completed_monochrome(colorizer: str) -> None:
    image = load_sample_photo("astronaut", 64)
    hole = hole_of(hole_mask(64, 64))
    stage = ClassicalStage("telea")
    result = two_stage(image, hole, stage, get_colorizer(colorizer))
    assert torch.equal(result.mono, stage(image[None], hole.float()[None])[0])
    known = ~hole.expand(3, -1, -1)
    assert torch.equal(result.final[known], image[known])
    # the colorizers keep Y == mono up to RGB clipping
    assert (rgb_to_mono(result.final) - result.mono)[hole].abs().mean() < 0.01
    assert hole_psnr(result.final, image, ~hole) > 13.0


def test_two_stage_with_an_rgb_checkpoint_uses_no_colorizer(checkpoints: dict[str, Path]) -> None:
    def refuse(*_: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the colorizer must not run for an rgb stage")

    image = load_sample_photo("chelsea", (61, 77))
    hole = hole_of(hole_mask(61, 77))
    stage = CheckpointStage(checkpoints["rgb"])
    result = two_stage(image, hole, stage, refuse)
    assert torch.equal(result.final, stage(image[None], hole.float()[None])[0])
    assert torch.equal(result.mono, rgb_to_mono(result.final))
    with pytest.raises(ValueError, match="needs a colorizer"):
        two_stage(image, hole, ClassicalStage("ns"), None)
