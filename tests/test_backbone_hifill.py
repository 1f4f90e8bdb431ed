"""HiFill: size, registry interface, attention transfer and contextual residual aggregation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from eiip.external.backbones.hifill import (
    HiFill,
    LWGatedConv2d,
    attention_scores,
    attention_valid,
    contextual_residual_aggregation,
    transfer_attention,
)
from eiip.external.backbones.registry import backbone_names, bottleneck_spec, build_backbone
from helpers import count_parameters, generator_inputs




def _high_pass(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    return x - F.interpolate(F.avg_pool2d(x, factor), scale_factor=factor, mode="bilinear", align_corners=False)


def _one_hot_scores(grid: int, target: dict[tuple[int, int], tuple[int, int]]) -> torch.Tensor:
    """Scores (1, grid*grid, grid, grid): query (i, j) attends target.get((i, j), (i, j)) only."""
    scores = torch.zeros(1, grid * grid, grid, grid)
    for i in range(grid):
        for j in range(grid):
            ti, tj = target.get((i, j), (i, j))
            scores[0, ti * grid + tj, i, j] = 1.0
    return scores


def test_parameter_count_is_small() -> None:
    counts = {b: count_parameters(HiFill(bottleneck_spec(b))) for b in ("rgb", "mono")}
    release = count_parameters(HiFill(bottleneck_spec("rgb"), low_res=512, refine_gate="pw"))
    for bottleneck, count in counts.items():
        print(f"HiFill generator ({bottleneck}, working resolution 256): {count:,} parameters")
    print(f"HiFill generator (rgb, release layout: refine at 512, pointwise gates): {release:,} parameters")
    # the paper's light-weight model (~2.7 M quoted; not confirmed from the paper's text)
    for count in (*counts.values(), release):
        assert 2.0e6 < count < 3.5e6


def test_light_weight_gates() -> None:
    sc = LWGatedConv2d(32, 64, 3, gate="sc")
    assert sc.gate.out_channels == 1  # single-channel gate, broadcast over the 64 features
    full = LWGatedConv2d(32, 64, 3, gate="full")
    assert count_parameters(sc) < 0.55 * count_parameters(full)
    x = torch.randn(2, 32, 16, 16)
    y = sc(x)
    assert y.shape == (2, 64, 16, 16)
    # ELU(features) * sigmoid(gate): the gate is the same for every channel at a pixel
    expected = F.elu(sc.features(x)) * torch.sigmoid(sc.gate(x))
    assert torch.allclose(y, expected)
    model = HiFill(bottleneck_spec("rgb"))
    assert all(m.gate_type == "sc" for m in model.coarse.modules() if isinstance(m, LWGatedConv2d))


def test_registered_and_size_checks() -> None:
    assert "hifill" in backbone_names()
    model = build_backbone("hifill", "mono")
    assert isinstance(model, HiFill)
    assert model.working_size(512, 640) == (2, 256, 320)
    assert model.working_size(256, 256) == (1, 256, 256)
    with pytest.raises(ValueError):
        model.working_size(300, 300)
    with pytest.raises(ValueError):
        model(torch.rand(1, 3, 256, 256), torch.zeros(1, 1, 256, 256))


@pytest.mark.parametrize("bottleneck", ["rgb", "mono"])
def test_forward_backward_512_with_cra(bottleneck: str) -> None:
    torch.manual_seed(0)
    spec = bottleneck_spec(bottleneck)
    model = HiFill(spec)
    image, hole = generator_inputs(spec.image_channels, 512)
    out = model(image, hole)
    assert out["output"].shape == (1, spec.output_channels, 512, 512)
    assert out["coarse"].shape == (1, spec.output_channels, 512, 512)
    assert out["low_res"].shape == (1, spec.output_channels, 256, 256)
    for value in out.values():
        assert torch.isfinite(value).all() and value.min() >= 0.0 and value.max() <= 1.0
    known = 1.0 - hole
    assert torch.equal(out["output"] * known, image[:, -spec.output_channels:] * known)
    (out["output"] * hole).mean().backward()
    for first in (model.coarse.body[0], model.refine.encoder[0][0]):  # first layers of both nets
        for parameter in first.parameters():
            grad = parameter.grad
            assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    for parameter in model.parameters():
        assert parameter.grad is None or torch.isfinite(parameter.grad).all()


@pytest.mark.parametrize("bottleneck", ["rgb", "mono"])
def test_forward_backward_256_cra_is_identity(bottleneck: str) -> None:
    torch.manual_seed(0)
    spec = bottleneck_spec(bottleneck)
    model = HiFill(spec)
    image, hole = generator_inputs(spec.image_channels, 256, seed=1)
    out = model(image, hole, return_attention=True)
    assert out["output"].shape == out["low_res"].shape == out["coarse"].shape == (1, spec.output_channels, 256, 256)
    assert torch.equal(out["output"], out["low_res"])  # CRA is a no-op at the working resolution
    scores = out["attention"]
    assert scores.shape == (1, 32 * 32, 32, 32)
    assert torch.allclose(scores.sum(dim=1), torch.ones(1, 32, 32), atol=1e-4)
    valid = attention_valid(hole, (32, 32)).flatten()
    assert scores[0, valid < 0.5].abs().max() == 0  # nothing is taken from the hole
    loss = (out["output"] - 0.5).abs().mean() + (out["coarse"] - 0.5).abs().mean()
    loss.backward()
    for first in (model.coarse.body[0], model.refine.encoder[0][0]):
        grad = first.features.weight.grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_transfer_identity_and_shift_are_exact() -> None:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1, 5, 64, 64, generator=generator)
    identity = _one_hot_scores(32, {})
    assert torch.allclose(transfer_attention(features, identity), features, atol=1e-5)
    # every query cell with column < 24 copies the cell 8 columns right: a consistent 16-px shift
    shift = _one_hot_scores(32, {(i, j): (i, j + 8) for i in range(32) for j in range(24)})
    moved = transfer_attention(features, shift)
    assert torch.allclose(moved[..., 4:60, 4:44], features[..., 4:60, 20:60], atol=1e-5)
    # residual aggregation uses non-overlapping patches: exact everywhere
    moved = transfer_attention(features, shift, kernel_factor=1)
    assert torch.allclose(moved[..., :, :48], features[..., :, 16:64], atol=1e-5)


def test_attention_finds_the_identical_context_patch() -> None:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1, 8, 64, 64, generator=generator)  # a 64x64 bottleneck, 32x32 grid
    # grid cells (7..16, 7..16) are a copy of cells (7..16, 19..28): the hole's context equals
    # the background 12 cells to the right, patch for patch
    features[..., 14:34, 14:34] = features[..., 14:34, 38:58]
    hole = torch.zeros(1, 1, 256, 256)
    hole[..., 64:128, 64:128] = 1.0  # grid cells 8..15
    valid = attention_valid(hole, (32, 32))
    scores = attention_scores(features, valid)
    for i in range(8, 16):
        for j in range(8, 16):
            column = scores[0, :, i, j]
            assert column.argmax().item() == i * 32 + j + 12
            assert column.max() > 0.99
    aggregated = transfer_attention(features, scores)
    # inside the hole the aggregated features are the identical background patch's
    assert torch.allclose(aggregated[..., 18:30, 18:30], features[..., 18:30, 42:54], atol=1e-3)
    assert torch.allclose(aggregated[..., 18:30, 18:30], features[..., 18:30, 18:30], atol=1e-3)


def test_contextual_residual_aggregation_pastes_texture() -> None:
    size, low = 512, 256
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    truth = (0.5 + 0.25 * (1 - 2 * ((yy + xx) % 2))).float().view(1, 1, size, size)  # checkerboard
    hole = torch.zeros(1, 1, size, size)
    hole[..., 128:256, 128:256] = 1.0  # attention cells 8..15 (16-px cells at 512)
    image = truth * (1 - hole)
    smooth = torch.full((1, 1, low, low), 0.5)  # a perfect but blurry low-resolution prediction
    # hole cells attend the textured cells 12 columns to the right
    scores = _one_hot_scores(32, {(i, j): (i, j + 12) for i in range(8, 16) for j in range(8, 16)})
    result = contextual_residual_aggregation(image, hole, smooth, scores)
    known = 1 - hole
    assert torch.equal(result * known, image * known)
    inner = (..., slice(132, 252), slice(132, 252))
    blurry = F.interpolate(smooth, scale_factor=2, mode="bilinear", align_corners=False)
    assert _high_pass(blurry)[inner].pow(2).mean() < 1e-12
    assert _high_pass(result)[inner].pow(2).mean() > 0.05
    assert torch.allclose(result[..., 128:256, 128:256], truth[..., 128:256, 128:256], atol=1e-6)


def test_model_cra_adds_high_frequencies_in_the_hole() -> None:
    torch.manual_seed(0)
    spec = bottleneck_spec("mono")
    model = HiFill(spec)
    size = 512
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    checker = (0.5 + 0.25 * (1 - 2 * ((yy + xx) % 2))).float().view(1, 1, size, size)
    hole = torch.zeros(1, 1, size, size)
    hole[..., 160:320, 192:352] = 1.0
    image = checker.expand(1, 4, size, size) * (1 - hole)
    with torch.no_grad():
        out = model(image, hole)
    inner = (..., slice(176, 304), slice(208, 336))
    blurry = F.interpolate(out["low_res"], scale_factor=2, mode="bilinear", align_corners=False)
    assert _high_pass(out["output"])[inner].pow(2).mean() > 100 * _high_pass(blurry)[inner].pow(2).mean()
    assert _high_pass(out["output"])[inner].pow(2).mean() > 0.01
    assert torch.equal(out["output"] * (1 - hole), image[:, 3:] * (1 - hole))
