"""Seeded, reproducible hole masks for inpainting, and mask sets on disk.

A mask is a numpy bool array of shape (H, W) with True = hole (missing) and False = known.
Every generator draws only from the `numpy.random.Generator` it is given, so the same seed
gives the same mask bit for bit.

Kinds: "freeform" (the brush strokes of GatedConv / DeepFill v2, Yu et al. 2019, Algorithm 1),
"rect" (one axis-aligned box), "mixed" (each mask is freeform or rect with probability 0.5) and
"lama-thin", "lama-medium", "lama-thick" (LaMa's evaluation masks, `eiip.lama_masks`).
"""

from __future__ import annotations

import json
import math
import os
import secrets
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from eiip.choices import MASK_KINDS as KINDS
from eiip.io import write_mask
from eiip.lama_masks import lama_mask

RECT_AREA_RANGE: tuple[float, float] = (0.1, 0.5)
"""Range of the box's area ratio (drawn uniformly) for a "rect" mask without a target ratio."""
MAX_ATTEMPTS = 1000
"""Redraws allowed before `generate_mask` gives up on a hole-ratio range."""
MAX_STROKES_PER_ATTEMPT = 500
"""Strokes one free-form attempt may accumulate while climbing to the lower ratio bound."""
INDEX_NAME = "index.json"

# Brush-stroke parameters of the official DeepFill v2 code (`brush_stroke_mask`).
_MIN_VERTICES, _MAX_VERTICES = 4, 12  # max exclusive
_MIN_WIDTH, _MAX_WIDTH = 12, 40  # max exclusive, px
_MEAN_ANGLE = 2 * math.pi / 5
_ANGLE_RANGE = 2 * math.pi / 15


def hole_ratio(mask: np.ndarray) -> float:
    """Fraction of hole (True) pixels."""
    return np.count_nonzero(mask) / mask.size


def _draw_stroke(draw: ImageDraw.ImageDraw, height: int, width: int, rng: np.random.Generator) -> None:
    """Add one random brush stroke (a thick polyline with round joints) to the canvas."""
    num_vertex = int(rng.integers(_MIN_VERTICES, _MAX_VERTICES))
    angle_min = _MEAN_ANGLE - rng.uniform(0, _ANGLE_RANGE)
    angle_max = _MEAN_ANGLE + rng.uniform(0, _ANGLE_RANGE)
    angles = rng.uniform(angle_min, angle_max, size=num_vertex)
    angles[::2] = 2 * math.pi - angles[::2]
    average_radius = math.hypot(height, width) / 8
    x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
    vertices = [(x, y)]
    for angle in angles:
        length = np.clip(rng.normal(average_radius, average_radius / 2), 0, 2 * average_radius)
        x = int(np.clip(x + length * math.cos(angle), 0, width - 1))
        y = int(np.clip(y + length * math.sin(angle), 0, height - 1))
        vertices.append((x, y))
    line_width = int(rng.integers(_MIN_WIDTH, _MAX_WIDTH))
    draw.line(vertices, fill=255, width=line_width)
    half = line_width // 2
    for vx, vy in vertices:
        draw.ellipse((vx - half, vy - half, vx + half, vy + half), fill=255)


def _random_flips(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flip left-right, then top-bottom, each with probability 0.5."""
    if rng.random() < 0.5:
        mask = mask[:, ::-1]
    if rng.random() < 0.5:
        mask = mask[::-1, :]
    return np.ascontiguousarray(mask)


def free_form_mask(height: int, width: int, rng: np.random.Generator, *, max_strokes: int = 3) -> np.ndarray:
    """Free-form mask of 1..max_strokes brush strokes (DeepFill v2 Algorithm 1), randomly flipped."""
    _check_size(height, width)
    if max_strokes < 1:
        raise ValueError(f"max_strokes must be >= 1, got {max_strokes}")
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(1, max_strokes + 1))):
        _draw_stroke(draw, height, width, rng)
    return _random_flips(np.asarray(canvas) > 0, rng)


def box_mask(
    height: int,
    width: int,
    rng: np.random.Generator,
    *,
    area_ratio: float,
    aspect_range: tuple[float, float] = (0.5, 2.0),
) -> np.ndarray:
    """One axis-aligned box of about `area_ratio` of the image, fully inside it.

    The aspect ratio (width / height) is log-uniform in `aspect_range`; a side longer than the
    image is clipped and the other side grown to keep the area. Sides are at least 1 px.
    """
    _check_size(height, width)
    if not 0 <= area_ratio <= 1:
        raise ValueError(f"area_ratio must be in [0, 1], got {area_ratio}")
    aspect_lo, aspect_hi = aspect_range
    if not 0 < aspect_lo <= aspect_hi:
        raise ValueError(f"aspect_range must satisfy 0 < lo <= hi, got {aspect_range}")
    area = area_ratio * height * width
    aspect = math.exp(rng.uniform(math.log(aspect_lo), math.log(aspect_hi)))
    box_h = int(np.clip(round(math.sqrt(area / aspect)), 1, height))
    box_w = int(np.clip(round(area / box_h), 1, width))
    box_h = int(np.clip(round(area / box_w), 1, height))
    top = int(rng.integers(0, height - box_h + 1))
    left = int(rng.integers(0, width - box_w + 1))
    mask = np.zeros((height, width), dtype=bool)
    mask[top : top + box_h, left : left + box_w] = True
    return mask


def _free_form_in_range(
    height: int, width: int, rng: np.random.Generator, lo: float, hi: float
) -> np.ndarray | None:
    """Accumulate strokes on one canvas until the ratio reaches `lo`; None if it overshoots `hi`."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(MAX_STROKES_PER_ATTEMPT):
        _draw_stroke(draw, height, width, rng)
        mask = np.asarray(canvas) > 0
        ratio = hole_ratio(mask)
        if ratio >= lo:
            return _random_flips(mask, rng) if ratio <= hi else None
    return None


def _box_in_range(
    height: int, width: int, rng: np.random.Generator, lo: float, hi: float
) -> np.ndarray | None:
    """A box with area drawn uniformly in [lo, hi]; None if integer sides put it outside."""
    mask = box_mask(height, width, rng, area_ratio=rng.uniform(lo, hi))
    return mask if lo <= hole_ratio(mask) <= hi else None


def _check_size(height: int, width: int) -> None:
    if height <= 0 or width <= 0:
        raise ValueError(f"mask size must be positive, got {height}x{width}")


def _check_ratio(ratio: tuple[float, float]) -> tuple[float, float]:
    lo, hi = ratio
    if not 0 <= lo <= hi < 1:
        raise ValueError(f"ratio must be (lo, hi) with 0 <= lo <= hi < 1, got {ratio}")
    return float(lo), float(hi)


def generate_mask(
    kind: str,
    height: int,
    width: int,
    rng: np.random.Generator,
    ratio: tuple[float, float] | None = None,
) -> np.ndarray:
    """One mask of `kind` (see KINDS), with hole_ratio in `ratio` if given.

    Without `ratio`, "freeform" is the plain DeepFill v2 algorithm and "rect" a box with area
    ratio uniform in RECT_AREA_RANGE. With `ratio=(lo, hi)` masks are redrawn until their ratio
    lies in [lo, hi]; ValueError after MAX_ATTEMPTS failed draws.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown mask kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    _check_size(height, width)
    bounds = None if ratio is None else _check_ratio(ratio)
    if kind.startswith("lama-"):
        return lama_mask(kind.removeprefix("lama-"), height, width, rng, ratio=bounds, attempts=MAX_ATTEMPTS)
    if kind == "mixed":
        kind = "freeform" if rng.random() < 0.5 else "rect"
    if bounds is None:
        if kind == "freeform":
            return free_form_mask(height, width, rng)
        return box_mask(height, width, rng, area_ratio=rng.uniform(*RECT_AREA_RANGE))
    lo, hi = bounds
    draw_in_range = _free_form_in_range if kind == "freeform" else _box_in_range
    for _ in range(MAX_ATTEMPTS):
        mask = draw_in_range(height, width, rng, lo, hi)
        if mask is not None:
            return mask
    raise ValueError(
        f"could not reach a hole ratio in [{lo}, {hi}] for a {kind} mask of size {height}x{width} "
        f"in {MAX_ATTEMPTS} attempts"
    )


def generate_masks(
    kind: str,
    n: int,
    height: int,
    width: int,
    seed: int,
    ratio: tuple[float, float] | None = None,
    *,
    progress: bool = False,
) -> list[np.ndarray]:
    """n masks; mask i uses its own generator `default_rng([seed, i])`, so it does not depend on n.

    `progress` shows a tqdm bar (on stderr).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    indices = tqdm(range(n), desc=f"{kind} masks", unit="mask", disable=not progress)
    return [generate_mask(kind, height, width, np.random.default_rng([seed, i]), ratio) for i in indices]


def _write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON so that `path` is either its old content or the complete new file."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_mask_set(
    directory: str | Path,
    masks: list[np.ndarray],
    *,
    kind: str,
    seed: int | None,
    ratio: tuple[float, float] | None = None,
    details: list[dict] | None = None,
    meta: dict | None = None,
) -> Path:
    """Write masks as 00000.png, 00001.png, ... (white = hole) and then index.json; return the index path.

    `details` adds fields to each mask's index entry, `meta` to the index itself.
    """
    if not masks:
        raise ValueError("cannot save an empty mask set")
    height, width = masks[0].shape
    if any(mask.shape != (height, width) for mask in masks):
        raise ValueError(f"all masks must have the shape of the first, {(height, width)}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, mask in enumerate(masks):
        name = f"{i:05d}.png"
        write_mask(directory / name, mask)
        entries.append({"file": name, "hole_ratio": round(hole_ratio(mask), 6), **(details[i] if details else {})})
    index = {
        "kind": kind,
        "seed": seed,
        "ratio": None if ratio is None else list(ratio),
        "height": height,
        "width": width,
        "count": len(masks),
        **(meta or {}),
        "masks": entries,
    }
    index_path = directory / INDEX_NAME
    _write_json_atomic(index_path, index)
    return index_path


def _read_mask_png(path: Path, height: int, width: int) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"mask file listed in the index is missing: {path}")
    with Image.open(path) as image:
        mask = np.asarray(image.convert("L")) > 127
    if mask.shape != (height, width):
        size = f"{mask.shape[1]}x{mask.shape[0]}"
        raise ValueError(f"{path}: size {size} differs from the index's {width}x{height}")
    return mask


def load_mask_set(directory: str | Path) -> tuple[list[np.ndarray], dict]:
    """Read a set written by `save_mask_set`: (masks, index)."""
    index_path = Path(directory) / INDEX_NAME
    if not index_path.is_file():
        raise FileNotFoundError(f"mask set index not found: {index_path}")
    index = json.loads(index_path.read_text(encoding="utf-8"))
    missing = {"height", "width", "count", "masks"} - index.keys()
    if missing:
        raise ValueError(f"{index_path}: missing keys {sorted(missing)}")
    if index["count"] != len(index["masks"]):
        raise ValueError(f"{index_path}: count {index['count']} but {len(index['masks'])} mask entries")
    height, width = index["height"], index["width"]
    masks = [_read_mask_png(index_path.parent / entry["file"], height, width) for entry in index["masks"]]
    return masks, index
