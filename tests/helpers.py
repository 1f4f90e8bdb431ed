"""Small helpers shared by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


def count_parameters(module: torch.nn.Module) -> int:
    """Number of parameters of a module."""
    return sum(p.numel() for p in module.parameters())


def generator_inputs(channels: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random (1, channels, size, size) image, zero in a rectangular hole, and that (1, 1, size, size) hole."""
    generator = torch.Generator().manual_seed(seed)
    hole = torch.zeros(1, 1, size, size)
    hole[..., size // 4: size // 2, size // 3: 2 * size // 3] = 1.0
    image = torch.rand(1, channels, size, size, generator=generator) * (1.0 - hole)
    return image, hole


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """`eiip ARGV` in this process: exit code, stdout, stderr."""
    from eiip.cli import main

    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def file_bytes(directory: Path) -> dict[str, bytes]:
    """Every file of `directory` by name, with its bytes."""
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}
