"""The processes of a run under `torchrun` / `accelerate launch` (one process otherwise).

Trainer does the data-parallel training itself (`kre train`, `kre tapt`); kre only needs to
know which process writes (rank 0), to wait for the others, to hand the staging folder to
them, and to agree on rank 0's clock (`rank0_value`, for the time budget).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Ranks:
    """Rank, world size, barrier and broadcast through accelerate's process state (shared with Trainer)."""

    def __init__(self, *, use_cpu: bool) -> None:
        from accelerate import PartialState

        self._state = PartialState(cpu=use_cpu)

    @property
    def is_main(self) -> bool:
        return bool(self._state.is_main_process)

    @property
    def world_size(self) -> int:
        return int(self._state.num_processes)

    @property
    def device(self) -> Any:
        return self._state.device

    def barrier(self) -> None:
        self._state.wait_for_everyone()

    def main_first(self, make: Callable[[], T]) -> T:
        """`make()` on rank 0, then (after a barrier) on the others: rank 0 fills a cache they then open."""
        if self.is_main:
            value = make()
        self.barrier()
        if not self.is_main:
            value = make()
        return value

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` on every rank."""
        if self.world_size == 1:
            return value
        from accelerate.utils import broadcast_object_list

        box = [value]
        broadcast_object_list(box, from_process=0)
        return box[0]


def rank0_value(value: float, device: Any) -> float:
    """Rank 0's `value` on every rank: one float broadcast (`device`: where the backend's tensors
    live, e.g. `TrainingArguments.device`). Without a process group, `value` itself."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return float(value)
    box = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.broadcast(box, src=0)
    return float(box.item())
