"""eiip.hd_strategy: the external stage on images larger than its working size (crop, resize, original)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from eiip import hd_strategy
from eiip.color import rgb_to_mono
from eiip.data.samples import load_sample_photo
from eiip.errors import InputError
from eiip.hd_strategy import SizedStage, estimate_peak_bytes
from eiip.pipeline import CheckpointStage, ClassicalStage, build_external_stage
from test_pipeline import tiny_checkpoint


class RecordingStage:
    """A mono stage that fills the hole with the mean known monochrome and records the sizes it was given."""

    output = "mono"

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []

    def __call__(self, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(image.shape[-2:]))
        mono = rgb_to_mono(image)
        known = hole < 0.5
        return torch.where(known, mono, mono[known].mean())


def _photo_and_hole(height: int = 240, width: int = 320) -> tuple[torch.Tensor, torch.Tensor]:
    """A (1, 3, H, W) photo and a (1, 1, H, W) hole: a rectangle near the top left, a stroke at the bottom right."""
    image = load_sample_photo("chelsea", (height, width))[None]
    hole = torch.zeros(1, 1, height, width)
    hole[..., 30:50, 40:70] = 1.0
    hole[..., height - 30: height - 26, width - 90: width - 20] = 1.0
    return image, hole


def test_crop_completes_each_hole_in_its_own_box_brought_down_to_the_working_size(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hd_strategy, "LEAST_MARGIN", 16)
    image, hole = _photo_and_hole()
    stage = RecordingStage()
    completed = SizedStage(stage, "crop", working_pixels=1024)(image, hole)
    assert len(stage.sizes) == 2 and all(h * w <= 1024 for h, w in stage.sizes)
    known = hole < 0.5
    assert torch.equal(completed[known], rgb_to_mono(image)[known])  # known pixels exact at full resolution
    assert bool((completed[~known] > 0).all())  # every hole pixel completed
    # the rectangle's box: 20x30 grown by max(16, 30) on each side, area-averaged down to at most 1024 pixels
    assert (80, 90) not in stage.sizes and any(abs(h / w - 80 / 90) < 0.05 for h, w in stage.sizes)


def test_images_up_to_the_working_size_are_completed_whole() -> None:
    image, hole = _photo_and_hole(24, 32)
    stage = RecordingStage()
    for strategy in ("crop", "resize"):
        SizedStage(stage, strategy, working_pixels=24 * 32)(image, hole[..., :24, :32])
    assert stage.sizes == [(24, 32), (24, 32)]


def test_resize_brings_the_whole_image_down_and_pastes_the_hole_back() -> None:
    image, hole = _photo_and_hole()
    stage = RecordingStage()
    completed = SizedStage(stage, "resize", working_pixels=4800)(image, hole)
    ((height, width),) = stage.sizes
    assert height * width <= 4800 and abs(height / width - 0.75) < 0.02
    known = hole < 0.5
    assert torch.equal(completed[known], rgb_to_mono(image)[known])


def test_opencv_crops_equal_the_whole_image_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    """Telea reads the known pixels within its radius: boxes with a wider margin give the whole-image result."""
    monkeypatch.setattr(hd_strategy, "LEAST_MARGIN", 16)
    image, hole = _photo_and_hole()
    whole = ClassicalStage("telea")(image, hole)
    cropped = build_external_stage("telea", hd_strategy="crop", working_pixels=64)
    assert isinstance(cropped, SizedStage) and not cropped.downscale
    torch.testing.assert_close(cropped(image, hole), whole, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def mono_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("hd") / "mono.ckpt", "mono")


def test_checkpoint_crop_equals_the_stage_on_the_box(mono_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A box within the working size is given to the network as it is: the crop's completion, pasted."""
    monkeypatch.setattr(hd_strategy, "LEAST_MARGIN", 8)
    monkeypatch.setattr(hd_strategy, "MARGIN_FRACTION", 0.25)
    image, hole = _photo_and_hole(96, 128)
    hole[..., 60:, :] = 0.0  # the rectangle alone: its box is rows 22..58, columns 32..78
    stage = CheckpointStage(mono_checkpoint)
    sized = build_external_stage(ckpt=mono_checkpoint, hd_strategy="crop", working_pixels=48 * 64)
    completed = sized(image, hole)
    box = (slice(22, 58), slice(32, 78))
    alone = stage(image[..., box[0], box[1]], hole[..., box[0], box[1]])
    inside = hole[..., box[0], box[1]] > 0.5
    torch.testing.assert_close(completed[..., box[0], box[1]][inside], alone[inside])
    known = hole < 0.5
    assert torch.equal(completed[known], rgb_to_mono(image)[known])


def test_original_refuses_before_the_work_when_memory_is_short(mono_checkpoint: Path) -> None:
    image, hole = _photo_and_hole(96, 128)
    stage = CheckpointStage(mono_checkpoint)
    estimate = estimate_peak_bytes(stage, 3000, 4000, torch.device("cpu"))
    smaller = estimate_peak_bytes(stage, 300, 400, torch.device("cpu"))
    # about linear in the area: 100x the pixels (a little more: below its chunk budget, attention grows faster)
    assert smaller > 0 and 80 < estimate / smaller < 120
    with pytest.raises(InputError, match=r"original HD strategy needs about .* GiB .* use --hd-strategy crop"):
        SizedStage(stage, "original", working_pixels=64, memory_limit=1)(image, hole)
    completed = SizedStage(stage, "original", working_pixels=64, memory_limit=2**40)(image, hole)
    torch.testing.assert_close(completed, stage(image, hole))


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown HD strategy"):
        SizedStage(RecordingStage(), "tile")
    with pytest.raises(ValueError, match="working_pixels"):
        SizedStage(RecordingStage(), "crop", working_pixels=10)
    assert np.isclose(hd_strategy.stage_margin(100, 300), 300)


def test_scattered_specks_are_grouped_into_a_bounded_number_of_boxes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hd_strategy, "LEAST_MARGIN", 4)
    image, _ = _photo_and_hole()
    hole = torch.zeros(1, 1, 240, 320)
    rows, cols = np.meshgrid(np.arange(5, 240, 24), np.arange(5, 320, 24), indexing="ij")
    hole[0, 0, rows.ravel(), cols.ravel()] = 1.0  # 10 x 14 single-pixel specks
    stage = RecordingStage()
    completed = SizedStage(stage, "crop", working_pixels=4096)(image, hole)
    assert 1 <= len(stage.sizes) <= hd_strategy.MAX_BOXES
    known = hole < 0.5
    assert torch.equal(completed[known], rgb_to_mono(image)[known]) and bool((completed[~known] > 0).all())
