"""The per-level generator of the internal stage: a small ResNet mapping monochrome (+ coarser color) to RGB.

Architecture of the authors' release: 3x3 conv in->width + LeakyReLU(0.2); `blocks` residual blocks
[conv3x3 (no bias), BatchNorm, LeakyReLU(0.2), conv3x3 (no bias), BatchNorm] + identity skip;
conv3x3 width->width + BatchNorm; conv3x3 width->3 + Sigmoid; reflection padding everywhere.
With `sigmoid=False` the head is linear and starts at zero (the chroma-only output, see
eiip.colorize.internal.chroma: a fresh generator starts from the gray image, as a sigmoid head starts near 0.5).
"""

from __future__ import annotations

import torch
from torch import nn


def _conv3x3(in_channels: int, out_channels: int, *, bias: bool = True) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(in_channels, out_channels, 3, bias=bias))


class ResidualBlock(nn.Module):
    """conv-BN-LeakyReLU-conv-BN with an identity skip."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv3x3(width, width, bias=False),
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2, inplace=True),
            _conv3x3(width, width, bias=False),
            nn.BatchNorm2d(width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ColorGenerator(nn.Module):
    """One pyramid level's generator: (B, in_channels, H, W) -> (B, out_channels, H, W), in (0, 1) with the sigmoid."""

    def __init__(
        self, in_channels: int, out_channels: int = 3, width: int = 32, blocks: int = 8, *, sigmoid: bool = True
    ) -> None:
        super().__init__()
        self.net = nn.Sequential(
            _conv3x3(in_channels, width),
            nn.LeakyReLU(0.2, inplace=True),
            *(ResidualBlock(width) for _ in range(blocks)),
            _conv3x3(width, width),
            nn.BatchNorm2d(width),
            _conv3x3(width, out_channels),
            *([nn.Sigmoid()] if sigmoid else []),
        )
        if not sigmoid:
            head = self.net[-1][1]
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def inherit_weights(target: nn.Module, source: nn.Module) -> None:
    """Warm start: copy `source`'s tensors into `target`'s (same architecture up to input channels).

    A tensor with fewer input channels in `source` (the first convolution of level 0, which sees the
    monochrome only) fills the leading input channels; the extra ones (the previous level's RGB)
    start at zero, so the warm-started level first reproduces `source`'s mapping.
    """
    sources = dict(source.state_dict())
    with torch.no_grad():
        for name, tensor in target.state_dict().items():
            inherited = sources[name]
            if inherited.shape == tensor.shape:
                tensor.copy_(inherited)
            elif inherited.ndim == 4 and inherited.shape[0] == tensor.shape[0] and inherited.shape[1] < tensor.shape[1]:
                tensor.zero_()
                tensor[:, : inherited.shape[1]].copy_(inherited)
            else:
                raise ValueError(f"cannot inherit {name}: shape {tuple(inherited.shape)} -> {tuple(tensor.shape)}")
