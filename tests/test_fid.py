"""FID/KID: pytorch-fid's Inception layout, torchmetrics' distances against NumPy/SciPy, per-batch feature files."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from eiip.evaluation.features import distribution_summary, write_features
from eiip.hub import PretrainedWeightsMissing, checkpoint_path
from eiip.metrics.distribution import distribution_distances
from eiip.metrics.inception import FID_WEIGHTS, FIDInceptionV3, load_fid_inception

# Module names of pytorch-fid's fid_inception_v3() (torchvision's Inception3, aux_logits=False, with
# FIDInceptionA/C/E_1/E_2 blocks), as read in src/pytorch_fid/inception.py and torchvision's inception.py.
_BRANCHES = {
    "A": ["branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3",
          "branch_pool"],
    "B": ["branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"],
    "C": ["branch1x1", "branch7x7_1", "branch7x7_2", "branch7x7_3", "branch7x7dbl_1", "branch7x7dbl_2",
          "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5", "branch_pool"],
    "D": ["branch3x3_1", "branch3x3_2", "branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"],
    "E": ["branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_1", "branch3x3dbl_2",
          "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool"],
}
_BLOCKS = {"Mixed_5b": "A", "Mixed_5c": "A", "Mixed_5d": "A", "Mixed_6a": "B", "Mixed_6b": "C", "Mixed_6c": "C",
           "Mixed_6d": "C", "Mixed_6e": "C", "Mixed_7a": "D", "Mixed_7b": "E", "Mixed_7c": "E"}
_STEM = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"]
_CONV_ENTRIES = ("conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked")


def _pytorch_fid_keys() -> set[str]:
    convs = _STEM + [f"{block}.{branch}" for block, kind in _BLOCKS.items() for branch in _BRANCHES[kind]]
    return {f"{conv}.{entry}" for conv in convs for entry in _CONV_ENTRIES}


def test_layout_has_pytorch_fid_names_and_shapes() -> None:
    state = FIDInceptionV3().state_dict()
    assert set(state) == _pytorch_fid_keys()
    shapes = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_5d.branch5x5_2.conv.weight": (64, 48, 5, 5),
        "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
        "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
        "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
        "Mixed_7a.branch7x7x3_3.conv.weight": (192, 192, 7, 1),
        "Mixed_7b.branch3x3_2b.conv.weight": (384, 384, 3, 1),
        "Mixed_7c.branch3x3dbl_1.conv.weight": (448, 2048, 1, 1),
    }
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key


@pytest.fixture()
def hub_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    return tmp_path / "torch" / "hub"


@pytest.mark.parametrize("counted_batches", [True, False])
def test_pytorch_fid_checkpoint_loads_strictly(hub_dir, counted_batches) -> None:
    torch.manual_seed(0)
    state = {k: torch.rand_like(v.float()).to(v.dtype) for k, v in FIDInceptionV3().state_dict().items()
             if counted_batches or not k.endswith("num_batches_tracked")}
    state |= {"fc.weight": torch.randn(1008, 2048), "fc.bias": torch.randn(1008)}  # the classifier head
    path = checkpoint_path(FID_WEIGHTS[1])
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    model = load_fid_inception()
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    for key, value in model.state_dict().items():
        if key in state:
            assert torch.equal(value, state[key]), key


def test_features_are_2048_per_image() -> None:
    features = FIDInceptionV3().eval()(torch.rand(2, 3, 32, 40))
    assert features.shape == (2, 2048) and torch.isfinite(features).all()


def test_offline_without_weights_is_one_line(hub_dir) -> None:
    with pytest.raises(PretrainedWeightsMissing) as info:
        load_fid_inception()
    message = str(info.value)
    assert "\n" not in message and FID_WEIGHTS[0] in message and str(checkpoint_path(FID_WEIGHTS[1])) in message


def _scipy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    mean_real, mean_fake = real.mean(axis=0), fake.mean(axis=0)
    cov_real, cov_fake = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = scipy.linalg.sqrtm(cov_real @ cov_fake).real
    return float(np.sum((mean_real - mean_fake) ** 2) + np.trace(cov_real) + np.trace(cov_fake) - 2 * np.trace(root))


def _numpy_kid(real: np.ndarray, fake: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel (x.y / d + 1)^3 over all images (equal counts)."""
    def kernel(x, y):
        return (x @ y.T / x.shape[1] + 1) ** 3
    m = len(real)
    k_rr, k_ff, k_rf = kernel(real, real), kernel(fake, fake), kernel(real, fake)
    within = (k_rr.sum() - np.trace(k_rr) + k_ff.sum() - np.trace(k_ff)) / (m * (m - 1))
    return float(within - 2 * k_rf.mean())


def test_distances_match_numpy_and_scipy() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(30, 12))
    fake = rng.normal(0.4, 1.3, size=(30, 12))
    distances = distribution_distances(real, fake)
    assert distances["fid"] == pytest.approx(_scipy_fid(real, fake), rel=1e-6)
    assert distances["kid_mean"] == pytest.approx(_numpy_kid(real, fake), rel=1e-6)  # one subset = all 30
    assert distances["kid_std"] == pytest.approx(0.0, abs=1e-9)
    assert distribution_distances(real, real)["fid"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        distribution_distances(real[:1], fake[:1])


class _Projection(torch.nn.Module):
    """A stand-in feature network: mean colour and a fixed projection, (B, 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 8)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(images.mean(dim=(2, 3)))


def test_features_of_all_batches_give_the_whole_run(tmp_path) -> None:
    torch.manual_seed(0)
    network = _Projection()
    images = torch.rand(5, 3, 8, 8)
    completed = (images + 0.2 * torch.rand(5, 3, 8, 8)).clamp(0, 1)
    write_features(tmp_path, network, [0, 2], images[[0, 2]], completed[[0, 2]])  # "rank 0"
    write_features(tmp_path, network, [1, 3, 4], images[[1, 3, 4]], completed[[1, 3, 4]])  # "rank 1"
    summary = distribution_summary(tmp_path, [0, 1, 2, 3, 4], None)
    with torch.no_grad():
        expected = distribution_distances(network(images).numpy(), network(completed).numpy())
    assert summary["n"] == 5 and summary["kid_subset_size"] == 5
    for key, value in expected.items():
        assert summary[key] == pytest.approx(value, rel=1e-5, abs=1e-7)
    assert "2 of 7" in distribution_summary(tmp_path, list(range(7)), None)["unavailable"]
    assert "at least 2" in distribution_summary(tmp_path, [0], None)["unavailable"]
    assert distribution_summary(tmp_path, [0, 1], "offline") == {"n": 2, "unavailable": "offline"}
