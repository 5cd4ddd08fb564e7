"""The train phase: fine-tune an encoder on a split -> `runs/<id>/` (one training run).

`TrainConfig` (kre.training.config, the one class of training options) says how to train;
`TrainJob` says on what, where, and with which extra Trainer callbacks (sweeps add a pruner).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts import Artifact
from ..training.config import TrainConfig

__all__ = ["TrainConfig", "TrainJob", "train"]


@dataclass
class TrainJob:
    """A training run: the data, the TrainConfig, and what only this run needs (pipeline keys: these and TrainConfig's)."""

    data: str | Path = ""
    config: TrainConfig = field(default_factory=TrainConfig)
    test: str | Path | None = None
    resume: bool = False
    labels: str | Path | None = None
    name: str | None = None
    root: str | Path = "."
    #: extra transformers.TrainerCallback objects (not an option: library callers only)
    callbacks: list[Any] = field(default_factory=list)


def train(job: TrainJob) -> Artifact | None:
    """Train (one model, or k folds) and publish the run; None on non-zero ranks under torchrun."""
    from ..training.training_run import train as train_run

    return train_run(data=job.data, config=job.config, root=Path(job.root), labels=job.labels,
                     test=Path(job.test) if job.test else None, resume=job.resume, slug=job.name,
                     callbacks=list(job.callbacks))
