"""Losses: hand-computed values, independent re-computations, and the published weights."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from scipy import signal, stats

from eiip.external.losses import (
    IDMRFLoss,
    PerceptualLoss,
    StyleLoss,
    confidence_driven_l1,
    confidence_weight_map,
    feature_matching_loss,
    gradient_penalty,
    hinge_d_loss,
    hinge_g_loss,
    hole_l1_unnormalized,
    hole_valid_l1,
    l1_loss,
    l1_over_hole_ratio,
    masked_l1,
    nsgan_d_loss,
    nsgan_g_loss,
    wgan_d_loss,
    wgan_g_loss,
)
from eiip.external.loss_terms import TermContext, term_value
from eiip.pretrained import PretrainedWeightsMissing, vgg19_features


@pytest.fixture(scope="module")
def vgg19() -> torch.nn.Module:
    torch.manual_seed(0)
    return vgg19_features()


def close(value: torch.Tensor, expected: float, tol: float = 1e-6) -> None:
    assert value.ndim == 0
    assert value.item() == pytest.approx(expected, rel=tol, abs=tol)


# ---------------------------------------------------------------------------------------- adversarial


def test_hinge() -> None:
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.5])
    # relu(1 - real) = [0, .5, 2], relu(1 + fake) = [0, 1, 2.5]  ->  0.5 * (2.5/3 + 3.5/3) = 1
    close(hinge_d_loss(real, fake), 1.0)
    close(hinge_g_loss(fake), 0.5 / 3)
    close(hinge_d_loss([real, real], [fake, fake]), 2.0)  # heads are summed
    close(hinge_g_loss([fake, torch.tensor([1.0])]), 0.5 / 3 - 1.0)


def test_nsgan() -> None:
    zero = torch.zeros(4)
    close(nsgan_d_loss(zero, zero), math.log(2))
    close(nsgan_g_loss(zero), math.log(2))
    logit = torch.full((2, 1, 3, 3), math.log(3.0))  # sigmoid = 0.75
    close(nsgan_g_loss(logit), -math.log(0.75))
    close(nsgan_d_loss(logit, -logit), -math.log(0.75))  # (-log .75 - log(1 - .25)) / 2


def test_wgan() -> None:
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0, 4.0])
    close(wgan_d_loss(real, fake), 1.0 - 2.0)
    close(wgan_g_loss(fake), -1.0)
    close(wgan_d_loss([real], [fake]), -1.0)


def test_gradient_penalty_linear_critic() -> None:
    torch.manual_seed(0)
    direction = torch.randn(3, 4, 4)
    weight = torch.nn.Parameter(3.0 * direction / direction.norm())  # ||w|| = 3

    def critic(x: torch.Tensor) -> torch.Tensor:
        return (x * weight).sum(dim=(1, 2, 3))

    real, fake = torch.rand(5, 3, 4, 4), torch.rand(5, 3, 4, 4)
    gp = gradient_penalty(critic, real, fake, lambda_gp=10.0)
    close(gp, 10.0 * (3.0 - 1.0) ** 2, tol=1e-5)
    gp.backward()  # create_graph=True: d gp / d w = 20 (||w|| - 1) w / ||w||
    torch.testing.assert_close(weight.grad, 20.0 * 2.0 * weight.detach() / 3.0)
    # a list of heads: gradients add (2w, norm 6)
    close(gradient_penalty(lambda x: [critic(x), critic(x)], real, fake, lambda_gp=1.0), 25.0, tol=1e-5)
    # a mask keeping half of the gradient entries
    mask = torch.zeros(1, 3, 4, 4)
    mask[..., :2, :] = 1
    masked_norm = (weight.detach() * mask).norm().item()
    close(gradient_penalty(critic, real, fake, lambda_gp=1.0, mask=mask), (masked_norm - 1.0) ** 2, tol=1e-5)
    # the slope with respect to the image on [-1, 1] (the critic still reads [0, 1]): ||w|| / 2
    close(gradient_penalty(critic, real, fake, lambda_gp=10.0, value_range=(-1.0, 1.0)), 10.0 * (1.5 - 1.0) ** 2,
          tol=1e-5)


def test_feature_matching_detaches_real() -> None:
    real = [torch.ones(2, 3, requires_grad=True), torch.zeros(1, 4, requires_grad=True)]
    fake = [torch.zeros(2, 3, requires_grad=True), torch.full((1, 4), 2.0, requires_grad=True)]
    loss = feature_matching_loss(real, fake)
    close(loss, 1.0 + 2.0)
    loss.backward()
    assert real[0].grad is None and real[1].grad is None
    assert fake[0].grad is not None


# ---------------------------------------------------------------------------------------- reconstruction


def test_l1_masked_and_hole_valid() -> None:
    target = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    pred = torch.zeros_like(target)
    close(l1_loss(pred, target), 2.5)
    close(masked_l1(pred, target, torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])), 2.5)
    close(masked_l1(pred, target, torch.tensor([[[[0.5, 0.0], [0.0, 0.0]]]])), 1.0)
    hole = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    hole_l1, valid_l1 = hole_valid_l1(pred, target, hole)
    close(hole_l1, 1.0)
    close(valid_l1, (2.0 + 3.0 + 4.0) / 3)
    # (B, 1, H, W) weights broadcast over channels: the mean is per weighted pixel *and* channel
    rgb_target = torch.cat([target, 2 * target, 3 * target], dim=1)
    hole_l1, valid_l1 = hole_valid_l1(torch.zeros_like(rgb_target), rgb_target, hole.bool())
    close(hole_l1, (1.0 + 2.0 + 3.0) / 3)
    close(valid_l1, 2.0 * 3.0)


def test_hifill_objective_is_the_releases() -> None:
    """Release model.py: l1 = 1.2 * mean(|r - x1| m) + mean(|r - x2| m); ae = (1.2 * mean(|r - x1| (1 - m))
    + mean(|r - x2| (1 - m))) / mean(1 - m); g = 1.2 * l1 + 1.2 * ae (+ 0.001 * gan), x1 coarse, x2 refined."""
    hole = torch.zeros(2, 1, 2, 2)
    hole[0, 0, 0, 0] = hole[1, 0, 1, 1] = hole[1, 0, 0, 1] = 1.0  # 3 of 8 pixels
    target = torch.full((2, 3, 2, 2), 0.1)
    refined = target + torch.where(hole.bool(), 0.6, 0.2)
    coarse = target - torch.where(hole.bool(), 0.4, 0.1)
    context = TermContext(outputs={"output": refined, "coarse": coarse}, completed=refined, target=target, hole=hole)
    close(hole_l1_unnormalized(refined, target, hole), 0.6 * 3 / 8)  # not divided by the hole area

    weights = dict(OmegaConf.load(Path(__file__).parents[1] / "conf/backbone/hifill.yaml").losses)
    assert weights.pop("adv_output") == 0.001
    ours = sum(weight * term_value(name, context) for name, weight in weights.items())
    error_coarse, error_refined = (coarse - target).abs(), (refined - target).abs()
    l1 = 1.2 * (error_coarse * hole).mean() + (error_refined * hole).mean()
    ae = (1.2 * (error_coarse * (1 - hole)).mean() + (error_refined * (1 - hole)).mean()) / (1 - hole).mean()
    close(ours, float(1.2 * l1 + 1.2 * ae))
    close(ours, 1.2 * (1.2 * 0.4 * 3 / 8 + 0.6 * 3 / 8) + 1.2 * (1.2 * 0.1 + 0.2))


def test_l1_over_hole_ratio_is_edgeconnects_l1() -> None:
    """Release (InpaintingModel.process): nn.L1Loss()(outputs, images) / torch.mean(masks), on the raw output."""
    hole = torch.zeros(2, 1, 2, 2)
    hole[0, 0, 0, 0] = hole[1, 0, 1, 1] = 1.0  # 2 of 8 pixels: hole ratio 0.25
    target = torch.full((2, 3, 2, 2), 0.1)
    pred = torch.where(hole.bool(), 0.8, 0.4).expand_as(target)  # off by 0.7 in the hole, 0.3 on known pixels
    expected = (6 * 0.3 + 2 * 0.7) / 8 / 0.25  # the mean over all elements, divided by the hole ratio
    close(l1_over_hole_ratio(pred, target, hole), expected)
    close(l1_over_hole_ratio(pred, target, hole.bool()), expected)
    completed = pred * hole + target * (1 - hole)
    context = TermContext(outputs={"output": pred}, completed=completed, target=target, hole=hole)
    close(term_value("l1_over_hole_ratio", context), 1.6)
    close(term_value("l1", context), 0.4)  # the plain L1 (GatedConv) is not divided


def _release_confidence(hole: np.ndarray, size: int, sigma: float, iterations: int) -> np.ndarray:
    """GMCNN's gauss_kernel + ConfidenceDrivenMaskLayer, transcribed with numpy/scipy."""
    interval = (2 * sigma + 1.0) / size
    x = np.linspace(-sigma - interval / 2, sigma + interval / 2, size + 1)
    ker1d = np.diff(stats.norm.cdf(x))
    kernel = np.sqrt(np.outer(ker1d, ker1d))
    kernel /= kernel.sum()
    init = 1 - hole
    confidence = None
    for _ in range(iterations):
        padded = np.pad(init, size // 2, mode="reflect")
        confidence = signal.correlate2d(padded, kernel, mode="valid") * hole
        init = confidence + (1 - hole)
    return init


def test_confidence_map_matches_release_formula() -> None:
    hole = np.zeros((40, 48))
    hole[10:30, 14:40] = 1
    for size, sigma, iterations in [(15, 1.0 / 40, 2), (9, 1.5, 3)]:
        ours = confidence_weight_map(torch.tensor(hole)[None, None], size, sigma, iterations)[0, 0].numpy()
        np.testing.assert_allclose(ours, _release_confidence(hole, size, sigma, iterations), rtol=1e-10, atol=1e-12)


def test_confidence_map_properties() -> None:
    hole = torch.zeros(2, 1, 128, 128)
    hole[:, :, 24:104, 24:104] = 1
    weight = confidence_weight_map(hole)  # GMCNN defaults: 65x65, sigma 1/40, 7 iterations
    assert weight.shape == hole.shape and not weight.requires_grad
    known = hole == 0
    assert torch.equal(weight[known], torch.ones_like(weight[known]))
    inside = weight[~known]
    assert inside.min() > 0 and inside.max() < 1
    row = weight[0, 0, 64, 24:65]  # from the hole's left border to its centre
    assert (row[1:] <= row[:-1] + 1e-7).all() and row[-1] < row[0] - 0.05


def test_confidence_driven_l1() -> None:
    hole = torch.zeros(1, 1, 96, 96)
    hole[..., 20:76, 20:76] = 1
    target = torch.zeros(1, 3, 96, 96)
    pred = target + 0.5  # uniform error, also on known pixels (which the hole term ignores)
    weight = confidence_weight_map(hole)
    expected = 0.5 * weight[hole.bool()].mean().item()
    close(confidence_driven_l1(pred, target, hole), expected)
    close(confidence_driven_l1(pred, target, hole, weight_map=weight), expected)


# ---------------------------------------------------------------------------------------- VGG losses


def test_perceptual_loss(vgg19, astronaut64) -> None:
    x = astronaut64[None]
    y = x.flip(-1)
    loss = PerceptualLoss(vgg19)
    assert loss(x, x).item() == 0.0
    assert loss(x, y).item() > 1e-3
    assert not list(loss.parameters()) and not loss.state_dict()  # VGG19 stays out of checkpoints
    # one layer, recomputed independently
    conv = vgg19.features[0]
    for norm in ("none", "imagenet"):
        one = PerceptualLoss(vgg19, weights=(1.0, 0.0, 0.0, 0.0, 0.0), input_norm=norm)

        def relu1_1(image: torch.Tensor, norm: str = norm) -> torch.Tensor:
            if norm == "imagenet":
                mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
                image = (image - mean) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
            return F.relu(F.conv2d(image, conv.weight, conv.bias, padding=1))

        expected = (relu1_1(x) - relu1_1(y)).abs().mean()
        torch.testing.assert_close(one(x, y), expected)
    # the monochromic bottleneck: 1 channel is repeated to 3
    gray = x.mean(dim=1, keepdim=True)
    torch.testing.assert_close(loss(gray, y), loss(gray.expand(-1, 3, -1, -1), y))
    # gradients reach the prediction, not the frozen VGG
    pred = y.clone().requires_grad_(True)
    loss(pred, x).backward()
    assert pred.grad.abs().sum() > 0 and all(p.grad is None for p in vgg19.parameters())


def test_style_loss(vgg19, astronaut64) -> None:
    x = astronaut64[None]
    y = x.roll(17, dims=-1).flip(-2)
    loss = StyleLoss(vgg19)
    assert loss(x, x).item() == 0.0
    assert loss(x, y).item() > 0.0
    # relu2_2 alone, in float64, against a hand-written VGG19 prefix and Gram matrix
    net = copy.deepcopy(vgg19).double()
    one = StyleLoss(net, layers=["relu2_2"])
    f = net.features

    def relu2_2(image: torch.Tensor) -> torch.Tensor:
        h = F.relu(F.conv2d(image, f[0].weight, f[0].bias, padding=1))
        h = F.relu(F.conv2d(h, f[2].weight, f[2].bias, padding=1))
        h = F.max_pool2d(h, 2)
        h = F.relu(F.conv2d(h, f[5].weight, f[5].bias, padding=1))
        return F.relu(F.conv2d(h, f[7].weight, f[7].bias, padding=1))

    def gram(features: torch.Tensor) -> torch.Tensor:
        _, c, h, w = features.shape
        return torch.einsum("bchw,bdhw->bcd", features, features) / (c * h * w)

    xd, yd = x.double(), y.double()
    expected = (gram(relu2_2(xd)) - gram(relu2_2(yd))).abs().mean()
    torch.testing.assert_close(one(xd, yd), expected, rtol=1e-10, atol=0.0)


def _release_mrf(gen: np.ndarray, tar: np.ndarray, h: float = 0.5, release: str = "tensorflow") -> float:
    """The release's mrf_loss for (B, C, H, W) features, transcribed in numpy: TensorFlow (ops.py
    center_by_T: per-channel mean over batch and positions; batch mean) or PyTorch (loss.py
    mrf_loss: mean over channels at each position; batch sum)."""
    mean_t = tar.mean(axis=(0, 2, 3) if release == "tensorflow" else 1, keepdims=True)
    losses = []
    for g, t in zip(gen - mean_t, tar - mean_t, strict=True):
        g = g.reshape(g.shape[0], -1)
        t = t.reshape(t.shape[0], -1)
        g = g / np.linalg.norm(g, axis=0, keepdims=True)
        t = t / np.linalg.norm(t, axis=0, keepdims=True)
        cosine = t.T @ g  # [target patch, generated position], as conv2d(gen, target patches)
        distance = -(cosine - 1) / 2
        relative = distance / (distance.min(axis=0, keepdims=True) + 1e-5)
        weights = np.exp((1.0 - relative) / h)
        cs = weights / weights.sum(axis=0, keepdims=True)
        losses.append(-np.log(cs.max(axis=1).mean()))
    return float(np.mean(losses) if release == "tensorflow" else np.sum(losses))


def test_idmrf_matches_release_formula() -> None:
    rng = np.random.default_rng(0)
    gen, tar = rng.random((2, 8, 5, 6)), rng.random((2, 8, 5, 6))
    loss = IDMRFLoss(vgg19_features())
    ours = loss.mrf(torch.tensor(gen), torch.tensor(tar))
    assert ours.item() == pytest.approx(_release_mrf(gen, tar), rel=1e-9)
    summed = IDMRFLoss(vgg19_features(), reduction="sum").mrf(torch.tensor(gen), torch.tensor(tar))
    assert summed.item() == pytest.approx(2 * _release_mrf(gen, tar), rel=1e-9)


def test_idmrf_pytorch_port_centres_each_position_and_sums_the_batch() -> None:
    """The PyTorch release (GMCNN's default): on a 2-image batch, the sum of the two images' losses."""
    rng = np.random.default_rng(0)
    gen, tar = rng.random((2, 8, 5, 6)), rng.random((2, 8, 5, 6))
    loss = IDMRFLoss(vgg19_features(), centering="position", reduction="sum", max_positions=None)
    ours = loss.mrf(torch.tensor(gen), torch.tensor(tar)).item()
    assert ours == pytest.approx(_release_mrf(gen, tar, release="pytorch"), rel=1e-9)
    each = [loss.mrf(torch.tensor(gen[i:i + 1]), torch.tensor(tar[i:i + 1])).item() for i in range(2)]
    assert ours == pytest.approx(sum(each), rel=1e-9)
    assert ours != pytest.approx(_release_mrf(gen, tar), rel=1e-3)
    with pytest.raises(ValueError, match="centering"):
        IDMRFLoss(vgg19_features(), centering="channel")


def test_idmrf_identical_vs_shuffled(vgg19, astronaut64) -> None:
    x = astronaut64[None]
    torch.manual_seed(1)
    shuffled = x.flatten(2)[..., torch.randperm(64 * 64)].view_as(x)
    loss = IDMRFLoss(vgg19)
    same = loss(x, x).item()
    different = loss(shuffled, x).item()
    assert 0.0 <= same < 1e-4
    assert different > 0.1
    assert loss(x.mean(dim=1, keepdim=True), x).item() > same  # mono input accepted


def test_pretrained_constructors_fail_offline(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    for cls in (PerceptualLoss, StyleLoss, IDMRFLoss):
        with pytest.raises(PretrainedWeightsMissing, match="vgg19-dcbb9e9d.pth"):
            cls.pretrained()

