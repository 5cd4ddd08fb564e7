"""Masked-LM training on `transformers.Trainer`, with kre's parts plugged in: the masked-only
loss, the length-grouped sampler, the mask collator, a learning rate that decays by time under
a time budget, the held-out loss, progress, the NaN guard and checkpoints for `--resume`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..console import debug
from ..engine import (
    EndOfTrainingCallback,
    NonFiniteLossCallback,
    ProgressCallback,
    TimeBudgetCallback,
    replace_default_output,
    training_arguments,
    translate_engine_errors,
)
from ..errors import TrainingError
from ..engine.sampling import LengthGroupedSampler
from .masking import IGNORE, MaskCollator

CHECKPOINTS = "checkpoints"


@dataclass
class MlmConfig:
    """Hyperparameters of one MLM run (kre's options; `overrides` are `--trainer KEY=VALUE`)."""

    epochs: float = 1
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    mlm_probability: float = 0.15
    max_steps: int | None = None
    seed: int = 42
    fp16: bool = False
    bf16: bool = False
    #: train on the CPU (no CUDA GPU, or `--trainer use_cpu=true`); said to TrainingArguments, so that
    #: under torchrun on CPUs it sets up DDP over gloo like `kre.engine.ranks.Ranks` does
    use_cpu: bool = False
    log_every: int | None = None
    save_every: int | None = None
    eval_batch_size: int = 64
    #: Minutes of training after which the run stops; the learning-rate schedule follows
    #: whichever of steps and time is further along, so it still decays to zero.
    time_budget: float | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainResult:
    """What training did."""

    log: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    total_steps: int = 0
    resumed_from: int = 0
    seconds: float = 0.0
    samples_per_second: float | None = None
    stopped_by_time: bool = False


def plan_steps(n_texts: int, cfg: MlmConfig, world_size: int = 1) -> tuple[int, int]:
    """(batches per epoch, total optimizer steps) on `world_size` processes, before any `--trainer` override."""
    per_epoch = math.ceil(n_texts / (cfg.batch_size * max(1, world_size)))
    total = max(1, math.ceil(per_epoch * cfg.epochs))
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    return per_epoch, total


def lr_factor(progress: float, warmup_ratio: float) -> float:
    """Linear warm-up over the first `warmup_ratio` of training, then linear decay to zero."""
    if progress < warmup_ratio:
        return progress / warmup_ratio
    return max(0.0, (1.0 - progress) / max(1e-9, 1.0 - warmup_ratio))


def mlm_loss(model: Any, batch: dict[str, Any], num_items: Any = None) -> Any:
    """Cross-entropy over the masked positions: their mean, or their sum / `num_items`.

    For BERT/RoBERTa-style models the prediction head runs only on the masked
    positions (about 15% of tokens), which saves most of the vocabulary projection.
    """
    import torch.nn.functional as F

    labels = batch["labels"]
    head = getattr(model, "cls", None)
    if head is None:
        head = getattr(model, "lm_head", None)
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    selected = labels != IGNORE
    if head is None or base is None:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[selected]
    else:
        hidden = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        logits = head(hidden[selected])
    if num_items is None:
        return F.cross_entropy(logits.float(), labels[selected])
    return F.cross_entropy(logits.float(), labels[selected], reduction="sum") / num_items


def _trainer_class() -> type:
    from transformers import Trainer

    class MlmTrainer(Trainer):
        """Trainer with kre's masked-only loss, length-grouped order and time-decayed learning rate."""

        def __init__(self, *args: Any, lengths: list[int], budget: TimeBudgetCallback, warmup_ratio: float,
                     **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.lengths = lengths
            self.budget = budget
            self.warmup_ratio = warmup_ratio
            self.model_accepts_loss_kwargs = True  # the loss below normalises by num_items_in_batch

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            # The head-on-masked-positions shortcut needs the bare model; a DDP/compiled wrapper
            # runs its full forward instead (so gradients synchronise).
            bare = self.accelerator.unwrap_model(model) is model
            with self.accelerator.autocast():
                loss = mlm_loss(model if bare else _FullForward(model), inputs, num_items_in_batch)
            if num_items_in_batch is not None and self.args.average_tokens_across_devices:
                # Under DDP num_items_in_batch counts the masked tokens of every rank; DDP then averages
                # the gradients over ranks: scale as Trainer's own compute_loss does, so the step follows
                # the loss over all ranks' tokens (and the logged loss is that loss, not 1/world of it)
                loss = loss * self.accelerator.num_processes
            return (loss, None) if return_outputs else loss

        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            if self.args.train_sampling_strategy != "group_by_length":
                return super()._get_train_sampler(train_dataset)
            size = self._train_batch_size * self.args.gradient_accumulation_steps
            return LengthGroupedSampler(self.lengths, size, self.args.seed, on_epoch=self.data_collator.set_epoch)

        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            if self.budget.seconds <= 0 or self.lr_scheduler is not None:
                return super().create_scheduler(num_training_steps, optimizer)
            from torch.optim.lr_scheduler import LambdaLR

            budget, warmup = self.budget, self.warmup_ratio

            def factor(step: int) -> float:
                return lr_factor(min(1.0, max((step + 1) / num_training_steps, budget.fraction_spent())), warmup)

            self.lr_scheduler = LambdaLR(optimizer or self.optimizer, factor)
            self._created_lr_scheduler = True
            return self.lr_scheduler

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            if "loss" in logs:
                logs["seconds"] = round(self.budget.elapsed(), 1)
            super().log(logs, start_time)

    return MlmTrainer


class _FullForward:
    """A model seen without its head/base attributes, so `mlm_loss` calls its forward."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def __call__(self, **kwargs: Any) -> Any:
        return self._model(**kwargs)


def build_trainer(model: Any, tokenizer: Any, train_data: Any, collator: MaskCollator, cfg: MlmConfig,
                  output_dir: Path, *, world_size: int = 1) -> Any:
    """The Trainer for one MLM run on `world_size` processes; checkpoints (for `--resume`) go to `output_dir`."""
    per_epoch, total = plan_steps(len(train_data), cfg, world_size)
    base: dict[str, Any] = {
        "per_device_train_batch_size": cfg.batch_size,
        "per_device_eval_batch_size": cfg.eval_batch_size,
        "learning_rate": cfg.lr,
        "weight_decay": cfg.weight_decay,
        "warmup_steps": cfg.warmup_ratio,  # below 1: a share of the steps
        "adam_beta2": 0.98,
        "adam_epsilon": 1e-6,
        "max_grad_norm": cfg.max_grad_norm,
        "num_train_epochs": cfg.epochs,
        "max_steps": cfg.max_steps or -1,
        "seed": cfg.seed,
        "fp16": cfg.fp16,
        "bf16": cfg.bf16,
        "use_cpu": cfg.use_cpu,
        "logging_steps": cfg.log_every or max(1, total // 50),
        "save_strategy": "steps",
        "save_steps": cfg.save_every or max(50, total // 10),
        "save_total_limit": 1,  # checkpoints exist only for --resume
        "train_sampling_strategy": "group_by_length",
        "eval_strategy": "no",
    }
    args = training_arguments(output_dir, base, cfg.overrides)
    budget = TimeBudgetCallback(cfg.time_budget or 0.0)
    callbacks = [budget, NonFiniteLossCallback(), ProgressCallback("MLM training"), EndOfTrainingCallback()]
    trainer = _trainer_class()(
        model=model,
        args=args,
        data_collator=collator,
        train_dataset=train_data,
        processing_class=tokenizer,
        callbacks=callbacks,
        lengths=[int(x) for x in np.asarray(train_data["length"])],
        budget=budget,
        warmup_ratio=cfg.warmup_ratio,
    )
    replace_default_output(trainer)
    return trainer


def last_checkpoint(folder: Path) -> Path | None:
    """The newest `checkpoint-N` folder Trainer left in `folder` (None when there is none)."""
    from transformers.trainer_utils import get_last_checkpoint

    if not folder.is_dir():
        return None
    found = get_last_checkpoint(str(folder))
    return Path(found) if found else None


def train_mlm(trainer: Any, *, resume_from: Path | None = None) -> TrainResult:
    """Run `trainer` (continuing from the checkpoint `resume_from`); returns what it did."""
    args = trainer.args
    with translate_engine_errors(args.per_device_train_batch_size, args.gradient_accumulation_steps):
        output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    state = trainer.state
    log = [
        {"step": e["step"], "epoch": round(float(e.get("epoch", 0.0)), 4), "loss": float(e["loss"]),
         "learning_rate": float(e.get("learning_rate", 0.0)), "seconds": float(e.get("seconds", 0.0))}
        for e in state.log_history
        if "loss" in e and "step" in e
    ]
    if not log:
        raise TrainingError("training ended before any step was logged")
    resumed = _resumed_step(resume_from)
    debug(f"MLM training: {state.global_step} steps ({resumed} before the resume)")
    return TrainResult(
        log=log,
        steps=state.global_step,
        total_steps=state.max_steps,
        resumed_from=resumed,
        seconds=trainer.budget.elapsed(),
        samples_per_second=output.metrics.get("train_samples_per_second"),
        stopped_by_time=trainer.budget.stopped,
    )


def _resumed_step(checkpoint: Path | None) -> int:
    if checkpoint is None:
        return 0
    try:
        return int(checkpoint.name.rsplit("-", 1)[-1])
    except ValueError:
        return 0


def heldout_loss(trainer: Any, data: Any, collator: MaskCollator, batch_size: int) -> float:
    """Masked-LM loss per masked token on held-out texts, longest first, masks fixed by the seed."""
    import torch

    if len(data) == 0:
        return float("nan")
    model = trainer.accelerator.unwrap_model(trainer.model)
    device = trainer.args.device
    lengths = np.asarray(data["length"])
    order = np.argsort(-lengths, kind="stable").tolist()
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), trainer.accelerator.autocast():
        for start in range(0, len(order), batch_size):
            batch = collator([data[int(i)] for i in order[start : start + batch_size]])
            batch = {k: v.to(device) for k, v in batch.items()}
            n = int((batch["labels"] != IGNORE).sum())
            total += float(mlm_loss(model, batch, num_items=1))
            count += n
    model.train(was_training)
    return total / max(count, 1)
