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
    #: run a learning-rate range test and publish lrfind/<id> instead of training
    find_lr: bool = False
    #: extra transformers.TrainerCallback objects (not an option: library callers only)
    callbacks: list[Any] = field(default_factory=list)


def train(job: TrainJob) -> Artifact | None:
    """Train (one model, or k folds) and publish the run; None on non-zero ranks under torchrun.

    With `find_lr` it publishes the range test's lrfind/<id> instead; with `config.seeds` one run
    per seed (grouped) and returns the last of them (kre.training.seeds has the spread).
    """
    from ..training.training_run import train as train_run

    common = dict(data=job.data, root=Path(job.root), labels=job.labels)
    if job.find_lr:
        from ..errors import ConfigError
        from ..training.lr_finder import find_lr

        if job.config.seeds:
            raise ConfigError("--find-lr and --seeds exclude each other", hint="find the learning rate first, then train with --seeds")
        finding = find_lr(config=job.config, slug=job.name, **common)
        return finding.artifact if finding is not None else None
    test = Path(job.test) if job.test else None
    if job.config.seeds:
        from ..training.seeds import train_seeds

        spread = train_seeds(config=job.config, test=test, resume=job.resume, slug=job.name, **common)
        return spread.runs[-1] if spread is not None else None
    return train_run(config=job.config, test=test, resume=job.resume, slug=job.name, callbacks=list(job.callbacks), **common)
