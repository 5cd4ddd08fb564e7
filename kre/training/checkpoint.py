"""Resumable training state: weights (safetensors), optimizer/scheduler/RNG state (torch.save).

Only our own files are loaded, and always with `weights_only=True`.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TrainingError

CHECKPOINT = "checkpoint"


@dataclass
class TrainerState:
    """Where training stands (all plain values, so it can be saved with weights_only)."""

    step: int = 0
    epoch: int = 0
    group_in_epoch: int = 0  # next optimizer-step group of the epoch
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    bad_evals: int = 0
    loss_sum: float = 0.0  # train loss since the last evaluation (sum over samples)
    loss_count: int = 0
    samples: int = 0  # training samples seen (all ranks)
    train_seconds: float = 0.0
    stopped_early: bool = False
    done: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainerState":
        return cls(**data)


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states as weights_only-safe values."""
    import torch

    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": _listify(random.getstate()),
        "numpy": [np_state[0], torch.from_numpy(np.asarray(np_state[1]).astype(np.int64)), *map(_plain, np_state[2:])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import torch

    random.setstate(_tuplify(state["python"]))
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np_state[1].numpy().astype(np.uint32), *np_state[2:]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _listify(v: Any) -> Any:
    return [_listify(x) for x in v] if isinstance(v, (tuple, list)) else v


def _tuplify(v: Any) -> Any:
    return tuple(_tuplify(x) for x in v) if isinstance(v, list) else v


def save_checkpoint(
    folder: Path,
    *,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    scaler: Any,
    state: TrainerState,
    rngs: list[dict[str, Any]],
    best_probs: np.ndarray | None,
) -> None:
    """Write `folder/checkpoint/` atomically (a temporary folder renamed into place)."""
    import torch
    from safetensors.torch import save_model

    final = folder / CHECKPOINT
    tmp = folder / (CHECKPOINT + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, str(tmp / "model.safetensors"))
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "trainer": state.to_dict(),
            "rng": rngs,
        },
        tmp / "state.pt",
    )
    if best_probs is not None:
        np.save(tmp / "best_probs.npy", np.asarray(best_probs, dtype=np.float64), allow_pickle=False)
    old = folder / (CHECKPOINT + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def has_checkpoint(folder: Path) -> bool:
    return (folder / CHECKPOINT / "state.pt").is_file()


def load_checkpoint(folder: Path, *, model: Any, device: Any) -> tuple[dict[str, Any], np.ndarray | None]:
    """Load weights into `model`; return the saved state dict and the best validation probs."""
    import torch
    from safetensors.torch import load_model

    path = folder / CHECKPOINT
    try:
        load_model(model, str(path / "model.safetensors"), device=str(device))
        saved = torch.load(path / "state.pt", map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any broken checkpoint becomes one line
        raise TrainingError(
            f"{path}: cannot resume from this checkpoint ({type(exc).__name__}: {exc})",
            hint="run again without --resume to start over",
        ) from None
    probs_path = path / "best_probs.npy"
    best_probs = np.load(probs_path, allow_pickle=False) if probs_path.exists() else None
    return saved, best_probs


def remove_checkpoints(folder: Path) -> None:
    """Delete every checkpoint folder below `folder` (before publishing)."""
    for name in (CHECKPOINT, CHECKPOINT + ".tmp", CHECKPOINT + ".old"):
        for path in folder.rglob(name):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
