"""ContextualAttention's chunked match equals the full (fg x bg) score-matrix computation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from eiip.external.backbones.layers import (
    ContextualAttention,
    downsample_mask,
    extract_patches,
    same_padding,
)


def _reference(ca: ContextualAttention, f: torch.Tensor, b: torch.Tensor,
               mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The former implementation: the full score matrix (B, Hf*Wf, Hb*Wb) by grouped convolution,
    fused by 2-D identity-kernel convolutions, reconstructed by one transposed convolution."""
    bsz, c, h, w = b.shape
    r, k = ca.rate, ca.ksize
    raw = extract_patches(b, 2 * r, stride=r)
    f_d, b_d = f[..., ::r, ::r], b[..., ::r, ::r]
    hf, wf = f_d.shape[-2:]
    hb, wb = b_d.shape[-2:]
    n_bg = hb * wb
    patches = extract_patches(b_d, k, stride=1)
    norms = patches.flatten(2).norm(dim=2).clamp_min(ca.eps)
    patches = patches / norms[:, :, None, None, None]
    if mask is None:
        valid = torch.ones(bsz, n_bg, dtype=f.dtype)
    else:
        m_d = downsample_mask(mask.to(f.dtype), r, ca.mask_mode)
        valid = (extract_patches(m_d, k, stride=1).flatten(2).sum(dim=2) == 0).to(f.dtype)
    weight = patches.reshape(bsz * n_bg, c, k, k)
    scores = F.conv2d(f_d.reshape(1, bsz * c, hf, wf), weight, padding=k // 2, groups=bsz)
    scores = scores.view(bsz, n_bg, hf * wf).transpose(1, 2)
    if ca.fuse:
        fk = ca.fuse_k
        eye = torch.eye(fk, dtype=scores.dtype).view(1, 1, fk, fk)
        y = F.conv2d(scores.unsqueeze(1), eye, padding=fk // 2)
        y = y.view(bsz, hf, wf, hb, wb).permute(0, 2, 1, 4, 3).reshape(bsz, 1, wf * hf, wb * hb)
        y = F.conv2d(y, eye, padding=fk // 2)
        scores = y.view(bsz, wf, hf, wb, hb).permute(0, 2, 1, 4, 3).reshape(bsz, hf * wf, hb * wb)
    valid = valid[:, None, :]
    attn = torch.softmax(scores * valid * ca.softmax_scale, dim=2) * valid
    attn = attn.transpose(1, 2).reshape(bsz, n_bg, hf, wf)
    raw_w = raw.reshape(bsz * n_bg, c, 2 * r, 2 * r)
    y = F.conv_transpose2d(attn.reshape(1, bsz * n_bg, hf, wf), raw_w, stride=r, groups=bsz)
    top, _ = same_padding(h, 2 * r, r)
    left, _ = same_padding(w, 2 * r, r)
    return y[..., top:top + h, left:left + w].reshape(bsz, c, h, w) / 4.0, attn


def _inputs(bsz: int, h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random foreground and background features (bsz, 4, h, w), and a hole mask with a rectangle
    per sample. The foreground is small so that the softmax stays soft: every fused score, the
    ones wrapping around row and column ends included, shows in the attention."""
    gen = torch.Generator().manual_seed(seed)
    f = 0.1 * torch.randn(bsz, 4, h, w, generator=gen)
    b = torch.randn(bsz, 4, h, w, generator=gen)
    mask = torch.zeros(bsz, 1, h, w)
    for i in range(bsz):
        mask[i, :, h // 4 + i:h // 2 + 2 * i, w // 3:w // 3 + w // 4 + i] = 1
    return f, b, mask


def _count_chunks(ca: ContextualAttention, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the size of each chunk `ca` attends."""
    sizes: list[int] = []
    attend = ca._attend

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = attend(*args, **kwargs)
        sizes.append(out.shape[0])
        return out

    monkeypatch.setattr(ca, "_attend", spy)
    return sizes


CASES = [  # (batch, h, w, rate, fuse_k, with mask)
    (2, 37, 53, 2, 3, True),
    (1, 37, 53, 2, 3, False),
    (2, 24, 30, 2, 3, True),
    (1, 17, 23, 1, 3, True),
    (2, 21, 26, 2, 5, True),
]


def _budget(chunking: str, hf: int, wf: int, fuse_k: int, fuse: bool) -> int:
    """chunk_bytes that give chunks of one position, half a row, two rows, or the whole grid."""
    per_position = 3 * 4 * hf * wf  # three float32 score rows against all hf * wf patches
    p = fuse_k // 2 if fuse else 0
    positions = {"position": 1, "half-row": (2 * p + 1) * (wf // 2),
                 "two-rows": 2 * wf + 2 * p * (wf + 2), "whole": 10**6}[chunking]
    return per_position * positions


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize(("bsz", "h", "w", "rate", "fuse_k", "masked"), CASES)
@pytest.mark.parametrize("chunking", ["position", "half-row", "two-rows", "whole"])
def test_chunked_attention_equals_the_full_matrix(bsz: int, h: int, w: int, rate: int, fuse_k: int,
                                                  masked: bool, fuse: bool, chunking: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    f, b, mask = _inputs(bsz, h, w)
    mask_arg = mask if masked else None
    hf, wf = -(-h // rate), -(-w // rate)
    ca = ContextualAttention(rate=rate, fuse_k=fuse_k, fuse=fuse,
                             chunk_bytes=_budget(chunking, hf, wf, fuse_k, fuse))
    expected_y, expected_attn = _reference(ca, f, b, mask_arg)
    sizes = _count_chunks(ca, monkeypatch)
    y, attn = ca(f, b, mask_arg, return_attention=True)
    torch.testing.assert_close(y, expected_y, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(attn, expected_attn, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ca(f, b, mask_arg), y, rtol=0, atol=0)  # without the attention
    expected_size = {"position": 1, "half-row": wf // 2, "two-rows": 2 * wf, "whole": hf * wf}[chunking]
    assert sum(sizes) == 2 * bsz * hf * wf
    assert max(sizes) == expected_size


def test_chunks_are_whole_rows_once_a_row_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    f, b, mask = _inputs(1, 37, 53)  # 19 x 27 positions and background patches
    ca = ContextualAttention(chunk_bytes=3 * 513 * 4 * (2 * 29 + 2 * 27))  # two rows + the fusion halo
    sizes = _count_chunks(ca, monkeypatch)
    y = ca(f, b, mask)
    assert sizes == [54] * 9 + [27]
    torch.testing.assert_close(y, _reference(ca, f, b, mask)[0], rtol=1e-5, atol=1e-5)


def test_chunk_size_follows_the_budget() -> None:
    ca = ContextualAttention()
    # 2048 x 1536 image, attention at 1/4 and rate 2: 192 x 256 positions and patches.
    step = ca._chunk_size(256, 192 * 256, 4)
    assert 3 * 4 * 192 * 256 * 3 * step <= ca.chunk_bytes  # the chunk and its fusion neighbours
    assert step > 100
    # A smaller image: whole rows, fewer without fusion's neighbour rows to hold.
    fit = ca.chunk_bytes // (3 * 48 * 64 * 4)  # 682 score rows
    assert ca._chunk_size(64, 48 * 64, 4) == (fit - 2 * 66) // 64 * 64
    assert ContextualAttention(fuse=False)._chunk_size(64, 48 * 64, 4) == fit // 64 * 64


def test_chunked_attention_gradients_equal_the_full_matrix() -> None:
    f, b, mask = _inputs(2, 21, 26, seed=1)
    weight = torch.randn_like(f)
    grads = []
    for chunked in (True, False):
        x, z = f.clone().requires_grad_(True), b.clone().requires_grad_(True)
        ca = ContextualAttention(chunk_bytes=1000)
        y = ca(x, z, mask) if chunked else _reference(ca, x, z, mask)[0]
        (y * weight).sum().backward()
        grads.append((x.grad, z.grad))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-5)


def test_even_kernels_are_rejected() -> None:
    with pytest.raises(ValueError, match="odd"):
        ContextualAttention(fuse_k=2)
