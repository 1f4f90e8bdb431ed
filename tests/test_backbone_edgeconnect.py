"""EdgeConnect backbone: generator sizes, forward/backward, edge composition, Canny edges."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.feature import canny
from torch import nn

from eiip.backbones.edgeconnect import (
    EdgeConnect,
    EdgeGenerator,
    InpaintGenerator,
    convert_release_state_dict,
)
from eiip.backbones.registry import backbone_names, build_backbone
from eiip.color import rgb_to_mono
from eiip.data.samples import load_sample_photo
from eiip.edges import canny_edges, gray_for_edges, image_edges
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
    # composed edge map, i.e. the two generators are trained jointly unless detach_edges is set.
    out["output"].mean().backward()
    first_edge = model.edge_generator.encoder[1].parametrizations.weight.original
    first_inpaint = model.inpaint_generator.encoder[1].weight
    for weight in (first_edge, first_inpaint):
        assert weight.grad is not None
        assert torch.isfinite(weight.grad).all()
        assert weight.grad.abs().sum() > 0


def test_detach_edges_stops_gradient() -> None:
    torch.manual_seed(0)
    model = build_backbone("edgeconnect", "mono", residual_blocks=1, detach_edges=True)
    hole = _rect_hole(32)
    image = torch.rand(1, 4, 32, 32) * (1 - hole)
    model(image, hole)["output"].mean().backward()
    assert model.edge_generator.encoder[1].parametrizations.weight.original.grad is None
    assert model.inpaint_generator.encoder[1].weight.grad is not None


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
