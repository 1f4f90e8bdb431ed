"""In-project ImageNet feature stacks: torchvision parameter layout and offline loading."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from eiip.pretrained import (
    LPIPS_SLICE_ENDS,
    PRETRAINED_WEIGHTS,
    VGG19_LAYER_INDEX,
    PretrainedWeightsMismatch,
    PretrainedWeightsMissing,
    alexnet_features,
    build_features,
    imagenet_normalize,
    load_imagenet_features,
    squeezenet1_1_features,
    vgg16_features,
    vgg19_features,
    weights_path,
)


def _conv_layout(indices: list[int], channels: list[int], kernel: int = 3) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    in_channels = 3
    for index, out_channels in zip(indices, channels, strict=True):
        shapes[f"features.{index}.weight"] = (out_channels, in_channels, kernel, kernel)
        shapes[f"features.{index}.bias"] = (out_channels,)
        in_channels = out_channels
    return shapes


# torchvision's VGG "D" / "E" conv positions inside `features` (ReLU after each, 5 max-pools).
VGG16_LAYOUT = _conv_layout([0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
                            [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512])
VGG19_LAYOUT = _conv_layout([0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34],
                            [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512])
ALEXNET_LAYOUT = {
    "features.0.weight": (64, 3, 11, 11), "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5), "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3), "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3), "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3), "features.10.bias": (256,),
}


def _squeezenet_layout() -> dict[str, tuple[int, ...]]:
    shapes = {"features.0.weight": (64, 3, 3, 3), "features.0.bias": (64,)}
    fires = {3: (64, 16, 64), 4: (128, 16, 64), 6: (128, 32, 128), 7: (256, 32, 128),
             9: (256, 48, 192), 10: (384, 48, 192), 11: (384, 64, 256), 12: (512, 64, 256)}
    for index, (inplanes, squeeze, expand) in fires.items():
        shapes[f"features.{index}.squeeze.weight"] = (squeeze, inplanes, 1, 1)
        shapes[f"features.{index}.squeeze.bias"] = (squeeze,)
        shapes[f"features.{index}.expand1x1.weight"] = (expand, squeeze, 1, 1)
        shapes[f"features.{index}.expand1x1.bias"] = (expand,)
        shapes[f"features.{index}.expand3x3.weight"] = (expand, squeeze, 3, 3)
        shapes[f"features.{index}.expand3x3.bias"] = (expand,)
    return shapes


@pytest.mark.parametrize(("builder", "layout", "length"), [
    (vgg16_features, VGG16_LAYOUT, 31),
    (vgg19_features, VGG19_LAYOUT, 37),
    (alexnet_features, ALEXNET_LAYOUT, 13),
    (squeezenet1_1_features, _squeezenet_layout(), 13),
])
def test_state_dict_matches_torchvision_layout(builder, layout, length) -> None:
    model = builder()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == layout
    assert len(model.features) == length


def test_spot_shapes_and_parameter_counts() -> None:
    assert VGG16_LAYOUT["features.0.weight"] == (64, 3, 3, 3)
    assert VGG16_LAYOUT["features.28.weight"] == (512, 512, 3, 3)
    assert _squeezenet_layout()["features.3.squeeze.weight"] == (16, 64, 1, 1)
    # torchvision totals minus the classifiers: vgg16 138,357,544 - 123,642,856; squeezenet1_1 1,235,496 - 513,000
    counts = {name: sum(p.numel() for p in build_features(name).parameters()) for name in PRETRAINED_WEIGHTS}
    assert counts == {"vgg16": 14_714_688, "vgg19": 20_024_384, "alexnet": 2_469_696, "squeezenet1_1": 722_496}


def test_forward_shapes_and_lpips_taps() -> None:
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert vgg16_features()(x).shape == (1, 512, 2, 2)
        assert alexnet_features()(x).shape == (1, 256, 1, 1)
        assert squeezenet1_1_features()(x).shape == (1, 512, 3, 3)
        channels = {name: [t.shape[1] for t in build_features(name).taps(x, ends)]
                    for name, ends in LPIPS_SLICE_ENDS.items()}
    assert channels == {"alexnet": [64, 192, 384, 256, 256], "vgg16": [64, 128, 256, 512, 512],
                        "squeezenet1_1": [64, 128, 256, 384, 384, 512, 512]}


def test_vgg19_named_taps() -> None:
    assert {n: VGG19_LAYER_INDEX[n] for n in ("relu1_1", "relu2_2", "relu3_2", "relu4_2", "relu5_1", "relu5_2")} == {
        "relu1_1": 1, "relu2_2": 8, "relu3_2": 13, "relu4_2": 22, "relu5_1": 29, "relu5_2": 31}
    model = vgg19_features()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        taps = model.named_taps(x, ["relu1_1", "relu3_2"])
        conv0 = model.features[0]
        torch.testing.assert_close(taps["relu1_1"], F.relu(F.conv2d(x, conv0.weight, conv0.bias, padding=1)))
        assert taps["relu3_2"].shape == (1, 256, 8, 8)


@pytest.fixture()
def hub_dir(tmp_path, monkeypatch):
    """An empty torch.hub cache under tmp_path."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    assert torch.hub.get_dir() == str(tmp_path / "hub")
    return tmp_path / "hub"


def test_weights_table() -> None:
    assert PRETRAINED_WEIGHTS == {
        "vgg16": ("https://download.pytorch.org/models/vgg16-397923af.pth", "vgg16-397923af.pth"),
        "vgg19": ("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "vgg19-dcbb9e9d.pth"),
        "alexnet": ("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "alexnet-owt-7be5be79.pth"),
        "squeezenet1_1": ("https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
                          "squeezenet1_1-b8a52dc0.pth"),
    }


def test_missing_file_error_names_file_url_and_cache_path(hub_dir) -> None:
    expected = hub_dir / "checkpoints" / "vgg19-dcbb9e9d.pth"
    assert weights_path("vgg19") == expected
    with pytest.raises(PretrainedWeightsMissing) as info:
        load_imagenet_features("vgg19")
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    for fragment in ("vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
                     str(expected), "EIIP_OFFLINE is set, so nothing is downloaded"):
        assert fragment in message
    assert not expected.exists()  # nothing was fetched


@pytest.mark.parametrize("name", ["alexnet", "squeezenet1_1"])
def test_fake_checkpoint_loads(hub_dir, name) -> None:
    torch.manual_seed(0)
    state = {k: torch.randn_like(v) for k, v in build_features(name).state_dict().items()}
    state["classifier.1.weight"] = torch.randn(10, 4)  # ignored: only features.* are kept
    path = hub_dir / "checkpoints" / PRETRAINED_WEIGHTS[name][1]
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    model = load_imagenet_features(name)
    assert not model.training
    assert all(not p.requires_grad for p in model.parameters())
    loaded = model.state_dict()
    assert set(loaded) == set(state) - {"classifier.1.weight"}
    for key, value in loaded.items():
        assert torch.equal(value, state[key]), key


def test_mismatching_checkpoint_is_a_clear_error(hub_dir) -> None:
    state = squeezenet1_1_features().state_dict()
    state["features.3.squeeze.weight"] = torch.zeros(8, 64, 1, 1)
    del state["features.12.expand3x3.bias"]
    path = hub_dir / "checkpoints" / "squeezenet1_1-b8a52dc0.pth"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    with pytest.raises(PretrainedWeightsMismatch, match=r"features\.12\.expand3x3\.bias") as info:
        load_imagenet_features("squeezenet1_1")
    assert "features.3.squeeze.weight" in str(info.value) and str(path) in str(info.value)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedWeightsMismatch, match="could not read"):
        load_imagenet_features("squeezenet1_1")


def test_imagenet_normalize() -> None:
    x = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1).expand(2, 3, 4, 4) + 0.229
    out = imagenet_normalize(x)
    torch.testing.assert_close(out[:, 0], torch.ones(2, 4, 4))
    torch.testing.assert_close(out[:, 1], torch.full((2, 4, 4), 0.229 / 0.224))
