"""The peak memory of the tensors a function allocates, measured the same way on any device.

Resident memory cannot tell it (an allocator keeps and reuses freed blocks) and CUDA's counters exist on
CUDA only, so :func:`peak_tensor_bytes` watches every tensor operation (a ``TorchDispatchMode``): each
new storage adds its bytes while a tensor of the run still holds it, and the largest total is the peak.
Memory held outside tensors (a NumPy or OpenCV buffer) is not counted.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

__all__ = ["peak_tensor_bytes"]


class _LiveStorages(TorchDispatchMode):
    """Counts the bytes of the storages that operations create, while a tensor of the run refers to them."""

    def __init__(self) -> None:
        super().__init__()
        self.holders: dict[int, int] = {}  # storage address -> tensors of the run that hold it
        self.live = 0
        self.peak = 0

    def _release(self, address: int, size: int) -> None:
        self.holders[address] -= 1
        if not self.holders[address]:
            del self.holders[address]
            self.live -= size

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if not isinstance(tensor, torch.Tensor) or tensor.device.type == "meta":
                continue
            storage = tensor.untyped_storage()
            address, size = storage.data_ptr(), storage.nbytes()
            if address not in self.holders:
                self.holders[address] = 0
                self.live += size
                self.peak = max(self.peak, self.live)
            self.holders[address] += 1
            weakref.finalize(tensor, self._release, address, size)
        return out


def peak_tensor_bytes(function: Callable[[], Any]) -> int:
    """The peak bytes of tensor storage that ``function()`` allocated and held at once (its result is dropped)."""
    with _LiveStorages() as watcher:
        function()
    return watcher.peak
