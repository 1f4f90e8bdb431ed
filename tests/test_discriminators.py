"""The published discriminators of every backbone (registered under the backbone's name)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from torch.nn.utils import parametrize

import eiip.external.backbones.discriminators  # noqa: F401  (registers the discriminators)
from eiip.external.backbones import build_discriminator
from eiip.external.backbones.discriminators import (
    EdgeConnectDiscriminator,
    GMCNNDiscriminator,
    HiFillDiscriminator,
    SNPatchGANDiscriminator,
    hole_bbox,
)

NAMES = ("gatedconv", "edgeconnect", "gmcnn", "hifill")
CHANNELS = {"mono": 1, "rgb": 3}


def _holes(batch: int, size: int = 256) -> torch.Tensor:
    hole = torch.zeros(batch, 1, size, size)
    hole[0, :, 100:150, 60:120] = 1  # interior
    if batch > 1:
        hole[1, :, 5:40, 220:250] = 1  # near the top-right corner: the crop gets clipped
    return hole


def _convs(module: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in module.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


@pytest.mark.parametrize("bottleneck", ["mono", "rgb"])
@pytest.mark.parametrize("name", NAMES)
def test_structure_shapes_and_gradients(name: str, bottleneck: str) -> None:
    torch.manual_seed(0)
    c = CHANNELS[bottleneck]
    d = build_discriminator(name, bottleneck)
    image = torch.rand(2, c, 256, 256, requires_grad=True)
    out = d(image, _holes(2))
    assert set(out) == {"logits", "features"}
    assert isinstance(out["logits"], list) and isinstance(out["features"], list)
    expected_logits = {
        "gatedconv": [(2, 256 * 4 * 4)],  # 6 stride-2 layers: 256 / 64 = 4, 256 channels, flattened
        "edgeconnect": [(2, 1, 30, 30)],  # 70x70 PatchGAN on 256x256
        "gmcnn": [(2, 1), (2, 1)],  # global, local
        "hifill": [(2, 1)],
    }[name]
    assert [tuple(t.shape) for t in out["logits"]] == expected_logits
    n_features = {"gatedconv": 6, "edgeconnect": 5, "gmcnn": 8, "hifill": 6}[name]
    assert len(out["features"]) == n_features
    for t in out["logits"] + out["features"]:
        assert torch.isfinite(t).all()
    first = _convs(d)[0]
    assert first.weight.shape[1] == c + (1 if name == "gatedconv" else 0)
    sum(t.mean() for t in out["logits"]).backward()
    assert image.grad is not None and torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0


def test_spectral_norm_where_published() -> None:
    for name, expected in (("gatedconv", 6), ("edgeconnect", 5), ("gmcnn", 10), ("hifill", 0)):
        layers = _convs(build_discriminator(name, "rgb"))
        normed = [m for m in layers if parametrize.is_parametrized(m, "weight")]
        assert len(normed) == expected, name
        if expected:
            assert len(normed) == len(layers), f"{name}: every layer is spectral-normalized"


def test_sn_patchgan_layout() -> None:
    d = SNPatchGANDiscriminator(3)
    convs = _convs(d)
    assert [m.weight.shape[0] for m in convs] == [64, 128, 256, 256, 256, 256]
    assert all(m.kernel_size == (5, 5) and m.stride == (2, 2) for m in convs)
    out = d(torch.rand(1, 3, 128, 128), torch.zeros(1, 1, 128, 128))
    assert [f.shape[-1] for f in out["features"]] == [64, 32, 16, 8, 4, 2]
    torch.testing.assert_close(out["logits"][0], out["features"][-1].flatten(1))
    # The mask is an input: changing only the hole changes the logits.
    image = torch.rand(1, 3, 64, 64)
    d.eval()
    a = d(image, torch.zeros(1, 1, 64, 64))["logits"][0]
    b = d(image, torch.ones(1, 1, 64, 64))["logits"][0]
    assert not torch.allclose(a, b)


def test_edgeconnect_layout_sigmoid_flag_and_edge_discriminator() -> None:
    torch.manual_seed(1)
    d = EdgeConnectDiscriminator(in_channels=3).eval()
    convs = _convs(d)
    assert [m.weight.shape[0] for m in convs] == [64, 128, 256, 512, 1]
    assert [m.stride for m in convs] == [(2, 2), (2, 2), (2, 2), (1, 1), (1, 1)]
    assert all(m.kernel_size == (4, 4) and m.bias is None for m in convs)  # no bias under SN (release)
    x = torch.rand(1, 3, 64, 64)
    out = d(x, None)
    torch.testing.assert_close(out["logits"][0], out["features"][-1])  # raw logits by default
    assert out["logits"][0].shape == (1, 1, 6, 6)
    probs = EdgeConnectDiscriminator(in_channels=3, use_sigmoid=True).eval()  # the release's nsgan net
    probs.load_state_dict(d.state_dict())
    torch.testing.assert_close(probs(x)["logits"][0], torch.sigmoid(out["features"][-1]))
    # The edge model's discriminator: registered, the release's [gray, edges] input for both bottlenecks.
    for bottleneck in ("mono", "rgb"):
        edge_d = build_discriminator("edgeconnect_edge", bottleneck)
        assert _convs(edge_d)[0].weight.shape[1] == 2
        assert edge_d(torch.rand(1, 2, 64, 64))["logits"][0].shape == (1, 1, 6, 6)
    edges_only = EdgeConnectDiscriminator(in_channels=1)
    assert len(edges_only(torch.rand(1, 1, 64, 64))["features"]) == 5
    assert _convs(build_discriminator("edgeconnect_edge", "mono", in_channels=1))[0].weight.shape[1] == 1
    with pytest.raises(ValueError, match="gray, edges"):
        build_discriminator("edgeconnect_edge", "mono")(torch.rand(1, 1, 64, 64))


def test_gmcnn_local_crop_contains_the_hole_bbox() -> None:
    d = GMCNNDiscriminator(3)
    assert d.local_size == (128, 128)
    holes = torch.zeros(4, 1, 256, 256)
    holes[0, :, 100:150, 60:120] = 1
    holes[1, :, 5:40, 220:250] = 1  # clipped at the top-right
    holes[2, :, 200:256, 0:10] = 1  # clipped at the bottom-left
    holes[3, :, 30:31, 40:41] = 1  # a single pixel
    holes[3, :, 140:141, 150:151] = 1  # ... and another: bbox spans both
    bbox = hole_bbox(holes)
    assert bbox[0].tolist() == [100, 60, 50, 60]
    assert bbox[3].tolist() == [30, 40, 111, 111]
    boxes = d.local_boxes(holes)
    for (t, l_, h, w), (bt, bl, bh, bw) in zip(boxes.tolist(), bbox.tolist()):
        assert (h, w) == (128, 128)
        assert 0 <= t and t + h <= 256 and 0 <= l_ and l_ + w <= 256
        assert t <= bt and bt + bh <= t + h and l_ <= bl and bl + bw <= l_ + w
    assert boxes[0].tolist() == [61, 26, 128, 128]  # centered: bbox center (125, 90)
    image = torch.rand(4, 3, 256, 256)
    crops = d.crop_local(image, holes)
    for i, (t, l_, h, w) in enumerate(boxes.tolist()):
        torch.testing.assert_close(crops[i], image[i, :, t:t + h, l_:l_ + w])
    # The local critic sees only the crop; the global one the whole image.
    d.eval()
    one = image[:1].clone()
    out_a = d(one, holes[:1])
    one[..., 250:, 250:] = 0.5  # outside the first crop
    out_b = d(one, holes[:1])
    torch.testing.assert_close(out_a["logits"][1], out_b["logits"][1])
    assert not torch.allclose(out_a["logits"][0], out_b["logits"][0])


def test_gmcnn_and_hifill_layout_and_size_check() -> None:
    gm = GMCNNDiscriminator(1)
    gm_convs = [m for m in _convs(gm.global_critic) if isinstance(m, torch.nn.Conv2d)]
    assert [m.weight.shape[0] for m in gm_convs] == [64, 128, 256, 256]
    assert gm.global_critic.linear.weight.shape == (1, 256 * 16 * 16)
    assert gm.local_critic.linear.weight.shape == (1, 256 * 8 * 8)
    hf = HiFillDiscriminator(3)
    hf_convs = [m for m in _convs(hf) if isinstance(m, torch.nn.Conv2d)]
    assert [m.weight.shape[0] for m in hf_convs] == [64, 128, 256, 256, 256, 256]
    assert hf.linear.weight.shape == (1, 256 * 4 * 4)
    assert HiFillDiscriminator(3, with_mask=True).convs[0].weight.shape[1] == 4
    with pytest.raises(ValueError, match="256x256"):
        gm(torch.rand(1, 1, 128, 128), torch.zeros(1, 1, 128, 128))
    with pytest.raises(ValueError, match="256x256"):
        hf(torch.rand(1, 3, 128, 128))
    small = HiFillDiscriminator(3, image_size=128)
    assert small(torch.rand(1, 3, 128, 128))["logits"][0].shape == (1, 1)


def test_unknown_discriminator_names_the_registered_ones() -> None:
    with pytest.raises(ValueError, match="gatedconv"):
        build_discriminator("nope", "rgb")


def test_gmcnn_local_critic_takes_the_whole_image_for_free_form_masks() -> None:
    """net.py initVariables: for free-form masks the release feeds its local critic the whole image
    (a head sized for img_shapes); GMCNN's config does so, its TensorFlow option crops."""
    with initialize_config_dir(str(Path(__file__).resolve().parents[1] / "conf"), version_base="1.3"):
        options = {b: compose("train", overrides=[f"backbone={b}"]).backbone.discriminators.output.options.local_input
                   for b in ("gmcnn", "gmcnn_tf")}
    assert options == {"gmcnn": "image", "gmcnn_tf": "crop"}
    torch.manual_seed(0)
    d = build_discriminator("gmcnn", "rgb", image_size=64, local_input="image")
    assert d.local_critic.linear.weight.shape == (1, 256 * 4 * 4)
    seen = []
    d.local_critic.register_forward_hook(lambda module, args, output: seen.append(args[0]))
    image, hole = torch.rand(2, 3, 64, 64), torch.zeros(2, 1, 64, 64)
    hole[..., 10:20, 30:40] = 1.0
    d(image, hole)
    torch.testing.assert_close(seen[0], 2.0 * image - 1.0)
    with pytest.raises(ValueError, match="local_input"):
        GMCNNDiscriminator(3, local_input="patch")
    with pytest.raises(ValueError, match="local_size"):
        GMCNNDiscriminator(3, local_input="image", local_size=64)
