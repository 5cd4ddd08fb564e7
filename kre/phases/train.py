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

__all__ = ["HELP", "TrainConfig", "TrainJob", "train"]


#: Help of each option (the command's --help text reads it from here; --root, --labels, --name: commands/_common.py).
HELP: dict[str, str] = {
    "data": "A splits/ or augments/ artifact: folder, KIND/latest or KIND/NNNN.",
    "model": "[required] Hub id, local model folder, or a tapt/<id> artifact (here or in --config).",
    "marker": "Input template (entity markers).",
    "query": "Add a question segment naming the pair and types.",
    "type_words": "How entity types are written.",
    "head": "Classifier head.",
    "loss": "Training loss (label smoothing 0.1 did best on KLUE-RE).",
    "smoothing": "Label smoothing (--loss label-smoothing).",
    "gamma": "Focal loss gamma (--loss focal).",
    "class_weights": "Per-class loss weights from train counts.",
    "dropout": "Head dropout.",
    "epochs": "Training epochs.",
    "max_steps": "Stop after this many optimizer steps (0 = no limit).",
    "lr": "Peak learning rate, or auto:lrfind/<id> (the suggestion of a --find-lr artifact).",
    "batch_size": "Training batch size per process.",
    "eval_batch_size": "Evaluation batch size.",
    "warmup_ratio": "Fraction of steps for linear warmup.",
    "weight_decay": "AdamW weight decay.",
    "optimizer": "Optimizer.",
    "freeze_ratio": "Freeze this lower fraction of encoder layers.",
    "max_length": "Max tokens (entity-aware truncation).",
    "fp16": "float16 mixed precision (CUDA).",
    "bf16": "bfloat16 mixed precision (CUDA or CPU).",
    "grad_accum": "Gradient accumulation steps.",
    "seed": "Random seed.",
    "eval_every": "Evaluate every N steps (0 = every epoch).",
    "early_stopping": "Stop after N evaluations without a better F1 (0 = off).",
    "restrict_types": "Mask labels impossible for the subject type.",
    "report_to": "Experiment tracker (metrics.json is always written).",
    "folds": "K-fold training with the split's folds.csv (0 = use valid.csv).",
    "fold": "Train only this fold (0-based) of --folds.",
    "device": "Device (auto = CUDA when available).",
    "trainer": "Any transformers.TrainingArguments field, e.g. gradient_checkpointing=true (repeatable; also a [trainer] table in --config).",
    "seeds": "One run per seed, grouped; prints mean ± std of valid micro F1 and AUPRC.",
    "calibrate": "Fit a temperature on the validation probabilities; apply it to valid/test probs and in kre predict.",
    "curriculum": "First epoch easy to hard (token length, or a k-fold RUN's gold probability).",
    "find_lr": "Run a learning-rate range test instead of training; publishes lrfind/<id>.",
    "test": "Also write probs.csv for this (test) file.",
    "resume": "Continue a stopped run with the same options.",
}


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
