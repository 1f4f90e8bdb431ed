"""In-project LPIPS against an independent functional re-computation of the v0.1 formula."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchmetrics

from eiip.data.samples import load_sample_photo
from eiip.metrics import LPIPS, reduce_distance_maps
from eiip.pretrained import PretrainedWeightsMissing

State = dict[str, torch.Tensor]
LINEAR_DIR = Path(torchmetrics.__file__).parent / "functional" / "image" / "lpips_models"


# ---------------------------------------------------------------- independent reference (float64)


def _conv(state: State, prefix: str, x: torch.Tensor, **kwargs: int) -> torch.Tensor:
    weight, bias = state[f"{prefix}.weight"].double(), state[f"{prefix}.bias"].double()
    return F.relu(F.conv2d(x, weight, bias, **kwargs))


def _alex_taps(state: State, x: torch.Tensor) -> list[torch.Tensor]:
    relu1 = _conv(state, "features.0", x, stride=4, padding=2)
    relu2 = _conv(state, "features.3", F.max_pool2d(relu1, 3, 2), padding=2)
    relu3 = _conv(state, "features.6", F.max_pool2d(relu2, 3, 2), padding=1)
    relu4 = _conv(state, "features.8", relu3, padding=1)
    return [relu1, relu2, relu3, relu4, _conv(state, "features.10", relu4, padding=1)]


def _fire(state: State, index: int, x: torch.Tensor) -> torch.Tensor:
    squeezed = _conv(state, f"features.{index}.squeeze", x)
    return torch.cat([_conv(state, f"features.{index}.expand1x1", squeezed),
                      _conv(state, f"features.{index}.expand3x3", squeezed, padding=1)], dim=1)


def _squeeze_taps(state: State, x: torch.Tensor) -> list[torch.Tensor]:
    def pool(t: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(t, 3, 2, ceil_mode=True)

    taps = [_conv(state, "features.0", x, stride=2)]
    taps.append(_fire(state, 4, _fire(state, 3, pool(taps[-1]))))
    taps.append(_fire(state, 7, _fire(state, 6, pool(taps[-1]))))
    taps.append(_fire(state, 9, pool(taps[-1])))
    for index in (10, 11, 12):
        taps.append(_fire(state, index, taps[-1]))
    return taps


def _vgg16_taps(state: State, x: torch.Tensor) -> list[torch.Tensor]:
    # (conv indices of the block, whether a 2x2 max-pool precedes it); taps at relu1_2 ... relu5_3
    blocks = [((0, 2), False), ((5, 7), True), ((10, 12, 14), True), ((17, 19, 21), True), ((24, 26, 28), True)]
    taps = []
    for convs, pooled in blocks:
        x = F.max_pool2d(x, 2, 2) if pooled else x
        for index in convs:
            x = _conv(state, f"features.{index}", x, padding=1)
        taps.append(x)
    return taps


REFERENCE_TAPS: dict[str, Callable[[State, torch.Tensor], list[torch.Tensor]]] = {
    "alex": _alex_taps, "squeeze": _squeeze_taps, "vgg": _vgg16_taps,
}


def reference_maps(net: str, state: State, x0: torch.Tensor, x1: torch.Tensor) -> list[np.ndarray]:
    """Per-layer LPIPS v0.1 distance maps (B, 1, h, w) computed in float64 NumPy from the raw weights."""
    shift = np.array([-0.030, -0.088, -0.188]).reshape(1, 3, 1, 1)
    scale = np.array([0.458, 0.448, 0.450]).reshape(1, 3, 1, 1)
    linear = torch.load(LINEAR_DIR / f"{net}.pth", map_location="cpu", weights_only=True)

    def features(x: torch.Tensor) -> list[np.ndarray]:
        scaled = (x.double().numpy() * 2.0 - 1.0 - shift) / scale
        return [t.numpy() for t in REFERENCE_TAPS[net](state, torch.from_numpy(scaled))]

    maps = []
    for layer, (f0, f1) in enumerate(zip(features(x0), features(x1), strict=True)):
        n0 = f0 / (np.sqrt((f0 ** 2).sum(axis=1, keepdims=True)) + 1e-10)
        n1 = f1 / (np.sqrt((f1 ** 2).sum(axis=1, keepdims=True)) + 1e-10)
        weight = linear[f"lin{layer}.model.1.weight"].double().numpy().reshape(-1)
        maps.append(np.einsum("bchw,c->bhw", (n0 - n1) ** 2, weight)[:, None])
    return maps


# ---------------------------------------------------------------- fixtures


def _blur(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), 5, stride=1)


@pytest.fixture(scope="module")
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    """Targets (astronaut, chelsea) at 64x64 and distorted versions (light noise, blur)."""
    target = torch.stack([load_sample_photo("astronaut", 64), load_sample_photo("chelsea", 64)])
    noise = 0.03 * torch.randn(target.shape, generator=torch.Generator().manual_seed(0))
    output = torch.stack([(target[0] + noise[0]).clamp(0, 1), _blur(target[1:])[0]])
    return output, target


def random_lpips(net: str, seed: int = 0) -> LPIPS:
    torch.manual_seed(seed)
    return LPIPS(net, pretrained=False)


@pytest.fixture(scope="module")
def alex() -> LPIPS:
    return random_lpips("alex")


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize(("net", "size"), [("alex", 64), ("squeeze", 64), ("vgg", 16)])
def test_matches_independent_reference(pair, net: str, size: int) -> None:
    output, target = (F.interpolate(x, size=size, mode="area") for x in pair)
    model = random_lpips(net, seed=1)
    expected_maps = reference_maps(net, model.backbone.state_dict(), output, target)
    maps = model.distance_maps(output, target)
    assert [tuple(m.shape) for m in maps] == [m.shape for m in expected_maps]
    for got, expected in zip(maps, expected_maps, strict=True):
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-7)
    expected = sum(m.mean(axis=(1, 2, 3)) for m in expected_maps)
    assert np.all(expected > 1e-4)  # a meaningful comparison, not 0 == 0
    np.testing.assert_allclose(model(output, target).numpy(), expected, rtol=1e-5)


def test_linear_layers_come_from_torchmetrics(alex) -> None:
    stored = torch.load(LINEAR_DIR / "alex.pth", map_location="cpu", weights_only=True)
    assert len(alex.lins) == len(stored) == 5
    for index, layer in enumerate(alex.lins):
        assert torch.equal(layer.weight, stored[f"lin{index}.model.1.weight"])
        assert layer.bias is None and bool((layer.weight >= 0).all())
    assert len(random_lpips("squeeze").lins) == 7


def test_identity_and_symmetry(alex, pair) -> None:
    output, target = pair
    assert torch.equal(alex(target, target), torch.zeros(2))
    torch.testing.assert_close(alex(output, target), alex(target, output), rtol=1e-6, atol=0)
    assert bool((alex(output, target) > 0).all())


def test_region_average_of_upsampled_maps(alex, pair) -> None:
    output, target = pair
    region = torch.zeros(2, 1, 64, 64, dtype=torch.bool)
    region[0, :, 10:30, 5:50] = True
    region[1, :, 40:60, 20:44] = True
    expected_maps = reference_maps("alex", alex.backbone.state_dict(), output, target)
    upsampled = sum(F.interpolate(torch.from_numpy(m), size=(64, 64), mode="bilinear", align_corners=False)
                    for m in expected_maps).numpy()
    expected = [upsampled[i, 0][region[i, 0].numpy()].mean() for i in range(2)]
    np.testing.assert_allclose(alex(output, target, region=region).numpy(), expected, rtol=1e-4)
    # a float mask counts the same pixels; a shared (1, H, W) region broadcasts over the batch
    torch.testing.assert_close(alex(output, target, region=region.float()), alex(output, target, region=region))
    shared = alex(output, target, region=region[0])
    torch.testing.assert_close(shared[0], alex(output, target, region=region)[0])
    # the whole image as the region: the mean of the upsampled map
    everything = torch.ones(1, 64, 64, dtype=torch.bool)
    np.testing.assert_allclose(alex(output, target, region=everything).numpy(), upsampled.mean(axis=(1, 2, 3)),
                               rtol=1e-4)


def test_region_everything_equals_no_region_for_integer_scales(pair) -> None:
    # VGG's maps are 32x32 ... 2x2 for a 32x32 image: bilinear upsampling by integer factors keeps the mean.
    output, target = (F.interpolate(x, size=32, mode="area") for x in pair)
    model = random_lpips("vgg")
    maps = model.distance_maps(output, target)
    torch.testing.assert_close(reduce_distance_maps(maps, torch.ones(1, 32, 32)), reduce_distance_maps(maps),
                               rtol=1e-5, atol=0)


def test_frozen_eval_no_grad(alex, pair) -> None:
    output, target = pair
    assert not alex.training and all(not p.requires_grad for p in alex.parameters())
    value = alex(output.clone().requires_grad_(True), target)
    assert not value.requires_grad and value.shape == (2,)


def test_bad_inputs_fail_clearly(alex, pair) -> None:
    output, target = pair
    with pytest.raises(ValueError, match="unknown LPIPS network 'resnet'"):
        LPIPS("resnet", pretrained=False)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        alex(output[:, :1], target[:, :1])
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        alex(output[0], target[0])
    with pytest.raises(ValueError, match="differ in shape"):
        alex(output, target[:1])
    with pytest.raises(ValueError, match="at least 31x31"):
        alex(output[..., :24, :24], target[..., :24, :24])
    with pytest.raises(ValueError, match="does not match"):
        alex(output, target, region=torch.ones(1, 32, 32))
    with pytest.raises(ValueError, match="region must be"):
        alex(output, target, region=torch.ones(3, 1, 64, 64))
    empty = torch.ones(2, 1, 64, 64)
    empty[1] = 0
    with pytest.raises(ValueError, match="region is empty"):
        alex(output, target, region=empty)


def test_missing_backbone_is_a_one_line_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    with pytest.raises(PretrainedWeightsMissing) as info:
        LPIPS("alex")
    message = str(info.value)
    assert "\n" not in message
    for fragment in ("alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                     str(tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth")):
        assert fragment in message
