"""EdgeConnect backbone: generator sizes, forward/backward, edge composition, Canny edges, training stages."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from skimage.feature import canny
from torch import nn
from torch.utils.data import DataLoader

from eiip.external.backbones.edgeconnect import (
    EdgeConnect,
    EdgeGenerator,
    InpaintGenerator,
    convert_release_state_dict,
)
from eiip.external.backbones.registry import backbone_names, build_backbone
from eiip.color import rgb_to_mono
from eiip.data.samples import load_sample_photo
from eiip.external.edges import canny_edges, gray_for_edges, image_edges
from eiip.external.module import ExternalInpainter
from helpers import count_parameters

PAPER_PARAMS = 10.8e6



def _rect_hole(size: int, batch: int = 1) -> torch.Tensor:
    hole = torch.zeros(batch, 1, size, size)
    hole[..., size // 4 : size // 2 + size // 8, size // 3 : size * 3 // 4] = 1.0
    return hole


def _masked_input(photo: torch.Tensor, bottleneck: str, hole: torch.Tensor) -> torch.Tensor:
    """(3, H, W) photo -> masked registry input: RGB or RGB ⊕ mono, zero in the hole."""
    rgb = photo.unsqueeze(0).expand(hole.shape[0], -1, -1, -1)
    image = torch.cat((rgb, rgb_to_mono(rgb)), dim=1) if bottleneck == "mono" else rgb
    return image * (1.0 - hole)


@pytest.fixture(scope="module")
def photo128() -> torch.Tensor:
    return load_sample_photo("astronaut", 128)


@pytest.fixture(scope="module")
def models() -> dict[str, EdgeConnect]:
    built = {}
    for bottleneck in ("mono", "rgb"):
        torch.manual_seed(0)
        built[bottleneck] = build_backbone("edgeconnect", bottleneck)
    return built


def test_registered() -> None:
    assert "edgeconnect" in backbone_names()


@pytest.mark.parametrize("bottleneck", ["mono", "rgb"])
def test_parameter_counts_match_paper(models: dict[str, EdgeConnect], bottleneck: str) -> None:
    model = models[bottleneck]
    edge, inpaint = count_parameters(model.edge_generator), count_parameters(model.inpaint_generator)
    print(f"\n{bottleneck}: edge generator {edge:,} params, inpaint generator {inpaint:,} params")
    for count in (edge, inpaint):
        assert abs(count - PAPER_PARAMS) / PAPER_PARAMS < 0.15
    # The edge model does not depend on the bottleneck; the release's rgb inpainting input is RGB + edge.
    assert model.edge_generator.in_channels == 3
    assert model.inpaint_generator.in_channels == (6 if bottleneck == "mono" else 4)
    assert model.inpaint_generator.out_channels == (1 if bottleneck == "mono" else 3)
    # Spectral norm on the edge generator only (release: EdgeGenerator(use_spectral_norm=True)).
    assert nn.utils.parametrize.is_parametrized(model.edge_generator.encoder[1], "weight")
    assert not nn.utils.parametrize.is_parametrized(model.edge_generator.decoder[-1])
    assert not any(nn.utils.parametrize.is_parametrized(m) for m in model.inpaint_generator.modules())
    # Residual blocks: dilation 2, 8 of them.
    assert len(model.edge_generator.middle) == 8
    assert model.inpaint_generator.middle[0].conv_block[1].dilation == (2, 2)


@pytest.mark.parametrize("bottleneck", ["mono", "rgb"])
def test_forward_backward_256(models: dict[str, EdgeConnect], bottleneck: str) -> None:
    model = models[bottleneck]
    model.zero_grad(set_to_none=True)
    photo = load_sample_photo("astronaut", 256)
    hole = _rect_hole(256)
    out = model(_masked_input(photo, bottleneck, hole), hole)
    channels = 1 if bottleneck == "mono" else 3
    assert out["output"].shape == (1, channels, 256, 256)
    assert out["edges"].shape == (1, 1, 256, 256)
    for key in ("output", "edges"):
        assert torch.isfinite(out[key]).all()
        assert out[key].min() >= 0.0 and out[key].max() <= 1.0
    # Only the inpainting output in the loss: gradients must reach the edge generator through the
    # composed edge map (edge_source "predicted", the default: the release's joint model).
    out["output"].mean().backward()
    first_edge = model.edge_generator.encoder[1].parametrizations.weight.original
    first_inpaint = model.inpaint_generator.encoder[1].weight
    for weight in (first_edge, first_inpaint):
        assert weight.grad is not None
        assert torch.isfinite(weight.grad).all()
        assert weight.grad.abs().sum() > 0


def test_detached_edges_stop_the_gradient() -> None:
    torch.manual_seed(0)
    model = build_backbone("edgeconnect", "mono", residual_blocks=1)
    hole = _rect_hole(32)
    image = torch.rand(1, 4, 32, 32) * (1 - hole)
    model(image, hole, edge_source="predicted_detached")["output"].mean().backward()
    assert model.edge_generator.encoder[1].parametrizations.weight.original.grad is None
    assert model.inpaint_generator.encoder[1].weight.grad is not None


@pytest.mark.parametrize("bottleneck", ["mono", "rgb"])
def test_canny_edge_source_feeds_the_full_image_edges(photo128: torch.Tensor, bottleneck: str) -> None:
    """Release model 2: the inpainting generator gets the full image's Canny edges, hole included; no edge model."""
    torch.manual_seed(0)
    model = build_backbone("edgeconnect", bottleneck, residual_blocks=1)
    seen = _capture_inputs(model)
    hole = _rect_hole(128)
    full = image_edges(photo128.unsqueeze(0))
    assert full[hole.bool()].sum() > 10  # there are edges in the hole to be given
    with torch.no_grad():
        out = model(_masked_input(photo128, bottleneck, hole), hole, edges=full, edge_source="canny")
    assert "edge" not in seen and "edges" not in out
    assert torch.equal(seen["inpaint"][:, -1:], full) and torch.equal(out["edges_full"], full)
    with pytest.raises(ValueError, match="canny"):
        model(_masked_input(photo128, bottleneck, hole), hole, edge_source="canny")
    with pytest.raises(ValueError, match="edge_source"):
        model(_masked_input(photo128, bottleneck, hole), hole, edges=full, edge_source="ground_truth")


def _capture_inputs(model: EdgeConnect) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}
    model.edge_generator.register_forward_pre_hook(lambda m, args: seen.__setitem__("edge", args[0]))
    model.inpaint_generator.register_forward_pre_hook(lambda m, args: seen.__setitem__("inpaint", args[0]))
    return seen


@pytest.mark.parametrize("bottleneck", ["mono", "rgb"])
def test_edge_composition_and_generator_inputs(photo128: torch.Tensor, bottleneck: str) -> None:
    torch.manual_seed(0)
    model = build_backbone("edgeconnect", bottleneck, residual_blocks=1)
    seen = _capture_inputs(model)
    hole = _rect_hole(128)
    known = 1.0 - hole
    image = _masked_input(photo128, bottleneck, hole)
    # Dense precomputed edges so that every known pixel value matters.
    edges = (torch.rand(1, 1, 128, 128, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    with torch.no_grad():
        out = model(image, hole, edges=edges)
    full = out["edges_full"]
    # Known edges are kept exactly in the known region, the prediction fills the hole.
    assert torch.equal(full[known.bool()], edges[known.bool()])
    assert torch.equal(full[hole.bool()], out["edges"][hole.bool()])
    assert torch.equal(out["edges_known"], edges * known)
    # Edge generator input: [gray (hole = 1), masked edges, hole], gray = the paper's monochrome.
    gray = rgb_to_mono(photo128.unsqueeze(0))
    torch.testing.assert_close(seen["edge"][:, 0:1], gray * known + hole)
    assert torch.equal(seen["edge"][:, 1:2], edges * known)
    assert torch.equal(seen["edge"][:, 2:3], hole)
    # Inpainting generator input: [image (hole = 1), (hole if mono), composed edges].
    x = seen["inpaint"]
    assert torch.equal(x[:, : image.shape[1]], image * known + hole)
    assert torch.equal(x[:, -1:], full)
    if bottleneck == "mono":
        assert torch.equal(x[:, 4:5], hole)
    assert x.shape[1] == (6 if bottleneck == "mono" else 4)


def test_inference_edges_from_masked_gray(photo128: torch.Tensor) -> None:
    """Without precomputed edges: canny of the masked gray restricted to the known region (release test mode)."""
    torch.manual_seed(0)
    model = build_backbone("edgeconnect", "rgb", residual_blocks=1)
    hole = _rect_hole(128)
    image = _masked_input(photo128, "rgb", hole)
    with torch.no_grad():
        out = model(image, hole)
    gray = rgb_to_mono(photo128).numpy().astype(np.float64)[0]
    known = (hole[0, 0] == 0).numpy()
    expected = canny(gray * known, sigma=2.0, mask=known)
    assert np.array_equal(out["edges_known"][0, 0].numpy().astype(bool), expected)
    assert out["edges_known"][hole.bool()].sum() == 0
    assert expected.sum() > 100
    # The precomputed full-image edges (training path) differ from the test-time ones only near the hole.
    full = image_edges(photo128.unsqueeze(0))
    with torch.no_grad():
        out_train = model(image, hole, edges=full)
    assert torch.equal(out_train["edges_known"], full * (1 - hole))
    assert not torch.equal(out_train["output"], out["output"])
    far = torch.ones(128, 128, dtype=torch.bool)
    far[32 - 12 : 80 + 12, 42 - 12 : 96 + 12] = False  # hole (rows 32:80, cols 42:96) + 12 px margin
    assert torch.equal(out_train["edges_known"][0, 0][far], out["edges_known"][0, 0][far])


def test_canny_on_real_photo(photo128: torch.Tensor) -> None:
    gray = rgb_to_mono(photo128.unsqueeze(0))
    edges = canny_edges(gray)
    assert edges.shape == (1, 1, 128, 128) and edges.dtype == gray.dtype
    assert set(edges.unique().tolist()) <= {0.0, 1.0}
    density = edges.mean().item()
    print(f"\ncanny sigma=2 edge density on astronaut 128x128: {density:.4f}")
    assert 0.03 < density < 0.20
    direct = canny(gray[0, 0].numpy().astype(np.float64), sigma=2)
    assert np.array_equal(edges[0, 0].numpy().astype(bool), direct)
    # Batched: each image independently; gray_for_edges picks the mono channel of RGB ⊕ mono.
    batch = torch.cat((gray, gray.flip(-1)))
    both = canny_edges(batch)
    assert torch.equal(both[0], edges[0]) and torch.equal(both[1], canny_edges(gray.flip(-1))[0])
    rgbm = torch.cat((photo128.unsqueeze(0), gray), dim=1)
    assert torch.equal(gray_for_edges(rgbm), gray)
    assert torch.equal(image_edges(photo128.unsqueeze(0)), edges)


def test_canny_sigma_modes(photo128: torch.Tensor) -> None:
    gray = rgb_to_mono(photo128.unsqueeze(0)).expand(3, -1, -1, -1)
    assert canny_edges(gray, sigma=-1).sum() == 0
    first = canny_edges(gray, sigma=0, generator=torch.Generator().manual_seed(3))
    again = canny_edges(gray, sigma=0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    sigmas = torch.randint(1, 5, (3,), generator=torch.Generator().manual_seed(3))
    for i, s in enumerate(sigmas.tolist()):
        assert torch.equal(first[i], canny_edges(gray[i : i + 1], sigma=float(s))[0])
    with pytest.raises(ValueError):
        canny_edges(gray, sigma=-2)
    with pytest.raises(ValueError):
        canny_edges(gray[:, 0])


def test_odd_sizes_and_validation() -> None:
    torch.manual_seed(0)
    model = build_backbone("edgeconnect", "mono", residual_blocks=1)
    hole = torch.zeros(2, 1, 30, 45)
    hole[:, :, 8:20, 10:30] = 1
    image = torch.rand(2, 4, 30, 45) * (1 - hole)
    with torch.no_grad():
        out = model(image, hole)
    assert out["output"].shape == (2, 1, 30, 45) and out["edges"].shape == (2, 1, 30, 45)
    with pytest.raises(ValueError):
        model(torch.rand(2, 3, 30, 45), hole)
    with pytest.raises(ValueError):
        model(image, hole[:, :, :20])
    with pytest.raises(ValueError):
        model(image, hole, edges=torch.zeros(2, 1, 30, 44))


def test_release_state_dict_keys_load() -> None:
    """Old-style spectral norm keys (weight_orig/_u/_v, as release checkpoints) map onto ours."""
    torch.manual_seed(0)
    release = EdgeGenerator(residual_blocks=2, use_spectral_norm=False)
    for module in release.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and module is not release.decoder[-1]:
            nn.utils.spectral_norm(module)
    # Release residual convs under spectral norm have no bias (`bias=not use_spectral_norm`).
    state = {
        "module." + k: v
        for k, v in release.state_dict().items()
        if not (k.startswith("middle.") and k.endswith(".bias"))
    }
    assert any(k.endswith("weight_orig") for k in state)
    ours = EdgeGenerator(residual_blocks=2)
    ours.load_state_dict(convert_release_state_dict(state), strict=True)
    torch.testing.assert_close(
        ours.encoder[1].parametrizations.weight.original, release.encoder[1].weight_orig
    )
    InpaintGenerator(residual_blocks=2).load_state_dict(
        convert_release_state_dict(InpaintGenerator(residual_blocks=2).state_dict()), strict=True
    )


# ---------------------------------------------------------------------------------------- training stages

CONFIGS = Path(__file__).resolve().parents[1] / "conf/backbone"
CONFIG = OmegaConf.to_container(OmegaConf.load(CONFIGS / "edgeconnect.yaml"))
JOINT_CONFIG = OmegaConf.to_container(OmegaConf.load(CONFIGS / "edgeconnect_joint.yaml"))
VGG_TERMS = ("perceptual", "style")  # need ImageNet VGG19 weights, absent in tests
EDGE_MODEL, INPAINT_MODEL, MODEL_3 = 0, 1, 2  # indices of the release's models 1, 2 and 3 in the config's stages
EDGE_TERMS, INPAINT_TERMS = {"adv_edges", "fm_edges"}, {"l1_over_hole_ratio", "adv_output", "perceptual", "style"}


def _config_stage(index: int, config: dict = CONFIG, **forward: object) -> dict:
    """Stage `index` of an EdgeConnect config, endless, without the VGG terms; `forward` overrides."""
    stage = config["stages"][index]
    losses = {name: weight for name, weight in stage["losses"].items() if name not in VGG_TERMS}
    return {**stage, "steps": None, "losses": losses, "forward": {**stage.get("forward", {}), **forward}}


def _inpainter(stage: dict, bottleneck: str = "mono") -> ExternalInpainter:
    torch.manual_seed(0)
    return ExternalInpainter("edgeconnect", bottleneck, generator={"residual_blocks": 1},
                             discriminators=CONFIG["discriminators"], stages=[stage], optimizer=CONFIG["optimizer"],
                             critic_first=CONFIG["critic_first"])


def _photos32() -> torch.Tensor:
    """The training batch's images: astronaut and its mirror image, (2, 3, 32, 32)."""
    photo = load_sample_photo("astronaut", 32)
    return torch.stack((photo, photo.flip(-1)))


def _train_one_step(model: ExternalInpainter) -> None:
    """One generator step and one discriminator step on `_photos32` with a rectangular hole."""
    hole = _rect_hole(32)[0]
    batch = [{"image": photo, "hole": hole} for photo in _photos32()]
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, DataLoader(batch, batch_size=2))
    assert trainer.global_step == 1


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def _unchanged(module: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(value, before[name]) for name, value in module.state_dict().items())


def _weights_unchanged(module: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    """The parameters (not the spectral-norm power-iteration vectors) equal `before`'s."""
    return all(torch.equal(p, before[name]) for name, p in module.named_parameters())


def test_config_stages_are_the_release_models_1_2_3() -> None:
    """The release trains models 1, 2, 3 (model 3 is the one its test.py runs); model 4 is an option."""
    stages = CONFIG["stages"]
    assert [stage.get("forward", {}) for stage in stages] == [
        {"inpaint": False}, {"edge_source": "canny"}, {"edge_source": "predicted_detached"}]
    assert set(stages[EDGE_MODEL]["losses"]) == EDGE_TERMS
    assert set(stages[INPAINT_MODEL]["losses"]) == set(stages[MODEL_3]["losses"]) == INPAINT_TERMS
    assert stages[MODEL_3]["losses"] == stages[INPAINT_MODEL]["losses"]
    assert not any("optimizer" in stage for stage in stages)  # the release's LR throughout
    assert "l1" not in CONFIG["losses"] and CONFIG["losses"]["l1_over_hole_ratio"] == 1.0


def test_joint_option_is_the_papers_fine_tuning() -> None:
    """backbone=edgeconnect_joint: models 1, 2, then both generators end to end without the edge
    discriminator, at the paper's learning rate 1e-6 (discriminator a tenth of it)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(CONFIGS.parent), version_base="1.3"):
        backbone = compose("train", overrides=["backbone=edgeconnect_joint"]).backbone
    stages = OmegaConf.to_container(backbone.stages)
    assert backbone.name == "edgeconnect" and stages[:2] == CONFIG["stages"][:2]
    assert stages[2]["forward"] == {"edge_source": "predicted"} and set(stages[2]["losses"]) == INPAINT_TERMS
    assert stages[2]["optimizer"] == {"lr": 1e-6, "d_lr": 1e-7}


def test_edge_model_stage_runs_only_the_edge_generator() -> None:
    """Release model 1: the edge model alone; the inpainting generator is not run and does not change."""
    model = _inpainter(_config_stage(EDGE_MODEL))
    calls = {"edge": 0, "inpaint": 0}
    for name in calls:
        getattr(model.generator, f"{name}_generator").register_forward_pre_hook(
            lambda m, args, name=name: calls.__setitem__(name, calls[name] + 1))
    edge, inpaint = model.generator.edge_generator, model.generator.inpaint_generator
    edge_before, inpaint_before = _snapshot(edge), _snapshot(inpaint)
    _train_one_step(model)
    assert calls == {"edge": 1, "inpaint": 0}
    assert _unchanged(inpaint, inpaint_before) and not _weights_unchanged(edge, edge_before)


@pytest.mark.parametrize("bottleneck", ["mono", "rgb"])
def test_inpainting_stage_leaves_the_edge_generator_untouched(bottleneck: str) -> None:
    """Release model 2: the inpainting model alone, on the full image's Canny edges."""
    model = _inpainter(_config_stage(INPAINT_MODEL), bottleneck)
    edge, inpaint = model.generator.edge_generator, model.generator.inpaint_generator
    edge_before, inpaint_before = _snapshot(edge), _snapshot(inpaint)
    _train_one_step(model)
    assert _unchanged(edge, edge_before)  # weights and spectral-norm vectors, bit for bit
    assert all(p.grad is None for p in edge.parameters())
    assert not _unchanged(inpaint, inpaint_before)


def test_model_3_stage_keeps_the_edge_generator_fixed() -> None:
    """Release model 3 (the default last stage): the inpainting model on the fixed edge model's
    predicted edges, detached."""
    model = _inpainter(_config_stage(MODEL_3))
    edge, inpaint = model.generator.edge_generator, model.generator.inpaint_generator
    seen = _capture_inputs(model.generator)
    edge_before, inpaint_before = _snapshot(edge), _snapshot(inpaint)
    _train_one_step(model)
    assert _weights_unchanged(edge, edge_before) and all(p.grad is None for p in edge.parameters())
    assert not _unchanged(inpaint, inpaint_before)
    known = 1.0 - _rect_hole(32)
    predicted = seen["inpaint"][:, -1:]
    assert torch.equal(predicted * known, image_edges(_photos32()) * known)  # known edges kept, prediction in the hole
    assert not predicted.requires_grad


def test_joint_stage_trains_the_edge_generator_on_full_image_edges() -> None:
    """The joint option: both generators, the inpainting losses reaching the edge model through its edges."""
    model = _inpainter(_config_stage(MODEL_3, JOINT_CONFIG))
    edge = model.generator.edge_generator
    seen = _capture_inputs(model.generator)
    before = _snapshot(edge)
    _train_one_step(model)
    assert not _weights_unchanged(edge, before)
    grads = [p.grad for p in edge.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    # Training feeds the masked Canny edges of the *full* image (release training), not test-mode ones.
    full = image_edges(_photos32())
    known = 1.0 - _rect_hole(32)
    assert torch.equal(seen["edge"][:, 1:2], full * known)
    assert torch.equal(seen["inpaint"][:, -1:] * known, full * known)


@pytest.mark.parametrize("index", [EDGE_MODEL, MODEL_3], ids=["edge-model", "model-3"])
def test_generator_terms_see_the_discriminator_before_its_step(index: int) -> None:
    """models.py process(): the generator's adversarial and feature-matching losses come from the
    discriminator's verdicts before backward() steps it."""
    model = _inpainter(_config_stage(index))
    view = "edges" if index == EDGE_MODEL else "output"
    discriminator = model.discriminators[view]
    before = {name: p.detach().clone() for name, p in discriminator.named_parameters()}
    generator_pass: list[bool] = []  # per call of the generator step (discriminator frozen): parameters as before?
    discriminator.register_forward_pre_hook(lambda m, args: generator_pass.append(
        _weights_unchanged(m, before)) if not next(m.parameters()).requires_grad else None)
    _train_one_step(model)
    assert generator_pass == [True, True]  # fake (with gradient) and real (features) verdicts
    assert not _weights_unchanged(discriminator, before)  # the discriminator did step


def test_inpainting_discriminator_sees_the_raw_output() -> None:
    """Release: the inpainting discriminator judges `outputs`, not the composite with the known pixels."""
    model = _inpainter({"steps": None, "losses": {"adv_output": 0.1}})
    generated: dict[str, torch.Tensor] = {}
    judged: list[torch.Tensor] = []
    model.generator.register_forward_hook(lambda m, args, out: generated.__setitem__("output", out["output"]))
    model.discriminators["output"].register_forward_pre_hook(lambda m, args: judged.append(args[0]))
    _train_one_step(model)
    raw, target, hole = generated["output"], rgb_to_mono(_photos32()), _rect_hole(32)
    fakes = [x for x in judged if not torch.equal(x, target)]
    assert len(judged) == 4 and len(fakes) == 2  # generator step (fake, real), discriminator step (real, fake)
    assert all(torch.equal(fake, raw) for fake in fakes)
    assert not torch.equal(raw, raw * hole + target * (1 - hole))  # the composite would differ


def test_stage_options_are_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="edge generator"):  # canny skips the edge model its terms need
        _inpainter(_config_stage(EDGE_MODEL, edge_source="canny"))
    with pytest.raises(ValueError, match="fixed"):  # model 3's edge model does not train
        _inpainter(_config_stage(EDGE_MODEL, edge_source="predicted_detached"))
    with pytest.raises(ValueError, match="inpainting generator"):
        _inpainter(_config_stage(MODEL_3, inpaint=False))
    with pytest.raises(ValueError, match="edge_source"):
        _inpainter(_config_stage(INPAINT_MODEL, edge_source="external"))
    with pytest.raises(ValueError, match="unknown EdgeConnect stage option"):
        _inpainter({"steps": None, "losses": {"l1_over_hole_ratio": 1.0}, "forward": {"sigma": 1.0}})
    with pytest.raises(ValueError, match="no stage forward options"):
        ExternalInpainter("gatedconv", "mono", generator={"cnum": 4},
                          stages=[{"steps": None, "losses": {"l1": 1.0}, "forward": {"edge_source": "canny"}}])
