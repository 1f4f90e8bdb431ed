"""K generators of one architecture packed side by side into one network of grouped convolutions.

Image k's channels occupy block k of every packed activation, (1, K*C, H, W). Every Conv2d becomes a
convolution with K times the groups whose weights are the K convolutions' weights stacked, every
BatchNorm2d one over K*C channels. With batch size 1 a BatchNorm's per-channel statistics are each
image's own, so the K networks never interact: the packed forward is the K forwards, and a sum of
per-image losses gives every generator exactly its own gradient (Adam being elementwise, the K
optimizations stay independent too).

Numerically, oneDNN's grouped convolutions sum in another order than the plain ones, so outputs and
gradients differ by float rounding. (With oneDNN disabled, PyTorch runs a grouped convolution group
by group with the plain kernel, and packed training reproduces separate training bit for bit when
each image's block of an activation is a multiple of the SIMD width: elementwise kernels such as
Sigmoid round their vectorized part and their scalar tail differently.)
Training amplifies these differences: Adam's first steps are about lr * sign(gradient), and the sign
of a near-zero gradient, such as that of a shift the next BatchNorm cancels, is down to rounding; so
within a few steps packed and separate training give different fits of the same quality.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn.utils import skip_init


def _own_tensors(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]


def _like(module: nn.Module) -> dict[str, object]:
    """Device and dtype of the module's floating tensors, as factory keyword arguments."""
    tensor = next(t for _, t in _own_tensors(module) if t.is_floating_point())
    return {"device": tensor.device, "dtype": tensor.dtype}


def _copy_stacked(packed: nn.Module, modules: Sequence[nn.Module]) -> nn.Module:
    """Fill packed's tensors with the modules' ones stacked along dim 0 (scalars: the first module's)."""
    with torch.no_grad():
        for name, tensor in _own_tensors(packed):
            sources = [getattr(m, name).detach() for m in modules]
            tensor.copy_(sources[0] if tensor.ndim == 0 else torch.cat(sources))
    return packed


# skip_init builds a layer without initialising its weights, so packing leaves the global RNG untouched.


def _pack_conv(convs: Sequence[nn.Conv2d]) -> nn.Conv2d:
    first, count = convs[0], len(convs)
    packed = skip_init(
        nn.Conv2d,
        count * first.in_channels,
        count * first.out_channels,
        first.kernel_size,
        stride=first.stride,
        padding=first.padding,
        dilation=first.dilation,
        groups=count * first.groups,
        bias=first.bias is not None,
        padding_mode=first.padding_mode,
        **_like(first),
    )
    return _copy_stacked(packed, convs)


def _pack_batch_norm(norms: Sequence[nn.BatchNorm2d]) -> nn.BatchNorm2d:
    first = norms[0]
    packed = skip_init(
        nn.BatchNorm2d,
        len(norms) * first.num_features,
        eps=first.eps,
        momentum=first.momentum,
        affine=first.affine,
        track_running_stats=first.track_running_stats,
        **_like(first),
    )
    return _copy_stacked(packed, norms)


_PACKERS: dict[type[nn.Module], Callable[[Sequence[nn.Module]], nn.Module]] = {
    nn.Conv2d: _pack_conv,
    nn.BatchNorm2d: _pack_batch_norm,
}


def _architecture(module: nn.Module) -> list[tuple[str, type, str, tuple[torch.Size, ...]]]:
    """Every submodule's name, type and settings, with its own tensors' shapes."""
    return [
        (name, type(sub), sub.extra_repr(), tuple(t.shape for _, t in _own_tensors(sub)))
        for name, sub in module.named_modules()
    ]


def pack_generators(generators: Sequence[nn.Module]) -> nn.Module:
    """A copy of generators[0] whose Conv2d and BatchNorm2d layers run all `generators` side by side.

    The copy maps packed (1, K*C_in, H, W) inputs to packed (1, K*C_out, H, W) outputs. Raises
    ValueError when the generators differ in architecture and TypeError for a layer with weights
    other than Conv2d and BatchNorm2d.
    """
    if not generators:
        raise ValueError("nothing to pack: no generators given")
    first = generators[0]
    if any(_architecture(g) != _architecture(first) for g in generators[1:]):
        raise ValueError("only generators of one architecture can be packed")
    packed = copy.deepcopy(first)
    for name, module in first.named_modules():
        packer = _PACKERS.get(type(module))
        if packer is not None:
            packed.set_submodule(name, packer([g.get_submodule(name) for g in generators]).train(module.training))
        elif _own_tensors(module):
            raise TypeError(f"cannot pack {type(module).__name__} at {name!r}: only Conv2d and BatchNorm2d")
    return packed


class PackedGenerators(nn.Module):
    """K generators of one architecture as one network: (K, C_in, H, W) -> (K, C_out, H, W).

    Output k is generator k's output on input k. The packed weights are copies: training this
    module leaves the given generators untouched.
    """

    def __init__(self, generators: Sequence[nn.Module]) -> None:
        super().__init__()
        self.count = len(generators)
        self.net = pack_generators(generators)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """(K, C, H, W) -> (K, C_out, H, W), or (K, B, C, H, W) -> (K, B, C_out, H, W) for B crops per image
        (a BatchNorm then normalizes each image's channels over its own B crops)."""
        if batch.ndim not in (4, 5) or batch.shape[0] != self.count:
            raise ValueError(f"expected a batch of {self.count} images (K, [B,] C, H, W), got {tuple(batch.shape)}")
        crops = batch.shape[1] if batch.ndim == 5 else 1
        packed = batch.reshape(self.count, crops, *batch.shape[-3:]).transpose(0, 1).reshape(crops, -1, *batch.shape[-2:])
        if self.count > 1 and packed.device.type == "cpu" and torch.backends.mkldnn.enabled:
            # oneDNN's grouped convolutions run about 1.3x faster channels-last (measured at 64x64, width 32);
            # a single generator keeps the plain layout, hence exactly the computation of unbatched fitting.
            packed = packed.contiguous(memory_format=torch.channels_last)
        output = self.net(packed)
        output = output.reshape(crops, self.count, -1, *output.shape[-2:]).transpose(0, 1)
        return output if batch.ndim == 5 else output[:, 0]
