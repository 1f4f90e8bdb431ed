"""Tests of eiip.colorize: the guided-colorizer interface, registry and classical baselines."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import skimage.data
import torch
from skimage.transform import resize

from eiip.color import rgb_to_mono, rgb_to_yiq, yiq_to_rgb
from eiip.colorize import (
    COLORIZERS,
    check_colorize_inputs,
    colorizer_names,
    domain_transform_colorize,
    get_colorizer,
    levin_colorize,
    mean_chroma_colorize,
    register_colorizer,
    resolved_settings,
)

BASELINES = ("mean", "levin", "dt", "local-linear", "validated-blend")


# ----------------------------------------------------------------------------- fixtures / helpers


def _photo(name: str, size: int) -> torch.Tensor:
    """A real photo resized to size x size, as a (3, H, W) float32 tensor in [0, 1]."""
    if name == "china":
        from sklearn.datasets import load_sample_images

        image = load_sample_images().images[0]
    else:
        image = getattr(skimage.data, name)()
    image = resize(image, (size, size), anti_aliasing=True)
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1).contiguous()


def _rect_known(h: int, w: int, top: int, left: int, hh: int, ww: int) -> torch.Tensor:
    known = torch.ones(1, h, w, dtype=torch.bool)
    known[:, top : top + hh, left : left + ww] = False
    return known


def _freeform_known(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A deterministic free-form hole: a few thick random brush strokes."""
    rng = np.random.default_rng(seed)
    hole = np.zeros((h, w), dtype=np.uint8)
    for _ in range(4):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        for _ in range(5):
            angle = rng.uniform(0, 2 * math.pi)
            length = rng.uniform(0.1, 0.3) * max(h, w)
            nx = int(np.clip(x + length * math.cos(angle), 0, w - 1))
            ny = int(np.clip(y + length * math.sin(angle), 0, h - 1))
            cv2.line(hole, (x, y), (nx, ny), 1, thickness=int(rng.integers(3, 7)))
            x, y = nx, ny
    return torch.from_numpy(hole == 0)[None]


def _constant_chroma_image(size: int = 64, i0: float = 0.05, q0: float = -0.03) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB with the astronaut's (rescaled) monochrome and constant chroma (i0, q0); and its mono."""
    y = rgb_to_mono(_photo("astronaut", size).double())
    y = 0.2 + 0.6 * (y - y.min()) / (y.max() - y.min())
    yiq = torch.cat([y, torch.full_like(y, i0), torch.full_like(y, q0)])
    rgb = yiq_to_rgb(yiq)
    assert rgb.min() > 0.0 and rgb.max() < 1.0  # no clipping anywhere
    return rgb.float(), rgb_to_mono(rgb).float()


def _hole_psnr(output: torch.Tensor, target: torch.Tensor, known: torch.Tensor) -> float:
    err = ((output - target)[:, ~known[0]] ** 2).mean().item()
    return 10.0 * math.log10(1.0 / err)


def _with_garbage_hole(rgb: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """rgb with NaN in the hole: colorizers must never read hole values."""
    return torch.where(known, rgb, torch.full_like(rgb, float("nan")))


# ----------------------------------------------------------------------------- analytic cases


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("hole_kind", ["rect", "freeform"])
def test_constant_chroma_is_recovered_exactly(name: str, hole_kind: str) -> None:
    rgb, mono = _constant_chroma_image()
    h, w = mono.shape[-2:]
    known = _rect_known(h, w, 14, 20, 30, 26) if hole_kind == "rect" else _freeform_known(h, w)
    hole_fraction = (~known).float().mean().item()
    assert 0.1 < hole_fraction < 0.6

    out = get_colorizer(name)(mono, _with_garbage_hole(rgb, known), known)

    assert out.shape == rgb.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert (out - rgb).abs().max().item() < 1e-4


# ----------------------------------------------------------------------------- edge-aware propagation


def _two_region_image(h: int = 48, w: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left half: dark with chroma A; right half: bright with chroma B; a luminance edge between."""
    rng = np.random.default_rng(1)
    y = np.where(np.arange(w)[None, :] < w // 2, 0.3, 0.7) + rng.uniform(-0.01, 0.01, (h, w))
    left = np.arange(w)[None, :] < w // 2
    i = np.where(left, 0.10, -0.08) * np.ones((h, w))
    q = np.where(left, 0.02, 0.05) * np.ones((h, w))
    rgb = yiq_to_rgb(torch.from_numpy(np.stack([y, i, q])))
    assert rgb.min() > 0.0 and rgb.max() < 1.0
    known = _rect_known(h, w, 12, 12, 24, 40)  # straddles the edge at column w // 2
    return rgb.float(), rgb_to_mono(rgb).float(), known


def _side_chroma_errors(out: torch.Tensor, rgb: torch.Tensor, known: torch.Tensor, margin: int) -> float:
    """Max chroma error in the hole at least `margin` columns away from the central edge."""
    w = rgb.shape[-1]
    away = torch.ones_like(known[0])
    away[:, w // 2 - margin : w // 2 + margin] = False
    region = ~known[0] & away
    err = (rgb_to_yiq(out.double())[1:] - rgb_to_yiq(rgb.double())[1:]).abs()
    return err[:, region].max().item()


def test_levin_propagates_along_luminance_regions() -> None:
    rgb, mono, known = _two_region_image()
    out = levin_colorize(mono, _with_garbage_hole(rgb, known), known)
    assert _side_chroma_errors(out, rgb, known, margin=2) < 0.02
    # The mean chroma cannot tell the regions apart: a sanity check that the case is discriminative.
    floor = mean_chroma_colorize(mono, rgb, known)
    assert _side_chroma_errors(floor, rgb, known, margin=2) > 0.05


def test_domain_transform_propagates_along_luminance_regions() -> None:
    rgb, mono, known = _two_region_image()
    out = domain_transform_colorize(mono, _with_garbage_hole(rgb, known), known)
    assert _side_chroma_errors(out, rgb, known, margin=3) < 0.04


# ----------------------------------------------------------------------------- output contract


@pytest.mark.parametrize("name", BASELINES)
def test_output_contract(name: str) -> None:
    rgb = _photo("astronaut", 48)
    known = _freeform_known(48, 48, seed=3)
    mono = rgb_to_mono(rgb)
    out = get_colorizer(name)(mono, _with_garbage_hole(rgb, known), known)

    assert out.shape == (3, 48, 48)
    assert out.dtype == torch.float32 and out.device == mono.device
    assert torch.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0

    # Y of the output is the input mono wherever no channel got clipped.
    unclipped = ((out > 1e-6) & (out < 1 - 1e-6)).all(dim=0)
    assert unclipped.float().mean() > 0.5
    assert (rgb_to_mono(out)[0] - mono[0])[unclipped].abs().max().item() < 1e-5

    # Known pixels keep their chroma (the mean baseline does not: it only keeps Y).
    if name != "mean":
        chroma_in = rgb_to_yiq(rgb.double())[1:, known[0] & unclipped]
        chroma_out = rgb_to_yiq(out.double())[1:, known[0] & unclipped]
        assert (chroma_in - chroma_out).abs().max().item() < 1e-5
        assert (out - rgb)[:, known[0]].abs().max().item() < 1e-5


def test_accepts_float64_inputs_and_returns_float32() -> None:
    rgb, mono = _constant_chroma_image(32)
    known = _rect_known(32, 32, 8, 8, 12, 12)
    for name in BASELINES:
        out = get_colorizer(name)(mono.double(), rgb.double(), known)
        assert out.dtype == torch.float32
        assert (out - rgb).abs().max().item() < 1e-4


def test_single_known_pixel_and_far_hole_are_finite() -> None:
    """A hole spanning almost everything exercises the dt fallbacks; levin/mean get constant chroma."""
    rgb, mono = _constant_chroma_image(40, i0=-0.04, q0=0.02)
    known = torch.zeros(1, 40, 40, dtype=torch.bool)
    known[0, 0, 0] = True
    for name in BASELINES:
        out = get_colorizer(name)(mono, _with_garbage_hole(rgb, known), known)
        assert torch.isfinite(out).all()
        assert (out - rgb).abs().max().item() < 1e-4
    # A tiny spatial scale cannot reach across the image: fallbacks (then mean chroma) fill it.
    out = domain_transform_colorize(mono, rgb, known, sigma_spatial=1.0, sigma_color=1.0, fallback_steps=1)
    assert torch.isfinite(out).all()
    assert (out - rgb).abs().max().item() < 1e-4


def test_no_hole_returns_known_image() -> None:
    rgb = _photo("astronaut", 24)
    known = torch.ones(1, 24, 24, dtype=torch.bool)
    for name in ("levin", "dt"):
        out = get_colorizer(name)(rgb_to_mono(rgb), rgb, known)
        assert (out - rgb).abs().max().item() < 1e-5


# ----------------------------------------------------------------------------- real photos


@pytest.mark.parametrize("photo", ["astronaut", "china"])
def test_guided_colorizers_beat_mean_chroma_on_real_photo(photo: str) -> None:
    rgb = _photo(photo, 96)
    known = _rect_known(96, 96, 22, 26, 50, 55)  # ~30% of the image
    assert abs((~known).float().mean().item() - 0.30) < 0.01
    mono = rgb_to_mono(rgb)
    scores = {name: _hole_psnr(get_colorizer(name)(mono, rgb, known), rgb, known) for name in BASELINES}
    # Measured (hole PSNR, dB): astronaut mean 20.39 / levin 23.35 / dt 20.79;
    # china mean 25.52 / levin 27.12 / dt 26.69.
    assert all(math.isfinite(score) for score in scores.values())
    assert scores["levin"] > scores["mean"] + 1.0
    assert scores["dt"] > scores["mean"] + 0.2


# ----------------------------------------------------------------------------- registry and validation


def test_registry_names_and_factories() -> None:
    assert set(BASELINES) <= set(colorizer_names())
    assert colorizer_names() == sorted(colorizer_names())
    assert get_colorizer("mean") is mean_chroma_colorize
    assert callable(get_colorizer("levin").colorize_batch)  # the propagating colorizers take whole batches
    colorizer = get_colorizer("dt", sigma_spatial=5.0, iterations=2)
    rgb, mono = _constant_chroma_image(24)
    known = _rect_known(24, 24, 6, 6, 8, 8)
    assert (colorizer(mono, rgb, known) - rgb).abs().max().item() < 1e-4


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="levin") as info:
        get_colorizer("no-such-colorizer")
    for name in BASELINES:
        assert name in str(info.value)


def test_invalid_options_raise_value_error() -> None:
    with pytest.raises(ValueError):
        get_colorizer("levin", no_such_option=1)
    with pytest.raises(ValueError):
        get_colorizer("mean", window=2)


def test_register_custom_colorizer() -> None:
    name = "test-only-gray"
    try:

        @register_colorizer(name)
        def _factory(**options):
            def colorize(mono, rgb_known, known):
                check_colorize_inputs(mono, rgb_known, known)
                return mono.expand(3, -1, -1).float()

            return colorize

        assert name in colorizer_names()
        with pytest.raises(ValueError, match="already registered"):
            register_colorizer(name)(lambda **options: None)
        mono = torch.rand(1, 8, 8)
        out = get_colorizer(name)(mono, torch.rand(3, 8, 8), torch.ones(1, 8, 8, dtype=torch.bool))
        assert torch.equal(out[0], mono[0])
    finally:
        COLORIZERS.pop(name, None)


def _valid_inputs(h: int = 8, w: int = 10) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    known = torch.ones(1, h, w, dtype=torch.bool)
    known[0, 2:5, 3:7] = False
    return torch.rand(1, h, w), torch.rand(3, h, w), known


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda m, r, k: (m, r[:, :-1], k), "share H and W"),
        (lambda m, r, k: (m, r, k[:, :, :-1]), "share H and W"),
        (lambda m, r, k: (m.expand(3, -1, -1), r, k), "mono must have shape"),
        (lambda m, r, k: (m, r[:2], k), "rgb_known must have shape"),
        (lambda m, r, k: (m[0], r, k), "mono must have shape"),
        (lambda m, r, k: (m, r, k.float()), "bool"),
        (lambda m, r, k: ((m * 255).to(torch.uint8), r, k), "floating"),
        (lambda m, r, k: (m, r, torch.zeros_like(k)), "no known pixel"),
        (lambda m, r, k: (m.numpy(), r, k), "torch.Tensor"),
    ],
)
def test_validator_rejects_bad_inputs(mutate, message: str) -> None:
    mono, rgb, known = mutate(*_valid_inputs())
    with pytest.raises(ValueError, match=message):
        check_colorize_inputs(mono, rgb, known)
    for name in BASELINES:
        with pytest.raises(ValueError, match=message):
            get_colorizer(name)(mono, rgb, known)


def test_validator_accepts_valid_inputs() -> None:
    check_colorize_inputs(*_valid_inputs())


def test_resolved_settings_spell_out_an_internal_preset_and_skip_classical_colorizers() -> None:
    fast = resolved_settings(get_colorizer("internal"))
    assert fast is not None and json.loads(json.dumps(fast)) == fast  # JSON-ready (tuples as lists)
    assert (fast["ensemble"], fast["fit_pixels"], fast["steps"]) == (8, 64 * 80, [400, 400, 400])
    reference = resolved_settings(get_colorizer("internal", preset="reference"))
    assert reference is not None and reference != fast and reference["loss"] == "mse"
    assert all(resolved_settings(get_colorizer(name)) is None for name in BASELINES)
