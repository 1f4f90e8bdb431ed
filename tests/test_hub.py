"""Checkpoints downloaded on first use into the torch.hub cache, SHA-256 checked (file:// URLs, no network)."""

from __future__ import annotations

import hashlib

import pytest
import torch

from eiip.hub import PretrainedWeightsMissing, checkpoint_path, fetch_checkpoint, hash_prefix
from eiip.pretrained import PRETRAINED_WEIGHTS, alexnet_features, load_imagenet_features


@pytest.fixture()
def hub_dir(tmp_path, monkeypatch):
    """An empty torch.hub cache under tmp_path/torch, downloads allowed."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.delenv("EIIP_OFFLINE", raising=False)
    return tmp_path / "torch" / "hub"


def _served_alexnet(tmp_path, monkeypatch, corrupt: bool = False):
    """A random alexnet state dict at a file:// URL, named after its SHA-256 (or a wrong one), in the table."""
    torch.manual_seed(0)
    source = tmp_path / "served" / "alexnet.pth"
    source.parent.mkdir()
    state = alexnet_features().state_dict()
    torch.save(state, source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    filename = f"alexnet-test-{'00000000' if corrupt else digest[:8]}.pth"
    monkeypatch.setitem(PRETRAINED_WEIGHTS, "alexnet", (source.as_uri(), filename))
    return source, filename, state


def test_hash_prefix_follows_torch_hub_names() -> None:
    assert hash_prefix("vgg19-dcbb9e9d.pth") == "dcbb9e9d"
    assert hash_prefix("alexnet-owt-7be5be79.pth") == "7be5be79"
    assert hash_prefix("pt_inception-2015-12-05-6726825d.pth") == "6726825d"
    with pytest.raises(ValueError, match="SHA-256"):
        hash_prefix("weights.pth")


def test_downloaded_once_then_reused(hub_dir, tmp_path, monkeypatch) -> None:
    source, filename, state = _served_alexnet(tmp_path, monkeypatch)
    model = load_imagenet_features("alexnet")
    cached = hub_dir / "checkpoints" / filename
    assert cached.read_bytes() == source.read_bytes()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert sorted(p.name for p in cached.parent.iterdir()) == [filename]  # no .partial left
    source.unlink()  # a second use must not touch the URL
    again = load_imagenet_features("alexnet")
    assert all(torch.equal(again.state_dict()[k], v) for k, v in state.items())


def test_wrong_hash_is_refused_and_nothing_is_left(hub_dir, tmp_path, monkeypatch) -> None:
    _, filename, _ = _served_alexnet(tmp_path, monkeypatch, corrupt=True)
    with pytest.raises(PretrainedWeightsMissing, match="invalid hash value") as info:
        load_imagenet_features("alexnet")
    assert "\n" not in str(info.value) and filename in str(info.value)
    assert list((hub_dir / "checkpoints").iterdir()) == []


def test_offline_never_touches_the_url(hub_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EIIP_OFFLINE", "1")
    url = (tmp_path / "never-read.pth").as_uri()
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("downloaded offline"))
    with pytest.raises(PretrainedWeightsMissing) as info:
        fetch_checkpoint(url, "thing-0123abcd.pth", "test weights")
    message = str(info.value)
    assert "\n" not in message
    for fragment in ("thing-0123abcd.pth", url, str(checkpoint_path("thing-0123abcd.pth")), "EIIP_OFFLINE"):
        assert fragment in message


def test_network_failure_is_one_clear_line(hub_dir, tmp_path) -> None:
    url = (tmp_path / "absent.pth").as_uri()
    with pytest.raises(PretrainedWeightsMissing, match="downloading it failed") as info:
        fetch_checkpoint(url, "absent-0123abcd.pth", "test weights")
    assert "\n" not in str(info.value) and url in str(info.value)
    assert not any((hub_dir / "checkpoints").iterdir())
