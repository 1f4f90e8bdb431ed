"""Write an image folder (or a file list) as WebDataset tar shards with a seeded train/val/test split.

Each sample keeps the original encoded bytes (no re-encoding) under its image extension, plus a
`json` entry with the source path and size. Every file is decoded once before it is written:
unreadable or corrupt images and non-image files are skipped, counted and listed in the index,
never silently dropped. Shards are written to a temporary name and renamed when complete, so a
rerun resumes by skipping the shards that already exist (the assignment of files to shards is a
pure function of the sorted file list and the seed).

Layout of OUT: `{split}-{000000}.tar` shards and `index.json` (counts, shard names, sizes, split,
skipped files).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import webdataset as wds
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"})
SPLITS = ("train", "val", "test")
INDEX_NAME = "index.json"


@dataclass
class ShardReport:
    """What `write_shards` did: samples written per split, shard names, skipped files."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    shards: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in SPLITS})
    corrupt: list[dict[str, str]] = field(default_factory=list)
    not_image: list[str] = field(default_factory=list)
    resumed_shards: int = 0


def list_sources(src: Path) -> tuple[Path, list[Path]]:
    """(root, files): all files under a folder (recursively, sorted), or the paths in a text file list."""
    if src.is_dir():
        return src, sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith("."))
    if src.is_file():
        lines = [line.strip() for line in src.read_text().splitlines()]
        return src.parent, [(src.parent / line) for line in lines if line and not line.startswith("#")]
    raise FileNotFoundError(f"source not found: {src}")


def assign_splits(n: int, fractions: tuple[float, float, float], seed: int) -> list[np.ndarray]:
    """Indices of train/val/test after a seeded permutation (sizes rounded, remainder to train)."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    order = np.random.default_rng(seed).permutation(n)
    n_val, n_test = round(n * fractions[1]), round(n * fractions[2])
    n_train = n - n_val - n_test
    return [order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]]


def _decode_check(path: Path) -> tuple[bytes, str, tuple[int, int]]:
    """The file's bytes, the sample extension and (width, height); raises on unreadable images."""
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        size = image.size
        image_format = (image.format or "").lower()
    extension = {"jpeg": "jpg", "mpo": "jpg"}.get(image_format, image_format) or path.suffix.lstrip(".").lower()
    return data, extension, size


def _write_shard(target: Path, samples: Iterable[dict]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            writer = wds.TarWriter(handle, mtime=0.0)  # fixed mtime: reproducible shard bytes
            for sample in samples:
                writer.write(sample)
            writer.close()
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_shards(
    src: str | Path,
    out: str | Path,
    *,
    shard_size: int = 1000,
    split: tuple[float, float, float] = (0.9, 0.05, 0.05),
    seed: int = 0,
    progress: bool = True,
) -> ShardReport:
    """Shard the images of `src` into `out`; returns the report (also written to `out/index.json`)."""
    if shard_size < 1:
        raise ValueError(f"shard size must be positive, got {shard_size}")
    root, files = list_sources(Path(src))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = ShardReport()
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    report.not_image = [_relative(p, root) for p in files if p.suffix.lower() not in IMAGE_EXTENSIONS]
    bar = tqdm(total=len(images), desc="shard", unit="img", disable=not progress)
    for split_name, indices in zip(SPLITS, assign_splits(len(images), split, seed)):
        for shard_number, start in enumerate(range(0, len(indices), shard_size)):
            name = f"{split_name}-{shard_number:06d}.tar"
            members = [images[i] for i in sorted(indices[start : start + shard_size])]
            stats = _read_stats(out / name)
            if stats is None:
                stats = _build_shard(out / name, members, root, key_prefix=f"{split_name}{start:08d}")
            else:
                report.resumed_shards += 1
            bar.update(len(members))
            report.corrupt.extend(stats["corrupt"])
            if stats["count"]:
                report.shards[split_name].append(name)
                report.counts[split_name] += stats["count"]
    bar.close()
    _write_json(out / INDEX_NAME, _index(out, report, shard_size=shard_size, split=split, seed=seed, source=str(src)))
    return report


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _stats_path(shard: Path) -> Path:
    return shard.with_name(shard.name + ".stats.json")


def _read_stats(shard: Path) -> dict | None:
    """The stats of a finished shard (its tar, if any samples, and its stats file exist), else None."""
    stats_path = _stats_path(shard)
    if not stats_path.exists():
        return None
    stats = json.loads(stats_path.read_text())
    return stats if (stats["count"] == 0 or shard.exists()) else None


def _build_shard(shard: Path, members: list[Path], root: Path, key_prefix: str) -> dict:
    """Decode-check and write one shard; the stats file is written last, marking it finished."""
    samples, corrupt = [], []
    for position, path in enumerate(members):
        try:
            data, extension, (width, height) = _decode_check(path)
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            corrupt.append({"file": _relative(path, root), "reason": (str(error).splitlines() or ["?"])[0][:200]})
            continue
        meta = {"source": _relative(path, root), "width": width, "height": height}
        samples.append({"__key__": f"{key_prefix}_{position:06d}", extension: data, "json": json.dumps(meta).encode()})
    if samples:
        _write_shard(shard, samples)
    stats = {"count": len(samples), "corrupt": corrupt}
    _write_json(_stats_path(shard), stats)
    return stats


def _index(out: Path, report: ShardReport, **settings: object) -> dict:
    return {
        **settings,
        "counts": report.counts,
        "shards": report.shards,
        "shard_bytes": {s: sum((out / n).stat().st_size for n in names) for s, names in report.shards.items()},
        "skipped": {"corrupt": report.corrupt, "not_image": report.not_image},
    }


def read_shard_index(root: str | Path) -> dict:
    """The index.json written by `write_shards`, with a clear error when it is missing."""
    path = Path(root) / INDEX_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no shard index at {path}: write shards with `eiip shard --src DIR --out {root}`")
    return json.loads(path.read_text())


def _write_json(path: Path, content: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(content, handle, indent=2)
    os.replace(tmp, path)
