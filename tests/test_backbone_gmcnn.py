"""GMCNN generator: published size, registry interface, gradients through every column."""

from __future__ import annotations

import pytest
import torch

from eiip.external.backbones.gmcnn import GMCNN, build_gmcnn
from eiip.external.backbones.registry import backbone_names, bottleneck_spec, build_backbone
from helpers import count_parameters, generator_inputs

PUBLISHED_PARAMS = 12.6e6  # GMCNN paper / DESIGN.md




@pytest.mark.parametrize("bottleneck", ["rgb", "mono"])
def test_parameter_count_matches_the_paper(bottleneck: str) -> None:
    model = GMCNN(bottleneck_spec(bottleneck))
    count = count_parameters(model)
    print(f"GMCNN generator ({bottleneck}): {count:,} parameters")
    assert abs(count - PUBLISHED_PARAMS) / PUBLISHED_PARAMS < 0.15
    # three columns with the published kernels and widths 32/64/128, decoded from 7 * 32 channels
    assert [column[0].conv.kernel_size for column in model.columns] == [(7, 7), (5, 5), (3, 3)]
    assert [column[0].conv.in_channels for column in model.columns] == [bottleneck_spec(bottleneck).image_channels + 1] * 3
    assert [column[3].conv.out_channels for column in model.columns] == [128] * 3
    assert [column[i].conv.dilation for column in model.columns[:1] for i in range(6, 10)] == [(2, 2), (4, 4), (8, 8), (16, 16)]
    assert model.decoder[0].conv.in_channels == 224


def test_registered() -> None:
    assert "gmcnn" in backbone_names()
    assert isinstance(build_backbone("gmcnn", "rgb"), GMCNN)
    assert build_gmcnn(bottleneck_spec("mono"), cnum=8).cnum == 8


@pytest.mark.parametrize("bottleneck", ["rgb", "mono"])
def test_forward_backward_256(bottleneck: str) -> None:
    torch.manual_seed(0)
    spec = bottleneck_spec(bottleneck)
    model = GMCNN(spec)
    image, hole = generator_inputs(spec.image_channels, 256)
    out = model(image, hole)
    assert set(out) == {"output"}
    y = out["output"]
    assert y.shape == (1, spec.output_channels, 256, 256)
    assert torch.isfinite(y).all() and y.min() >= 0.0 and y.max() <= 1.0
    assert y.std() > 1e-4  # not a constant image
    (y * hole).mean().backward()
    for column in model.columns:
        grad = column[0].conv.weight.grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    for parameter in model.parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all()


def test_input_range_mapping_and_odd_sizes() -> None:
    torch.manual_seed(0)
    spec = bottleneck_spec("rgb")
    model = GMCNN(spec, cnum=4)
    image, hole = generator_inputs(3, 66)
    # the hole content is ignored (zeroed after mapping to [-1, 1], as the release's input)
    noisy = image + hole * torch.rand_like(image)
    with torch.no_grad():
        a = model(image, hole)["output"]
        b = model(noisy, hole)["output"]
        c = model(torch.rand(1, 3, 62, 70), torch.zeros(1, 1, 62, 70))["output"]
    assert torch.equal(a, b)
    assert a.shape == (1, 3, 66, 66) and c.shape == (1, 3, 62, 70)
    with pytest.raises(ValueError):
        model(torch.rand(1, 4, 64, 64), torch.zeros(1, 1, 64, 64))
