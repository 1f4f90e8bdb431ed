"""train.py: every backbone x bottleneck trains a few steps, checkpoints rebuild, resume, W&B offline, DDP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from eiip.data.sample_shards import ensure_sample_shards
from eiip.external.module import ExternalInpainter
from eiip.pretrained import PRETRAINED_WEIGHTS, vgg19_features
from eiip.external.training import train

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"gatedconv": 64, "edgeconnect": 64, "gmcnn": 64, "hifill": 128}
HIFILL_SMALL = ["backbone.generator.low_res=128", "backbone.generator.coarse_size=128",
                "backbone.generator.bottleneck_size=32"]


@pytest.fixture(scope="session")
def sample_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_sample_shards(tmp_path_factory.mktemp("sample-shards"))


@pytest.fixture(scope="session")
def fake_vgg19_hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torch.hub cache holding a random-weight VGG19 checkpoint under the standard file name."""
    hub = tmp_path_factory.mktemp("hub")
    (hub / "checkpoints").mkdir()
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in vgg19_features().features.state_dict().items()}
    torch.save(state, hub / "checkpoints" / PRETRAINED_WEIGHTS["vgg19"][1])
    return hub


def compose_train(*overrides: str) -> DictConfig:
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def small_run(backbone: str, bottleneck: str, shards: Path, *extra: str) -> DictConfig:
    size = SMALL[backbone]
    return compose_train(
        f"backbone={backbone}", f"bottleneck={bottleneck}", "logger=csv", f"data.root={shards}",
        f"data.train_size=[{size},{size}]", f"data.test_size=[{size},{size}]", "data.batch_size=2",
        "trainer.max_steps=2", "trainer.val_check_interval=2", "trainer.enable_progress_bar=false",
        "trainer.log_every_n_steps=1",
        "checkpoint_every_n_steps=1", "backbone.stages=null",  # every loss term of the backbone at once
        *(HIFILL_SMALL if backbone == "hifill" else []), *extra,
    )


@pytest.mark.parametrize("bottleneck", ["mono", "rgb"])
@pytest.mark.parametrize("backbone", ["gatedconv", "edgeconnect", "hifill", "gmcnn"])
def test_two_steps_of_every_backbone_and_bottleneck(
    backbone: str, bottleneck: str, sample_shards: Path, fake_vgg19_hub: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(fake_vgg19_hub))
    cfg = small_run(backbone, bottleneck, sample_shards)
    last = train(cfg, tmp_path)
    assert last.is_file()
    model = ExternalInpainter.load_from_checkpoint(last, map_location="cpu")
    assert model.hparams.config["backbone"]["name"] == backbone
    assert model.hparams.config["bottleneck"]["name"] == bottleneck
    checkpoint = torch.load(last, map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == 2
    image = torch.rand(1, 3, SMALL[backbone], SMALL[backbone])
    hole = torch.zeros(1, 1, *image.shape[-2:])
    hole[..., 8:40, 8:40] = 1.0
    with torch.no_grad():
        completed = model.eval()(image, hole)
    assert completed.shape[1] == (1 if bottleneck == "mono" else 3)
    assert torch.isfinite(completed).all()
    metrics = (tmp_path / "csv" / "metrics.csv").read_text()
    assert "val/psnr" in metrics and "train/g_loss" in metrics


def test_resume_from_last_checkpoint(sample_shards: Path, tmp_path: Path) -> None:
    first = train(small_run("gatedconv", "mono", sample_shards), tmp_path / "first")
    resumed = train(small_run("gatedconv", "mono", sample_shards, f"ckpt={first}", "trainer.max_steps=3"),
                    tmp_path / "second")
    state = torch.load(resumed, map_location="cpu", weights_only=False)
    assert state["global_step"] == 3
    assert "discriminator_optimizer" in state


def test_missing_vgg_weights_fail_at_start_with_a_clear_message(
    sample_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eiip.external import loss_terms
    from eiip.pretrained import PretrainedWeightsMissing

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    monkeypatch.setattr(loss_terms, "_VGG", loss_terms._VGGTerms())
    monkeypatch.setattr(loss_terms.losses, "_shared_pretrained_vgg19", loss_terms.losses._shared_pretrained_vgg19.__wrapped__)
    with pytest.raises(PretrainedWeightsMissing, match="vgg19"):
        train(small_run("edgeconnect", "mono", sample_shards), tmp_path / "run")


def test_pretrained_losses_false_drops_the_vgg_terms_from_every_stage(
    sample_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from eiip.external import loss_terms
    from eiip.external.training import build_model

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    monkeypatch.setattr(loss_terms, "_VGG", loss_terms._VGGTerms())
    model = build_model(compose_train("backbone=edgeconnect", "pretrained_losses=false"))
    assert "pretrained_losses=false: no id_mrf, perceptual, style term in any stage" in capsys.readouterr().out
    assert len(model.stages) == 3
    assert all(not set(stage.terms) & loss_terms.PRETRAINED_TERMS for stage in model.stages)
    assert model.stages[1].terms == {"l1_over_hole_ratio": 1.0, "adv_output": 0.1}
    gmcnn = build_model(compose_train("backbone=gmcnn", "pretrained_losses=false", "bottleneck=rgb"))
    assert gmcnn.stages[-1].terms == {"confidence_l1": 1.4, "valid_l1": 1.2, "adv_output": 0.001}
    train(small_run("edgeconnect", "mono", sample_shards, "pretrained_losses=false"), tmp_path / "run")


def test_wandb_logger_runs_offline_without_an_api_key(
    sample_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    train(small_run("gatedconv", "mono", sample_shards, "logger=wandb"), tmp_path / "run")
    assert "W&B:" in capsys.readouterr().out
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))


def test_ddp_on_cpu_splits_samples_between_ranks_and_writes_one_run_directory(
    sample_shards: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    command = [
        sys.executable, str(ROOT / "train.py"), "trainer=ddp_cpu", "logger=csv", f"data.root={sample_shards}",
        "data.train_size=[64,64]", "data.test_size=[64,64]", "data.batch_size=1", "data.shuffle_buffer=1",
        "trainer.max_steps=3", "trainer.val_check_interval=3", "trainer.enable_progress_bar=false",
        "record_seen_samples=true", f"hydra.run.dir={run_dir}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert process.returncode == 0, process.stderr[-3000:]
    seen = {rank: (run_dir / "seen_samples" / f"rank{rank}.txt").read_text().split() for rank in (0, 1)}
    assert len(seen[0]) == len(seen[1]) == 3
    assert not set(seen[0]) & set(seen[1]), seen
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "no second output directory"
    assert not (run_dir / "train_ddp_process_1").exists()


def test_loader_edges_are_the_canny_edges_of_the_loaded_image(sample_shards: Path) -> None:
    """EdgeConnect's training edges come from the loader workers, equal to `image_edges` of the image."""
    from eiip.data.sample_shards import SampleDataModule
    from eiip.external.edges import image_edges

    data = SampleDataModule(root=str(sample_shards), train_size=(64, 64), test_size=(64, 64), batch_size=3,
                            num_workers=1, edges_sigma=2.0, masks={"kind": "freeform"})
    batch = next(iter(data.train_dataloader()))
    assert batch["edges"].shape == (3, 1, 64, 64) and batch["edges"].sum() > 0
    assert torch.equal(batch["edges"], image_edges(batch["image"], 2.0))
    assert "edges" not in next(iter(data.val_dataloader()))  # validation uses test-mode Canny


def test_edgeconnect_training_uses_the_loader_edges(
    sample_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eiip.external.backbones.edgeconnect import EdgeConnect
    from eiip.external.training import build_datamodule

    def no_step_canny(self: EdgeConnect, target: torch.Tensor) -> dict[str, torch.Tensor]:
        raise AssertionError("training_inputs called: the batch should carry the edges")

    monkeypatch.setattr(EdgeConnect, "training_inputs", no_step_canny)
    cfg = small_run("edgeconnect", "mono", sample_shards, "pretrained_losses=false", "trainer.max_steps=1")
    assert build_datamodule(cfg).edges_sigma == 2.0
    assert build_datamodule(compose_train("backbone=gatedconv", f"data.root={sample_shards}")).edges_sigma is None
    assert train(cfg, tmp_path).is_file()
