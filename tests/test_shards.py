"""`eiip shard`: seeded split, corrupt and non-image files reported, valid shards, resumable."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eiip.cli import main
from eiip.data.samples import load_photo_array
from eiip.data.shards import assign_splits, write_shards


@pytest.fixture()
def image_folder(tmp_path: Path) -> Path:
    """8 real photo crops (PNG and JPEG, one in a subfolder), a corrupt JPEG and a text file."""
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    photo = load_photo_array("chelsea")
    for i in range(8):
        crop = Image.fromarray(photo[i * 10 : i * 10 + 64, i * 20 : i * 20 + 80])
        target = folder / ("sub" if i == 7 else "") / f"img{i}.{'jpg' if i % 2 else 'png'}"
        crop.save(target)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("not an image")
    return folder


def _tar_samples(path: Path) -> dict[str, dict[str, bytes]]:
    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            key, extension = member.name.split(".", 1)
            samples.setdefault(key, {})[extension] = tar.extractfile(member).read()
    return samples


def test_shard_reports_corrupt_and_non_image_files_and_writes_valid_shards(
    image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shards"
    code = main(["shard", "--src", str(image_folder), "--out", str(out), "--size", "3",
                 "--split", "0.5,0.25,0.25", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0
    assert "skipped corrupt image broken.jpg" in captured.err
    assert "skipped non-image file notes.txt" in captured.err
    assert "skipped 1 corrupt image(s) and 1 non-image file(s)" in captured.out
    index = json.loads((out / "index.json").read_text())
    assert sum(index["counts"].values()) == 8
    assert index["skipped"]["not_image"] == ["notes.txt"]
    assert [c["file"] for c in index["skipped"]["corrupt"]] == ["broken.jpg"]
    sources = []
    for split, names in index["shards"].items():
        for name in names:
            for sample in _tar_samples(out / name).values():
                meta = json.loads(sample["json"])
                image_bytes = sample.get("png") or sample.get("jpg")
                with Image.open(io.BytesIO(image_bytes)) as image:
                    assert image.size == (meta["width"], meta["height"]) == (80, 64)
                sources.append(meta["source"])
    expected = [f"img{i}.{'jpg' if i % 2 else 'png'}" for i in range(7)] + ["sub/img7.jpg"]
    assert sorted(sources) == sorted(expected)


def test_split_is_seeded_disjoint_and_complete() -> None:
    first = assign_splits(101, (0.8, 0.1, 0.1), seed=3)
    again = assign_splits(101, (0.8, 0.1, 0.1), seed=3)
    other = assign_splits(101, (0.8, 0.1, 0.1), seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
    assert [len(part) for part in first] == [81, 10, 10]
    assert sorted(np.concatenate(first).tolist()) == list(range(101))
    with pytest.raises(ValueError, match="sum"):
        assign_splits(10, (0.5, 0.1, 0.1), seed=0)


def test_rerun_resumes_and_gives_the_same_shards(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "shards"
    first = write_shards(image_folder, out, shard_size=2, split=(1.0, 0.0, 0.0), seed=0, progress=False)
    contents = {name: (out / name).read_bytes() for name in first.shards["train"]}
    (out / first.shards["train"][-1]).unlink()  # an interrupted run: the last shard is missing
    second = write_shards(image_folder, out, shard_size=2, split=(1.0, 0.0, 0.0), seed=0, progress=False)
    assert second.resumed_shards == len(first.shards["train"]) - 1
    assert second.shards == first.shards and second.counts == first.counts
    assert {name: (out / name).read_bytes() for name in second.shards["train"]} == contents
    assert not list(out.glob("*.tmp"))


def test_file_list_source(image_folder: Path, tmp_path: Path) -> None:
    listing = image_folder / "list.txt"
    listing.write_text("img0.png\nimg1.jpg\n# a comment\nmissing.png\n")
    report = write_shards(listing, tmp_path / "out", shard_size=10, split=(1.0, 0.0, 0.0), progress=False)
    assert report.counts["train"] == 2
    assert [c["file"] for c in report.corrupt] == ["missing.png"]


def test_missing_source_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shard", "--src", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == f"error: source not found: {tmp_path / 'nope'}"
