"""ImageMetrics (per-image PSNR / SSIM / LPIPS, whole and hole) and summarize (NaN-aware bucket means)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

from eiip.data.samples import load_sample_photo
from eiip.metrics import HOLE_RATIO_EDGES, LPIPS, METRIC_KEYS, ImageMetrics, hole_psnr, psnr, ssim, summarize
from eiip.pretrained import PretrainedWeightsMissing


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(output, target, hole) for astronaut, chelsea, coffee at 64x64; the coffee image has no hole.

    The output is the target with its hole filled by a blurred, noised version (composited).
    """
    target = torch.stack([load_sample_photo(name, 64) for name in ("astronaut", "chelsea", "coffee")])
    hole = torch.zeros(3, 1, 64, 64)
    hole[0, :, 22:42, 18:42] = 1.0   # 480 pixels, 11.7%
    hole[1, :, 8:56, 6:40] = 1.0     # 1632 pixels, 39.8%
    blurred = F.avg_pool2d(F.pad(target, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    noise = 0.05 * torch.randn(target.shape, generator=torch.Generator().manual_seed(0))
    filled = (blurred + noise).clamp(0, 1)
    return target * (1 - hole) + filled * hole, target, hole


@pytest.fixture(scope="module")
def random_alex() -> LPIPS:
    torch.manual_seed(0)
    return LPIPS("alex", pretrained=False)


@pytest.fixture()
def empty_hub(tmp_path, monkeypatch):
    """An empty torch.hub cache: no ImageNet weights available."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    return tmp_path / "hub" / "checkpoints"


def _skimage_ssim_map(output: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Gaussian-window (11, sigma 1.5) SSIM map of a (3, H, W) pair, (H, W, 3); exact away from the border."""
    _, full = structural_similarity(output.permute(1, 2, 0).double().numpy(), target.permute(1, 2, 0).double().numpy(),
                                    channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, full=True)
    return full


def test_rows_match_hand_computations(batch, random_alex) -> None:
    output, target, hole = batch
    rows = ImageMetrics(lpips_model=random_alex)(output, target, hole)
    assert len(rows) == 3 and all(tuple(row) == METRIC_KEYS for row in rows)
    assert all(isinstance(value, float) for row in rows for value in row.values())
    lpips_whole = random_alex(output, target)
    lpips_hole = random_alex(output[:2], target[:2], region=hole[:2])
    for i, row in enumerate(rows):
        known = hole[i] == 0
        assert row["psnr"] == pytest.approx(psnr(output[i], target[i]), abs=1e-4)
        assert row["ssim"] == pytest.approx(ssim(output[i], target[i]), abs=1e-6)
        assert row["lpips"] == pytest.approx(float(lpips_whole[i]), rel=1e-6)
        assert row["hole_ratio"] == pytest.approx(float(hole[i].sum()) / 4096)
        if i == 2:
            continue
        in_hole = hole[i, 0].bool().numpy()
        errors = (output[i] - target[i]).double().numpy()[:, in_hole]
        assert row["hole_l1"] == pytest.approx(np.abs(errors).mean(), rel=1e-5)
        assert row["hole_psnr"] == pytest.approx(-10 * math.log10((errors ** 2).mean()), abs=1e-4)
        assert row["hole_psnr"] == pytest.approx(hole_psnr(output[i], target[i], known), abs=1e-4)
        expected_ssim = _skimage_ssim_map(output[i], target[i])[in_hole].mean()
        assert row["hole_ssim"] == pytest.approx(expected_ssim, abs=1e-5)
        assert row["hole_lpips"] == pytest.approx(float(lpips_hole[i]), rel=1e-6)
        # only the hole was changed: the hole is worse than the image as a whole
        assert row["hole_psnr"] < row["psnr"] and row["hole_ssim"] < row["ssim"]
    assert [rows[i]["hole_ratio"] for i in range(2)] == pytest.approx([480 / 4096, 1632 / 4096])
    # no hole: identical images, hole metrics undefined
    assert rows[2]["psnr"] == pytest.approx(120.0) and rows[2]["ssim"] == pytest.approx(1.0)
    assert rows[2]["lpips"] == 0.0 and rows[2]["hole_ratio"] == 0.0
    assert all(math.isnan(rows[2][key]) for key in ("hole_psnr", "hole_ssim", "hole_lpips", "hole_l1"))


def test_hole_everywhere_equals_whole_image(batch) -> None:
    output, target, _ = batch
    (row,) = ImageMetrics(lpips_net=None)(output[:1], target[:1], torch.ones(1, 1, 64, 64, dtype=torch.bool))
    assert row["hole_psnr"] == pytest.approx(row["psnr"], abs=1e-4)
    assert row["hole_ssim"] == pytest.approx(row["ssim"], abs=1e-6)
    assert row["hole_l1"] == pytest.approx(float((output[0] - target[0]).abs().mean()), rel=1e-5)
    assert row["hole_ratio"] == 1.0


def test_missing_weights_give_nan_lpips_and_a_reason(batch, empty_hub) -> None:
    output, target, hole = batch
    with pytest.raises(PretrainedWeightsMissing) as info:
        LPIPS("alex")
    metrics = ImageMetrics()
    assert metrics.lpips is None
    assert metrics.lpips_unavailable == str(info.value)
    assert "\n" not in metrics.lpips_unavailable
    assert "alexnet-owt-7be5be79.pth" in metrics.lpips_unavailable
    assert str(empty_hub / "alexnet-owt-7be5be79.pth") in metrics.lpips_unavailable
    rows = metrics(output, target, hole)
    assert all(math.isnan(row["lpips"]) and math.isnan(row["hole_lpips"]) for row in rows)
    for i, row in enumerate(rows):
        assert row["psnr"] == pytest.approx(psnr(output[i], target[i]), abs=1e-4)
        assert row["ssim"] == pytest.approx(ssim(output[i], target[i]), abs=1e-6)
    assert rows[0]["hole_psnr"] == pytest.approx(hole_psnr(output[0], target[0], hole[0] == 0), abs=1e-4)


def test_lpips_disabled() -> None:
    metrics = ImageMetrics(lpips_net=None)
    assert metrics.lpips is None and "disabled" in metrics.lpips_unavailable


def test_bad_shapes_fail_clearly(batch) -> None:
    output, target, hole = batch
    metrics = ImageMetrics(lpips_net=None)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        metrics(output[:, :1], target[:, :1], hole)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        metrics(output, target[:2], hole)
    with pytest.raises(ValueError, match=r"hole must be \(3, 1, 64, 64\)"):
        metrics(output, target, hole[:, 0])


def _row(ratio: float, psnr_value: float, lpips_value: float = math.nan) -> dict[str, object]:
    return {"key": f"image-{ratio}", "position": 7, "hole_ratio": ratio, "psnr": psnr_value, "lpips": lpips_value}


def test_summarize_buckets_and_nan() -> None:
    rows = [_row(0.05, 30.0, 0.1), _row(0.1, 26.0), _row(0.15, 24.0, 0.3), _row(0.65, 18.0), _row(1.0, 14.0)]
    summary = summarize(rows)
    overall = summary["overall"]
    assert overall == {"n": 5, "hole_ratio": pytest.approx(0.39), "psnr": pytest.approx(22.4),
                       "lpips": pytest.approx(0.2)}  # NaN lpips ignored; ids/positions not averaged
    buckets = summary["buckets"]
    assert list(buckets) == ["0-10%", "10-20%", "60-100%"]  # 0.1 opens 10-20%; 1.0 closes the last bucket
    assert buckets["0-10%"] == {"n": 1, "hole_ratio": 0.05, "psnr": 30.0, "lpips": 0.1}
    assert buckets["10-20%"] == {"n": 2, "hole_ratio": pytest.approx(0.125), "psnr": 25.0, "lpips": 0.3}
    assert buckets["60-100%"]["n"] == 2 and buckets["60-100%"]["psnr"] == 16.0
    assert math.isnan(buckets["60-100%"]["lpips"])  # every value NaN


def test_summarize_labels_edges_and_errors() -> None:
    assert HOLE_RATIO_EDGES == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0)
    ratios = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    labels = list(summarize([_row(r, 20.0) for r in ratios])["buckets"])
    assert labels == ["0-10%", "10-20%", "20-30%", "30-40%", "40-50%", "50-60%", "60-100%"]
    assert list(summarize([_row(0.3, 20.0)], edges=(0.0, 0.5, 1.0))["buckets"]) == ["0-50%"]
    assert summarize([]) == {"overall": {"n": 0}, "buckets": {}}
    with pytest.raises(ValueError, match="outside the bucket edges"):
        summarize([_row(1.5, 20.0)])
    with pytest.raises(ValueError, match="strictly increasing"):
        summarize([_row(0.5, 20.0)], edges=(0.0, 0.5, 0.5, 1.0))


def test_summarize_imagemetrics_rows(batch, random_alex) -> None:
    output, target, hole = batch
    rows = ImageMetrics(lpips_model=random_alex)(output, target, hole)
    summary = summarize(rows)
    assert summary["overall"]["n"] == 3
    assert summary["overall"]["psnr"] == pytest.approx(np.mean([row["psnr"] for row in rows]))
    assert summary["overall"]["hole_psnr"] == pytest.approx(np.mean([row["hole_psnr"] for row in rows[:2]]))
    assert {label: values["n"] for label, values in summary["buckets"].items()} == {
        "0-10%": 1, "10-20%": 1, "30-40%": 1}
