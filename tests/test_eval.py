"""eval.py: both stages over a test split, per-image results, summary, W&B offline run, resume."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from PIL import Image

from eiip.cli import main as eiip_main
from eiip.data.sample_shards import ensure_sample_shards
from eiip.evaluation import features, runner
from eiip.evaluation.naming import register_resolver
from eiip.evaluation.results import COLUMNS, SETTINGS_NAME, ResultsStore
from eiip.colorize.internal import config as internal_config
from eiip.io import InputError, read_image, read_mask
from eiip.external.training import train

ROOT = Path(__file__).resolve().parents[1]
FAST_INTERNAL = ["colorizer=internal", "colorizer.options.levels=1", "colorizer.options.steps=5"]


@pytest.fixture(scope="module")
def sample_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_sample_shards(tmp_path_factory.mktemp("sample-shards"))


@pytest.fixture(autouse=True)
def mask_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path_factory.mktemp("eiip-cache")
    monkeypatch.setenv("EIIP_CACHE", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(cache / "torch"))  # no ImageNet weights: LPIPS unavailable
    return cache


def compose_eval(shards: Path, *overrides: str) -> DictConfig:
    register_resolver()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("eval", overrides=[f"fallback_data.root={shards}", "progress=false", *overrides])


def read_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_telea_with_the_internal_colorizer(sample_shards: Path, tmp_path: Path) -> None:
    cfg = compose_eval(sample_shards, "backbone=telea", *FAST_INTERNAL)
    summary = runner.evaluate(cfg, tmp_path)

    rows = read_rows(tmp_path)
    assert len(rows) == 2 and list(rows[0]) == list(COLUMNS)
    for row in rows:
        folder = tmp_path / "images" / row["key"]
        final, target = read_image(folder / "final.png"), read_image(folder / "target.png")
        hole = read_mask(folder / "mask.png")
        assert final.shape == target.shape == (3, 128, 128)
        assert (final - target).abs()[:, ~hole[0]].max() <= 1 / 255 + 1e-6  # known pixels kept
        assert abs(float(row["hole_ratio"]) - hole.float().mean().item()) < 1e-4
        assert 10.0 < float(row["hole_psnr"]) < float(row["psnr"]) < 60.0
        assert 0.0 < float(row["ssim"]) <= 1.0
        assert row["lpips"] == "nan"  # no AlexNet weights in the temporary torch.hub cache
    assert summary["overall"]["n"] == 2
    assert math.isclose(summary["overall"]["hole_psnr"], sum(float(r["hole_psnr"]) for r in rows) / 2, rel_tol=1e-5)
    recorded = json.loads((tmp_path / "summary.json").read_text())
    assert "alexnet" in recorded["lpips_unavailable"].lower()
    assert recorded["distribution"]["n"] == 2 and "pt_inception" in recorded["distribution"]["unavailable"]
    markdown = (tmp_path / "summary.md").read_text()
    assert markdown.startswith("| rows |") and "FID/KID unavailable: FID Inception weights" in markdown


def test_two_images_give_fid_and_kid(sample_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    stand_in = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(12, 16))
    monkeypatch.setattr(features, "load_fid_inception", lambda: stand_in)  # the Inception: 1 min on 2 CPUs here
    cfg = compose_eval(sample_shards, "backbone=telea", "colorizer=dt", "logger=csv", "save_images=false")
    distribution = runner.evaluate(cfg, tmp_path)["distribution"]
    assert distribution["n"] == 2 and distribution["kid_subset_size"] == 2
    assert math.isfinite(distribution["fid"]) and distribution["fid"] >= -1e-6
    assert math.isfinite(distribution["kid_mean"])
    assert len(list((tmp_path / "features").glob("*.npz"))) >= 1
    assert f"FID {distribution['fid']:.4f}" in (tmp_path / "summary.md").read_text()
    assert runner.evaluate(cfg, tmp_path)["distribution"] == distribution  # a rerun: all done, from the stored features


def test_out_of_the_box_colorizer_is_the_validated_blend(sample_shards: Path, tmp_path: Path) -> None:
    summary = runner.evaluate(compose_eval(sample_shards, "backbone=telea", "logger=csv", "save_images=false"), tmp_path)
    settings = json.loads((tmp_path / SETTINGS_NAME).read_text())
    assert settings["colorizer"] == {"name": "validated-blend",
                                     "options": {"candidates": ["levin", "local-linear"], "holdouts": 4}}
    assert summary["overall"]["n"] == 2
    assert 15.0 < summary["overall"]["hole_psnr"] < summary["overall"]["psnr"] < 60.0


def test_wandb_offline_run_holds_the_table_images_and_plots(sample_shards: Path, tmp_path: Path) -> None:
    runner.evaluate(compose_eval(sample_shards, "backbone=telea", "colorizer=dt"), tmp_path)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    media = runs[0] / "files" / "media"
    tables = {p.name.rsplit("_", 2)[0]: json.loads(p.read_text()) for p in (media / "table" / "eval").glob("*.json")}
    images = tables["images"]
    assert len(images["data"]) == 2 and images["columns"][:5] == ["key", "input", "mono", "final", "target"]
    hole_psnr = images["columns"].index("hole_psnr")
    assert {row[hole_psnr] for row in images["data"]} == {float(r["hole_psnr"]) for r in read_rows(tmp_path)}
    assert len(tables["hole_ratio_buckets"]["data"]) >= 1
    assert len(list((media / "images").glob("eval/examples_*.png"))) == 2  # one strip per image
    logged = (b"wandb/scatter/v0", b"wandb/line/v0", b"eval/hole_psnr_vs_hole_ratio", b"eval/seconds_per_image")
    record = _flushed_record(next(runs[0].glob("run-*.wandb")), logged)
    for marker in logged:
        assert marker in record


def _flushed_record(path: Path, markers: tuple[bytes, ...], timeout: float = 60.0) -> bytes:
    """The run's transaction log once it holds every marker, or as it is after `timeout` seconds: W&B's service
    process writes it after `run.finish()` returns (seen here holding only its header right after), so the
    service is shut down first (its files closed) and the file then polled."""
    import wandb

    wandb.teardown()
    deadline = time.monotonic() + timeout
    record = path.read_bytes()
    while not all(marker in record for marker in markers) and time.monotonic() < deadline:
        time.sleep(0.5)
        record = path.read_bytes()
    return record


def test_rerun_after_interruption_skips_done_images_and_gives_the_same_summary(
    sample_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides = ("backbone=ns", "colorizer=levin", "colorizer.batch_size=1", "logger=csv", "save_images=false")
    runner.evaluate(compose_eval(sample_shards, *overrides), tmp_path / "whole")

    calls: list[int] = []
    original = runner._evaluate_batch

    def interrupted_after_one(*args, **kwargs):  # noqa: ANN002, ANN003
        calls.append(len(args[2]))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "_evaluate_batch", interrupted_after_one)
    with pytest.raises(KeyboardInterrupt):
        runner.evaluate(compose_eval(sample_shards, *overrides), tmp_path / "resumed")
    assert len(ResultsStore(tmp_path / "resumed").rows()) == 1
    calls.clear()
    runner.evaluate(compose_eval(sample_shards, *overrides), tmp_path / "resumed")
    assert calls == [1]  # only the image not done before
    summaries = [(tmp_path / run / "summary.json").read_text() for run in ("whole", "resumed")]
    assert summaries[0] == summaries[1]
    assert json.loads(summaries[0])["overall"]["n"] == 2


def test_a_run_directory_of_other_settings_is_not_resumed(sample_shards: Path, tmp_path: Path) -> None:
    runner.evaluate(compose_eval(sample_shards, "backbone=ns", "colorizer=mean", "logger=csv"), tmp_path)
    with pytest.raises(InputError, match="colorizer"):
        runner.evaluate(compose_eval(sample_shards, "backbone=ns", "colorizer=dt", "logger=csv"), tmp_path)


def test_a_changed_preset_definition_is_not_resumed_under_the_same_options(
    sample_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`preset: fast` names settings that may change between versions: the resolved ones are recorded too."""
    overrides = ("backbone=ns", "logger=csv", "save_images=false", "max_images=1", *FAST_INTERNAL)
    runner.evaluate(compose_eval(sample_shards, *overrides), tmp_path)
    settings = json.loads((tmp_path / SETTINGS_NAME).read_text())
    assert settings["colorizer"]["resolved"]["ensemble"] == internal_config.FAST_ENSEMBLE
    monkeypatch.setattr(internal_config, "FAST_ENSEMBLE", 2)
    with pytest.raises(InputError, match="colorizer"):
        runner.evaluate(compose_eval(sample_shards, *overrides), tmp_path)


def test_truth_stage_measures_the_colorizer_alone(sample_shards: Path, tmp_path: Path) -> None:
    runner.evaluate(compose_eval(sample_shards, "backbone=truth", "colorizer=levin", "logger=csv"), tmp_path)
    for row in read_rows(tmp_path):
        assert float(row["mono_hole_psnr"]) > 50.0  # the decolorized ground truth is the completion


def test_a_mask_set_from_eiip_masks_is_used_and_its_size_checked(sample_shards: Path, tmp_path: Path) -> None:
    masks = tmp_path / "masks"
    assert eiip_main(["masks", "--out", str(masks), "--n", "2", "--size", "128x128", "--kind", "rect",
                      "--ratio", "0.3-0.4", "--seed", "3", "--quiet"]) == 0
    runner.evaluate(compose_eval(sample_shards, "backbone=telea", "colorizer=mean", "logger=csv",
                                 f"mask_set={masks}"), tmp_path / "run")
    for row in read_rows(tmp_path / "run"):
        assert 0.3 <= float(row["hole_ratio"]) <= 0.4
        used = read_mask(tmp_path / "run" / "images" / row["key"] / "mask.png")
        assert (used == read_mask(masks / f"{int(row['position']):05d}.png")).all()
    small = tmp_path / "small"
    assert eiip_main(["masks", "--out", str(small), "--n", "2", "--size", "64x64", "--quiet"]) == 0
    with pytest.raises(InputError, match="64x64"):
        runner.evaluate(compose_eval(sample_shards, "backbone=telea", "colorizer=mean", "logger=csv",
                                     f"mask_set={small}"), tmp_path / "run2")


def test_standard_mask_sets_evaluate(sample_shards: Path, tmp_path: Path) -> None:
    lama = tmp_path / "lama"
    assert eiip_main(["masks", "--out", str(lama), "--kind", "lama-thin", "--n", "2", "--size", "128x128",
                      "--quiet"]) == 0
    release = tmp_path / "release"
    release.mkdir()
    for i, rows in enumerate((60, 100)):  # black holes on white, at twice the test size
        pixels = np.full((256, 256), 255, np.uint8)
        pixels[:rows] = 0
        Image.fromarray(pixels).save(release / f"{i:05d}.png")
    nvidia = tmp_path / "nvidia"
    assert eiip_main(["masks", "--import-nvidia", str(release), "--out", str(nvidia), "--size", "128x128",
                      "--hole-color", "black"]) == 0
    for masks in (lama, nvidia):
        runner.evaluate(compose_eval(sample_shards, "backbone=telea", "colorizer=mean", "logger=csv",
                                     "save_images=false", f"mask_set={masks}"), tmp_path / masks.name / "run")
        index = json.loads((masks / "index.json").read_text())
        ratios = [float(row["hole_ratio"]) for row in read_rows(tmp_path / masks.name / "run")]
        assert ratios == pytest.approx([entry["hole_ratio"] for entry in index["masks"]], abs=1e-4)
    assert [entry["bin"] for entry in index["masks"]] == ["0.2-0.3", "0.3-0.4"]


def test_a_given_mask_set_smaller_than_the_split_is_cycled_and_max_images_honoured(
    sample_shards: Path, tmp_path: Path
) -> None:
    masks = tmp_path / "masks"
    assert eiip_main(["masks", "--out", str(masks), "--n", "1", "--size", "128x128", "--quiet"]) == 0
    overrides = ("backbone=telea", "colorizer=mean", "logger=csv", f"mask_set={masks}")
    runner.evaluate(compose_eval(sample_shards, *overrides), tmp_path / "all")
    rows = read_rows(tmp_path / "all")
    assert [int(r["position"]) for r in rows] == [0, 1]  # both images, each with mask 0 of 1
    for row in rows:
        assert (read_mask(tmp_path / "all" / "images" / row["key"] / "mask.png") == read_mask(masks / "00000.png")).all()
    runner.evaluate(compose_eval(sample_shards, *overrides, "max_images=1"), tmp_path / "one")
    assert len(read_rows(tmp_path / "one")) == 1


def test_generated_mask_sets_are_stored_once_and_reused(sample_shards: Path, tmp_path: Path, mask_cache: Path) -> None:
    runner.evaluate(compose_eval(sample_shards, "backbone=telea", "colorizer=mean", "logger=csv"), tmp_path / "a")
    stored = list((mask_cache / "mask-sets").iterdir())
    assert len(stored) == 1 and (stored[0] / "index.json").is_file()
    runner.evaluate(compose_eval(sample_shards, "backbone=ns", "colorizer=mean", "logger=csv"), tmp_path / "b")
    assert list((mask_cache / "mask-sets").iterdir()) == stored
    ratios_a = [r["hole_ratio"] for r in read_rows(tmp_path / "a")]
    assert ratios_a == [r["hole_ratio"] for r in read_rows(tmp_path / "b")]  # same masks for both stages


def test_without_a_stage_the_error_says_what_to_pass(sample_shards: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="ckpt"):
        runner.evaluate(compose_eval(sample_shards, "colorizer=mean", "logger=csv"), tmp_path)


@pytest.mark.parametrize("bottleneck", ["mono", "rgb"])
def test_train_then_evaluate_a_checkpoint_on_its_own_data(sample_shards: Path, tmp_path: Path, bottleneck: str) -> None:
    overrides = [f"bottleneck={bottleneck}", "logger=csv", f"data.root={sample_shards}", "data.train_size=[64,64]",
                 "data.test_size=[64,64]", "data.batch_size=2", "trainer.max_steps=1", "+trainer.limit_val_batches=0",
                 "trainer.enable_progress_bar=false", "backbone.stages=null", "backbone.losses={l1: 1.0}",
                 "eval_after=true", "eval_overrides=['colorizer=levin','logger=csv','progress=false']"]
    register_resolver()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        train(compose("train", overrides=overrides), tmp_path)
        rows = read_rows(tmp_path / "eval")
    assert len(rows) == 2
    settings = json.loads((tmp_path / "eval" / "eval_settings.json").read_text())
    assert settings["data"]["test_size"] == [64, 64] and settings["data"]["name"] == "sample"
    expected = "levin" if bottleneck == "mono" else "none (rgb output)"
    assert settings["colorizer"]["name"] == expected
    for row in rows:
        assert 0.0 < float(row["hole_psnr"]) < float(row["psnr"])
        mono = read_image(tmp_path / "eval" / "images" / row["key"] / "mono.png")
        assert mono.shape[-2:] == (64, 64)


def test_test_images_above_the_working_size_follow_the_hd_strategy(sample_shards: Path, tmp_path: Path) -> None:
    """Larger test images go through the HD strategy, recorded in the settings (smaller ones record nothing, so
    earlier run folders still resume); crop and original give the same telea completion."""
    summaries = {}
    for strategy in ("crop", "original"):
        run_dir = tmp_path / strategy
        cfg = compose_eval(sample_shards, "backbone=telea", "colorizer=levin", "logger=csv", "save_images=false",
                           f"hd.strategy={strategy}", "hd.pixels=4096")
        summaries[strategy] = runner.evaluate(cfg, run_dir)
        settings = json.loads((run_dir / SETTINGS_NAME).read_text())
        assert settings["hd"] == {"strategy": strategy, "pixels": 4096}
    for metric in ("psnr", "hole_psnr", "ssim"):  # (LPIPS is unavailable offline)
        assert summaries["crop"]["overall"][metric] == pytest.approx(summaries["original"]["overall"][metric])
    runner.evaluate(compose_eval(sample_shards, "backbone=telea", "colorizer=levin", "logger=csv",
                                 "save_images=false"), tmp_path / "small")
    assert "hd" not in json.loads((tmp_path / "small" / SETTINGS_NAME).read_text())
