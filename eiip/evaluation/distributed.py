"""Evaluation in several processes: the ranks a launcher started (torchrun, srun) or N local workers.

Coordination goes through torch.distributed (gloo on CPU, nccl on CUDA); with one process every
collective is a no-op and no process group is created.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from lightning.fabric.plugins.environments import ClusterEnvironment, SLURMEnvironment, TorchElasticEnvironment
from lightning.fabric.plugins.environments.lightning import find_free_network_port

T = TypeVar("T")
LOCALHOST = "127.0.0.1"


@dataclass(frozen=True)
class Ranks:
    """This process's place among the evaluation processes, and where they meet."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    address: str = LOCALHOST
    port: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, items: Sequence[T]) -> list[T]:
        """This rank's items: every world_size-th, starting at its rank."""
        return list(items[self.rank::self.world_size])

    def broadcast(self, value: T) -> T:
        """Rank 0's `value`, on every rank."""
        if self.world_size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait until every rank is here."""
        if self.world_size > 1:
            dist.barrier()

    def main_first(self, make: Callable[[], T]) -> T:
        """`make()` on rank 0, then on the others (which find the files it wrote); rank 0's error is raised on all."""
        if not self.is_main:
            error = self.broadcast(None)
            if error is not None:
                raise error
            return make()
        try:
            result = make()
        except Exception as error:
            self.broadcast(error)
            raise
        self.broadcast(None)
        return result


def _launcher_environment() -> ClusterEnvironment | None:
    """torchrun (or any launcher setting RANK, WORLD_SIZE and LOCAL_RANK), then srun; None for a plain process."""
    if TorchElasticEnvironment.detect() or {"RANK", "WORLD_SIZE", "LOCAL_RANK"} <= os.environ.keys():
        return TorchElasticEnvironment()
    if SLURMEnvironment.detect():
        return SLURMEnvironment()
    return None


def launched_ranks() -> Ranks:
    """The ranks a launcher gave this process; one rank when there is no launcher (or it started one process)."""
    environment = _launcher_environment()
    if environment is None or environment.world_size() == 1:
        return Ranks()
    return Ranks(environment.global_rank(), environment.world_size(), environment.local_rank(),
                 environment.main_address, environment.main_port)


@contextmanager
def process_group(ranks: Ranks, device: torch.device, timeout: timedelta) -> Iterator[None]:
    """The ranks' process group (nccl when `device` is CUDA, else gloo), destroyed on exit; none for one rank.

    `timeout` bounds the wait for the other ranks, at the start and at every collective.
    """
    if ranks.world_size == 1:
        yield
        return
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if cuda else "gloo", init_method=f"tcp://{ranks.address}:{ranks.port}",
                            rank=ranks.rank, world_size=ranks.world_size, timeout=timeout,
                            device_id=device if cuda else None)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _cpu_count() -> int:
    """CPUs this process may run on (its affinity, e.g. a SLURM allocation), else all of the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def spawn(run: Callable[..., Any], workers: int, *args: Any) -> None:
    """`run(ranks, *args)` in `workers` local processes meeting on a free local port; returns when all are done."""
    mp.spawn(_worker, args=(run, workers, find_free_network_port(), args), nprocs=workers)


def _worker(index: int, run: Callable[..., Any], workers: int, port: int, args: tuple[Any, ...]) -> None:
    torch.set_num_threads(max(1, _cpu_count() // workers))
    run(Ranks(index, workers, index, LOCALHOST, port), *args)
