"""Engine failures a user can act on, turned into one-line kre errors."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import TrainingError


class OutOfMemoryError(TrainingError):
    """The GPU ran out of memory (a sweep records the trial as failed and goes on)."""


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's OutOfMemoryError and the older "CUDA out of memory" RuntimeError."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower() and "cuda" in str(exc).lower()


@contextmanager
def translate_engine_errors(batch_size: int, grad_accum: int) -> Iterator[None]:
    """Turn a CUDA out-of-memory error inside the block into OutOfMemoryError (one line).

    The message names the batch size and the ways out: a smaller `--batch-size` with more
    `--grad-accum` (same effective batch), or `--trainer gradient_checkpointing=true`.
    The GPU cache is emptied, so the process (e.g. `kre sweep`) can go on.
    """
    try:
        yield
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        _free_gpu()
        half = max(1, batch_size // 2)
        raise OutOfMemoryError(
            f"CUDA out of memory at --batch-size {batch_size} (--grad-accum {grad_accum})",
            hint=f"try --batch-size {half} --grad-accum {grad_accum * max(1, batch_size // half)} (same effective batch), "
            "or --trainer gradient_checkpointing=true",
        ) from None


def _free_gpu() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
