"""LaMa's thin, medium and thick evaluation masks (Suvorov et al. 2022), seeded.

The settings are those of advimman/lama `configs/data_gen/random_{thin,medium,thick}_{256,512}.yaml`
(the generator of its published evaluation sets, `bin/gen_mask_dataset.py`): line strokes of
`RandomIrregularMaskGenerator` and, for medium and thick, boxes of `RandomRectangleMaskGenerator`
(`irregular_proba` 1 and `box_proba` 0.3, normalized: boxes in 0.3 / 1.3 of the masks), at full
difficulty (no ramp), and masks covering more than `max_tamper_area` (0.5) of the image redrawn.
LaMa draws from the global numpy state; here every draw comes from the given Generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_HOLE_RATIO = 0.5
"""LaMa's `max_tamper_area`: masks with more hole are discarded and redrawn."""
BOX_PROBABILITY = 0.3 / 1.3
"""`box_proba` 0.3 against `irregular_proba` 1, normalized as LaMa's MixedMaskGenerator does."""
PRESET_SIZES = (256, 512)


@dataclass(frozen=True)
class Strokes:
    """`irregular_kwargs`: stroke count in [min_times, max_times + 1] (LaMa's unramped bound), widths, lengths."""

    min_times: int
    max_times: int
    max_width: int
    max_len: int
    max_angle: int = 4


@dataclass(frozen=True)
class Boxes:
    """`box_kwargs`: box count in [min_times, max_times], sides in [min_size, max_size], `margin` px from the border."""

    margin: int
    min_size: int
    max_size: int
    min_times: int
    max_times: int


@dataclass(frozen=True)
class Preset:
    """One `random_{size_class}_{size}.yaml`: its strokes and, when it has `box_proba` > 0, its boxes."""

    strokes: Strokes
    boxes: Boxes | None  # None: strokes only (thin)


PRESETS: dict[tuple[str, int], Preset] = {
    ("thin", 256): Preset(Strokes(4, 50, 10, 40), None),
    ("thin", 512): Preset(Strokes(4, 70, 20, 100), None),
    ("medium", 256): Preset(Strokes(4, 5, 50, 100), Boxes(0, 10, 50, 1, 5)),
    ("medium", 512): Preset(Strokes(4, 10, 100, 200), Boxes(0, 30, 150, 1, 5)),
    ("thick", 256): Preset(Strokes(1, 5, 100, 200), Boxes(10, 30, 150, 1, 3)),
    ("thick", 512): Preset(Strokes(1, 5, 250, 450), Boxes(10, 30, 300, 1, 4)),
}


def preset_size(height: int, width: int) -> int:
    """The preset size (256 or 512) nearest to the shorter side (LaMa resizes the shorter side to it)."""
    return min(PRESET_SIZES, key=lambda size: abs(size - min(height, width)))


def _strokes(mask: np.ndarray, settings: Strokes, rng: np.random.Generator) -> None:
    height, width = mask.shape
    for i in range(int(rng.integers(settings.min_times, settings.max_times + 2))):
        x, y = int(rng.integers(width)), int(rng.integers(height))
        for _ in range(1 + int(rng.integers(5))):
            angle = 0.01 + int(rng.integers(settings.max_angle))  # whole radians, as in LaMa
            if i % 2 == 0:
                angle = 2 * np.pi - angle
            length = 10 + int(rng.integers(settings.max_len))
            brush = 5 + int(rng.integers(settings.max_width))
            end_x = int(np.clip(int(x + length * np.sin(angle)), 0, width))
            end_y = int(np.clip(int(y + length * np.cos(angle)), 0, height))
            cv2.line(mask, (x, y), (end_x, end_y), 1, brush)
            x, y = end_x, end_y


def _box_side_bound(settings: Boxes, height: int, width: int) -> int:
    """Exclusive upper bound of a box side (LaMa's unramped `bbox_max_size`, limited by the image)."""
    margin = settings.margin
    high = min(settings.max_size + 1, height - 2 * margin, width - 2 * margin)
    if high <= settings.min_size:
        raise ValueError(f"a {height}x{width} image is too small for LaMa boxes of at least {settings.min_size} px "
                         f"{margin} px from the border")
    return high


def _boxes(mask: np.ndarray, settings: Boxes, rng: np.random.Generator) -> None:
    height, width = mask.shape
    margin, high = settings.margin, _box_side_bound(settings, height, width)
    for _ in range(int(rng.integers(settings.min_times, settings.max_times + 1))):
        box_w, box_h = int(rng.integers(settings.min_size, high)), int(rng.integers(settings.min_size, high))
        left = int(rng.integers(margin, width - margin - box_w + 1))
        top = int(rng.integers(margin, height - margin - box_h + 1))
        mask[top : top + box_h, left : left + box_w] = 1


def lama_mask(
    size_class: str,
    height: int,
    width: int,
    rng: np.random.Generator,
    *,
    ratio: tuple[float, float] | None = None,
    attempts: int = 1000,
) -> np.ndarray:
    """One LaMa mask of `size_class` (thin, medium, thick) with the preset of `preset_size`.

    Masks over MAX_HOLE_RATIO, or outside `ratio` when given, are redrawn; ValueError after `attempts`.
    """
    preset = PRESETS[size_class, preset_size(height, width)]
    if preset.boxes is not None:
        _box_side_bound(preset.boxes, height, width)  # fail at once, not on the first box drawn
    for _ in range(attempts):
        mask = np.zeros((height, width), np.uint8)
        if preset.boxes is not None and rng.random() < BOX_PROBABILITY:
            _boxes(mask, preset.boxes, rng)
        else:
            _strokes(mask, preset.strokes, rng)
        share = np.count_nonzero(mask) / mask.size
        if share <= MAX_HOLE_RATIO and (ratio is None or ratio[0] <= share <= ratio[1]):
            return mask.astype(bool)
    bounds = "" if ratio is None else f" in [{ratio[0]}, {ratio[1]}]"
    raise ValueError(f"could not reach a hole ratio{bounds} (at most {MAX_HOLE_RATIO}) for a lama-{size_class} mask "
                     f"of size {height}x{width} in {attempts} attempts")
