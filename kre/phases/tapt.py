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


#: Help of each option (the command's --help text reads it from here; --root, --labels, --seed, --name: commands/_common.py).
HELP: dict[str, str] = {
    "sources": "A splits/ (or augments/) artifact (its train.csv is read), or data files: .csv/.json/.jsonl, .txt one text per line.",
    "model": "Model to continue pretraining: hub id, folder or tapt/<id>.",
    "from_scratch": "Train a new WordPiece tokenizer and a small BERT from random weights (works offline).",
    "extra": "More text: test files, external text (.csv/.json/.jsonl/.txt, hub:NAME[:CONFIG[:SPLIT]]). Repeatable.",
    "include_valid": "Also read the split's valid.csv sentences (no labels are used).",
    "epochs": "Passes over the texts.",
    "mlm_probability": "Share of tokens to mask and predict.",
    "whole_word": "Mask every piece of a chosen word together (when the tokenizer shows words).",
    "max_length": "Truncate texts to this many tokens.",
    "batch_size": "Texts per optimizer step.",
    "lr": "Peak learning rate (default: 1e-3 from scratch, 1e-4 otherwise).",
    "vocab_size": "Tokenizer vocabulary (--from-scratch).",
    "layers": "Encoder layers (--from-scratch).",
    "hidden": "Hidden size (--from-scratch); the feed-forward size is 4x.",
    "heads": "Attention heads (--from-scratch).",
    "fp16": "float16 autocast (CUDA only).",
    "bf16": "bfloat16 autocast (CUDA or CPU).",
    "max_steps": "Stop after this many optimizer steps (a time budget).",
    "time_budget": "Minutes of training, then stop (the learning rate decays by time); default 10 with --from-scratch, else none; 0 = no limit.",
    "threads": "CPU threads (default: torch's; 1 can be faster on a busy shared machine).",
    "resume": "Continue a stopped run of the same command from its last checkpoint.",
    "trainer": "Set any transformers TrainingArguments field, e.g. gradient_checkpointing=true, optim=adafactor, dataloader_num_workers=2. Repeatable; also a [trainer] table in --config.",
}


def tapt(config: TaptConfig) -> Artifact | None:
    """Continue (or start) masked-LM pretraining and publish the model folder; None on non-zero ranks under torchrun."""
    from ..tapt import run_tapt

    values = asdict(config)
    values["extra"] = list(config.extra or [])
    return run_tapt(**values)
