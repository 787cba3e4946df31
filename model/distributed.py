"""Data-parallel training with PyTorch's own engine: DistributedDataParallel in a process group
that `torchrun` starts (gloo on CPU, NCCL on GPU), on one machine or several.

Every rank draws the same minibatch order (one seed) and takes its share of each global batch;
its loss is weighted by its share of the batch's rows, so the all-reduced (averaged) gradient is
the gradient of the whole batch's mean loss, exactly what one process computes. Clipping and
Adam then see the same gradient on every rank. Rank 0 alone reports progress and writes
files. A rank that dies ends the others at the collective time-out, never a hang."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

COLLECTIVE_TIMEOUT_S = 60.0  # a collective that waits longer for a dead rank fails the group


@dataclass(frozen=True)
class Group:
    rank: int
    size: int

    @property
    def leader(self) -> bool:
        """Rank 0: the one that reports, saves and writes the result."""
        return self.rank == 0

    def share(self, rows: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a global batch: every size-th from its rank on."""
        return rows[self.rank :: self.size]

    def total(self, value: float) -> float:
        """The sum of `value` over all ranks."""
        if self.size == 1:
            return value
        import torch
        import torch.distributed as dist

        # NCCL reduces tensors on the rank's GPU only; gloo on the CPU.
        on_gpu = dist.get_backend() == "nccl"
        device = torch.device("cuda", torch.cuda.current_device()) if on_gpu else None
        tensor = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return float(tensor.item())

    def any_rank(self, hook: Callable[[], bool]) -> Callable[[], bool]:
        """`hook` as every rank agrees on it: true on all ranks once it is true on one. A stop
        (a cancel signal reaches each rank at its own moment) then ends every rank before the
        same batch, instead of leaving the others waiting in that batch's all-reduce."""
        if self.size == 1:
            return hook
        return lambda: self.total(float(hook())) > 0.0


SINGLE = Group(0, 1)


def launched_by_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def follower() -> bool:
    """A rank other than 0 of a torchrun group (from the environment, without torch)."""
    return launched_by_torchrun() and int(os.environ.get("RANK", "0")) != 0


def join_group() -> Group:
    """Join the process group torchrun describes in the environment (gloo on CPU)."""
    import torch
    import torch.distributed as dist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S))
    return current_group()


def current_group() -> Group:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return Group(dist.get_rank(), dist.get_world_size())
    return SINGLE


def leave_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
