"""The tapt phase: task-adaptive (masked-LM) pretraining on the task's sentences -> `tapt/<id>/`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts import Artifact


@dataclass
class TaptConfig:
    """Options of `kre tapt` (pipeline keys are these names)."""

    sources: list[str] = field(default_factory=list)
    model: str | None = None
    from_scratch: bool = False
    extra: list[str | Path] = field(default_factory=list)
    include_valid: bool = False
    epochs: float = 1
    mlm_probability: float = 0.15
    whole_word: bool = True
    max_length: int = 128
    batch_size: int = 32
    lr: float | None = None
    vocab_size: int = 8000
    layers: int = 4
    hidden: int = 256
    heads: int = 4
    fp16: bool = False
    bf16: bool = False
    max_steps: int | None = None
    time_budget: float | None = None
    threads: int | None = None
    resume: bool = False
    #: TrainingArguments overrides: KEY=VALUE strings or a table
    trainer: list[str] | dict[str, Any] = field(default_factory=dict)
    seed: int = 42
    name: str | None = None
    root: str | Path = "."


def tapt(config: TaptConfig) -> Artifact:
    """Continue (or start) masked-LM pretraining and publish the model folder."""
    from ..tapt import run_tapt

    values = asdict(config)
    values["extra"] = list(config.extra or [])
    return run_tapt(**values)
