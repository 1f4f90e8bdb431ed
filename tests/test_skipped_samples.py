"""Shards written by another tool: named by WebDataset shard lists (no eiip index needed), and a truncated
JPEG and a non-image member in them skipped and counted, never fatal."""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from PIL import Image
from test_eval import compose_eval, read_rows
from test_train import small_run

from eiip.data.datamodule import InpaintingDataModule
from eiip.data.skipping import UndecodableSample, load_image
from eiip.evaluation import runner
from eiip.external.training import train
from eiip.io import InputError

BAD_KEYS = ("truncated", "notes")


def jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (80, 80, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def bad_samples() -> list[dict]:
    whole = jpeg(99)
    return [{"__key__": "truncated", "jpg": whole[: len(whole) // 2]}, {"__key__": "notes", "txt": b"not an image"}]


@pytest.fixture(scope="module")
def foreign_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One shard per split written with webdataset.TarWriter: good JPEGs with the two bad samples between them."""
    root = tmp_path_factory.mktemp("foreign-shards")  # index.json for data.root; shard lists ignore it
    truncated, notes = bad_samples()
    splits = {"train": [0, truncated, notes], "val": [1, truncated, 2, notes], "test": [3, truncated, 4, notes]}
    for split, members in splits.items():
        with wds.TarWriter(str(root / f"{split}-000000.tar")) as writer:
            for member in members:
                writer.write(member if isinstance(member, dict) else {"__key__": f"good{member}", "jpg": jpeg(member)})
    index = {"counts": {s: len(m) for s, m in splits.items()}, "shards": {s: [f"{s}-000000.tar"] for s in splits}}
    (root / "index.json").write_text(json.dumps(index))
    return root


@pytest.mark.parametrize("sample", bad_samples(), ids=BAD_KEYS)
def test_bad_samples_raise_undecodable(sample: dict) -> None:
    with pytest.raises(UndecodableSample, match=sample["__key__"]):
        load_image(sample, lambda image: image.convert("RGB"))


def shard_lists(root: Path) -> dict[str, str]:
    """The shards of `root` as WebDataset users name them: a brace pattern, a `pipe:` command."""
    return {"train": f"{root}/train-{{000000..000000}}.tar", "val": f"pipe:cat {root}/val-000000.tar",
            "test": f"pipe:cat {root}/test-000000.tar"}


def test_shard_lists_expand_and_count_without_an_index(foreign_shards: Path) -> None:
    lists = shard_lists(foreign_shards)
    module = InpaintingDataModule(train_shards=lists["train"], test_shards=[lists["test"], lists["test"]])
    assert module.shard_urls("train") == [str(foreign_shards / "train-000000.tar")]
    assert module.split_size("test") == 8 and module.split_size("test", limit=5) == 5
    with pytest.raises(InputError, match="no data.root"):
        module.shard_urls("val")
    indexed = InpaintingDataModule(root=str(foreign_shards))
    assert indexed.shard_urls("test") == [str(foreign_shards / "test-000000.tar")] and indexed.split_size("test") == 4


def test_training_on_shard_lists_skips_and_logs_them(foreign_shards: Path, tmp_path: Path) -> None:
    lists = shard_lists(foreign_shards)
    overrides = ["data=places2", "data.root=null", "data.num_workers=0", "data.shuffle_buffer=4",
                 *(f'data.{split}_shards="{shards}"' for split, shards in lists.items())]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert train(small_run("gatedconv", "mono", foreign_shards, *overrides), tmp_path).is_file()
    messages = " ".join(str(w.message) for w in caught if "undecodable" in str(w.message))
    assert all(key in messages for key in BAD_KEYS)
    with open(tmp_path / "csv" / "metrics.csv", newline="") as handle:
        logged = [float(row["data/skipped"]) for row in csv.DictReader(handle) if row.get("data/skipped")]
    assert logged and logged[-1] >= 2  # each pass over the one training shard skips both


@pytest.mark.parametrize("source", ["index", "shard list"])
def test_evaluation_lists_them_in_the_summary(foreign_shards: Path, tmp_path: Path, source: str) -> None:
    data = ([] if source == "index" else
            ["fallback_data.root=null", f'+fallback_data.test_shards="{shard_lists(foreign_shards)["test"]}"'])
    cfg = compose_eval(foreign_shards, "backbone=telea", "colorizer=mean", "logger=csv", "save_images=false",
                       "fallback_data.test_size=[64,64]", *data)
    summary = runner.evaluate(cfg, tmp_path)
    assert summary["overall"]["n"] == 2
    assert [row["shard_key"] for row in read_rows(tmp_path)] == ["good3", "good4"]
    expected = [{"position": 1, "key": "truncated"}, {"position": 3, "key": "notes"}]
    assert json.loads((tmp_path / "summary.json").read_text())["skipped"] == expected
    assert not list(tmp_path.glob("skipped.rank*.json"))
