"""torch.distributed helpers: set up from torchrun's env vars, gather results, rank-0-only work.

A run started by `torchrun --nproc_per_node N -m kre train ...` sees WORLD_SIZE/RANK/
LOCAL_RANK in its environment; a plain `kre train` runs as a world of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError


@dataclass
class DistContext:
    """Where this process stands: rank, world size and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: Any = "cpu"
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def all_gather_object(self, obj: Any) -> list[Any]:
        """Every rank's object, in rank order (just [obj] without DDP)."""
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's object on every rank."""
        if not self.enabled:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks."""
        if not self.enabled:
            return list(values)
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return [float(v) for v in t.tolist()]

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on any rank."""
        return self.sum([1.0 if flag else 0.0])[0] > 0


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def resolve_device(preference: str, local_rank: int = 0) -> Any:
    """`auto` -> cuda when available, else cpu; `cuda` without a GPU is refused."""
    import torch

    has_cuda = torch.cuda.is_available()
    if preference == "cuda" and not has_cuda:
        raise ConfigError("--device cuda: no CUDA GPU is available", hint="use --device auto or cpu")
    if preference == "cpu" or not has_cuda:
        return torch.device("cpu")
    return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))


def init_distributed(device_preference: str = "auto") -> DistContext:
    """Join the process group when launched by torchrun (nccl on CUDA, else gloo)."""
    world = env_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
    device = resolve_device(device_preference, local_rank)
    if world <= 1:
        return DistContext(device=device)
    import torch
    import torch.distributed as dist

    if device.type == "cuda":
        torch.cuda.set_device(device)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, device, owns)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group if this context created it."""
    if ctx.enabled and ctx.owns_group:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
