"""DeepFill v2 / GatedConv generator and its building blocks (gated conv, contextual attention)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import eiip.external.backbones.gatedconv  # noqa: F401  (registers "gatedconv")
from eiip.external.backbones import build_backbone
from eiip.external.backbones.layers import (
    ContextualAttention,
    GatedConv2d,
    GatedDeconv2d,
    downsample_mask,
    same_padding,
)
from helpers import count_parameters

PUBLISHED_PARAMS = 4.1e6


def _release_param_count(image_channels: int, output_channels: int, cnum: int = 48) -> int:
    """Parameters of the release's `build_inpaint_net`, from its layer table: each
    gen_conv(x, n, k) is one k x k conv with n filters (+ n biases) whose input has half the
    previous gen_conv's n channels (the gate halves them); the output conv has no gate."""
    c, c2, c4 = cnum, 2 * cnum, 4 * cnum

    def stack(in_ch: int, layers: list[tuple[int, int]]) -> tuple[int, int]:
        total = 0
        for n, k in layers:
            total += in_ch * k * k * n + n
            in_ch = n // 2
        return total, in_ch

    decoder = [(c4, 3), (c4, 3), (c2, 3), (c2, 3), (c, 3), (c // 2, 3)]
    coarse, ch = stack(image_channels + 2, [(c, 5), (c2, 3), (c2, 3), (c4, 3), (c4, 3), (c4, 3)]
                       + [(c4, 3)] * 4 + decoder)
    coarse += ch * 9 * output_channels + output_channels
    xconv, _ = stack(output_channels, [(c, 5), (c, 3), (c2, 3), (c2, 3), (c4, 3), (c4, 3)] + [(c4, 3)] * 4)
    pm_enc, ch = stack(output_channels, [(c, 5), (c, 3), (c2, 3), (c4, 3), (c4, 3), (c4, 3)])
    pm_dec, _ = stack(ch, [(c4, 3), (c4, 3)])
    merge, ch = stack(c4, decoder)
    merge += ch * 9 * output_channels + output_channels
    return coarse + xconv + pm_enc + pm_dec + merge



def test_parameter_count_matches_published_and_release_table() -> None:
    rgb = build_backbone("gatedconv", "rgb")
    mono = build_backbone("gatedconv", "mono")
    n_rgb, n_mono = count_parameters(rgb), count_parameters(mono)
    print(f"gatedconv params: rgb {n_rgb:,} ({n_rgb / 1e6:.3f} M), mono {n_mono:,} ({n_mono / 1e6:.3f} M)")
    assert abs(n_rgb - PUBLISHED_PARAMS) / PUBLISHED_PARAMS < 0.15
    assert n_rgb == _release_param_count(3, 3) == 4_052_478
    assert n_mono == _release_param_count(4, 1)


def _hole(size: int) -> torch.Tensor:
    hole = torch.zeros(1, 1, size, size)
    hole[..., size // 3: size // 3 + size // 4, size // 4: size // 4 + size // 3] = 1.0
    hole[..., 10:14, 20: size - 20] = 1.0  # a thin stroke too
    return hole


@pytest.mark.parametrize(("bottleneck", "in_ch", "out_ch"), [("rgb", 3, 3), ("mono", 4, 1)])
def test_forward_backward_256(bottleneck: str, in_ch: int, out_ch: int) -> None:
    torch.manual_seed(0)
    net = build_backbone("gatedconv", bottleneck)
    hole = _hole(256)
    image = torch.rand(1, in_ch, 256, 256) * (1 - hole)
    out = net(image, hole)
    assert set(out) == {"output", "coarse"}
    for key in ("output", "coarse"):
        assert out[key].shape == (1, out_ch, 256, 256)
        assert torch.isfinite(out[key]).all()
        assert out[key].min() >= 0.0 and out[key].max() <= 1.0
    (out["output"].mean() + out["coarse"].mean()).backward()
    for first in (net.coarse[0].conv.weight, net.refine_conv[0].conv.weight,
                  net.refine_attention_encoder[0].conv.weight):
        assert first.grad is not None and torch.isfinite(first.grad).all() and first.grad.abs().sum() > 0
    assert net.coarse[0].conv.weight.shape[1] == in_ch + 2  # [image, ones, mask]


def test_hole_content_is_ignored_and_odd_sizes_work() -> None:
    torch.manual_seed(1)
    net = build_backbone("gatedconv", "rgb", cnum=8).eval()  # small width: fast
    hole = torch.zeros(1, 1, 60, 52)
    hole[..., 20:40, 10:30] = 1
    image = torch.rand(1, 3, 60, 52)
    with torch.no_grad():
        a = net(image * (1 - hole), hole)
        b = net(image, hole)  # garbage in the hole: the generator zeroes it itself
    assert a["output"].shape == (1, 3, 60, 52)
    torch.testing.assert_close(a["output"], b["output"])
    torch.testing.assert_close(a["coarse"], b["coarse"])


def test_gated_conv_is_elu_features_times_sigmoid_gate() -> None:
    torch.manual_seed(2)
    layer = GatedConv2d(3, 2, kernel_size=1)
    assert layer.conv.weight.shape == (4, 3, 1, 1)  # one conv, 2x channels (release)
    x = torch.randn(2, 3, 5, 7)
    with torch.no_grad():
        torch.nn.init.normal_(layer.conv.bias)  # the release's zero init would hide the bias path
        w = layer.conv.weight[:, :, 0, 0].clone()
        bias = layer.conv.bias.clone()
        raw = torch.einsum("oc,bchw->bohw", w, x) + bias[None, :, None, None]
    feat, gate = raw[:, :2], raw[:, 2:]
    elu = torch.where(feat > 0, feat, torch.exp(feat) - 1)
    expected = elu * (1 / (1 + torch.exp(-gate)))
    torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-6)

    plain = GatedConv2d(3, 2, kernel_size=1, activation=None)  # the release's output layer
    assert plain.conv.weight.shape == (2, 3, 1, 1)
    torch.testing.assert_close(plain(x), F.conv2d(x, plain.conv.weight, plain.conv.bias))
    relu = GatedConv2d(3, 2, kernel_size=1, activation="relu")
    r = relu.conv(x)
    torch.testing.assert_close(relu(x), torch.relu(r[:, :2]) * torch.sigmoid(r[:, 2:]))


def test_tf_same_padding_and_deconv_shapes() -> None:
    assert same_padding(256, 3, 2) == (0, 1)  # TF puts the odd pixel after
    assert same_padding(256, 5, 2) == (1, 2)
    assert same_padding(64, 3, 1, dilation=16) == (16, 16)
    x = torch.randn(1, 4, 10, 12)
    assert GatedConv2d(4, 6, 3, stride=2)(x).shape == (1, 6, 5, 6)
    assert GatedDeconv2d(4, 5)(x).shape == (1, 5, 20, 24)


def _translated_copy_case() -> tuple[torch.Tensor, torch.Tensor, int]:
    """Features X (1, 4, 48, 48) whose hole [24, 44)^2 is an exact copy of X shifted by 20 px."""
    torch.manual_seed(3)
    x = torch.randn(1, 4, 48, 48)
    shift = 20
    x[..., 24:44, 24:44] = x[..., 24 - shift:44 - shift, 24 - shift:44 - shift]
    hole = torch.zeros(1, 1, 48, 48)
    hole[..., 24:44, 24:44] = 1
    return x, hole, shift


@pytest.mark.parametrize("fuse", [False, True])
def test_contextual_attention_copies_the_matching_background_patch(fuse: bool) -> None:
    x, hole, shift = _translated_copy_case()
    ca = ContextualAttention(ksize=3, rate=2, fuse_k=3, softmax_scale=10.0, fuse=fuse)
    y, attn = ca(x, x, hole, return_attention=True)
    assert y.shape == x.shape and attn.shape == (1, 24 * 24, 24, 24)
    # Downsampled grid (rate 2): hole rows/cols [12, 22); for foreground positions p in [14, 20)
    # every patch involved equals the background patch at p - 10, which lies outside the hole.
    ds = shift // 2
    for py in range(14, 20):
        for px in range(14, 20):
            source = (py - ds) * 24 + (px - ds)
            assert attn[0, source, py, px] > 0.999
    # Full-resolution pixels [30, 38) are pasted only from those positions: an exact copy.
    torch.testing.assert_close(y[..., 30:38, 30:38], x[..., 30 - shift:38 - shift, 30 - shift:38 - shift],
                               rtol=1e-3, atol=1e-3)


def test_contextual_attention_excludes_patches_touching_the_hole() -> None:
    x, hole, _ = _translated_copy_case()
    ca = ContextualAttention(fuse=False)
    _, attn = ca(x, x, hole, return_attention=True)
    # A background patch (3x3 on the 24x24 grid) touches the hole [12, 22)^2 iff its center is in [11, 23)^2.
    grid = torch.arange(24)
    near = (grid >= 11) & (grid < 23)
    touching = (near[:, None] & near[None, :]).flatten()
    assert touching.sum() == 144
    assert torch.all(attn[0, touching] == 0)  # exactly excluded
    torch.testing.assert_close(attn.sum(dim=1), torch.ones(1, 24, 24))  # a distribution over the rest
    # Without the mask, the hole's own (identical) patch ties with the source: weight ~1/2 each.
    _, free = ca(x, x, None, return_attention=True)
    own = 17 * 24 + 17
    assert 0.4 < free[0, own, 17, 17] < 0.6
    assert 0.4 < free[0, (17 - 10) * 24 + (17 - 10), 17, 17] < 0.6


def test_contextual_attention_is_per_sample() -> None:
    x, hole, _ = _translated_copy_case()
    other = torch.randn(1, 4, 48, 48)
    batch = torch.cat([x, other])
    holes = torch.cat([hole, torch.zeros_like(hole)])
    ca = ContextualAttention()
    y = ca(batch, batch, holes)
    torch.testing.assert_close(y[:1], ca(x, x, hole))
    torch.testing.assert_close(y[1:], ca(other, other, torch.zeros_like(hole)))


def _attended_block_columns(attention_mask: str) -> set[int]:
    """Columns of the attention's 8x8 blocks (32x32 image) that background patches with nonzero
    attention weight come from, with a 3 px wide hole (image columns 9-11, block column 1)."""
    torch.manual_seed(0)
    net = build_backbone("gatedconv", "rgb", cnum=8, attention_mask=attention_mask).eval()
    seen: dict[str, tuple] = {}
    net.contextual_attention.register_forward_hook(lambda _, args, __: seen.update(args=args))
    hole = torch.zeros(1, 1, 32, 32)
    hole[..., 9:12] = 1.0
    with torch.no_grad():
        net(torch.rand(1, 3, 32, 32) * (1 - hole), hole)
        _, attn = net.contextual_attention(*seen["args"], return_attention=True)  # (1, 4*4 patches, 8, 8)
    used = attn[0].flatten(1).amax(dim=1).view(4, 4) > 0
    return {int(column) for column in used.any(dim=0).nonzero()}


def test_attention_mask_sample_misses_a_thin_hole_maxpool_sees_it() -> None:
    # The release's rule: one pixel per 8x8 block; no pixel of block column 1 is in the hole.
    assert _attended_block_columns("sample") == {0, 1, 2, 3}
    # Max-pooled: block column 1 is hole; 3x3 patches centred on columns 0-2 touch it.
    assert _attended_block_columns("maxpool") == {3}
    with pytest.raises(ValueError, match="maxpool"):
        build_backbone("gatedconv", "rgb", cnum=8, attention_mask="nearest")


def test_attention_mask_sample_is_the_nearest_resize() -> None:
    hole = (torch.rand(2, 1, 32, 40) > 0.7).float()
    torch.testing.assert_close(downsample_mask(hole, 4, "sample"), F.interpolate(hole, size=(8, 10), mode="nearest"))
    torch.testing.assert_close(downsample_mask(hole, 8, "maxpool"), F.max_pool2d(F.max_pool2d(hole, 4), 2))
