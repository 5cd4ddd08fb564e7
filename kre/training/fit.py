"""One model trained with `transformers.Trainer`: kre's loss, metrics, best-model saving and batching.

`RelationTrainer` plugs kre's parts into Trainer: the loss (`kre.modeling.losses`), no
weight decay on biases, norms and the frozen embedding matrix, sequential evaluation of a
length-sorted validation set. `fit_model` builds the TrainingArguments (kre's options,
then `--trainer` overrides), runs Trainer (resuming from the newest checkpoint in
`workdir/checkpoints` when asked) and keeps the best model by validation micro F1 in
`workdir/model/` (weights, tokenizer and kre metadata only); the best validation
probabilities go to `workdir/best_valid_probs.npy` (float32), and every evaluation (with
per-class scores) to `workdir/evaluations.jsonl`, so a resumed run knows them all.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import console
from ..errors import TrainingError
from ..labels import LabelSet
from ..metrics import evaluate
from .config import TrainConfig

CHECKPOINTS = "checkpoints"
BEST_PROBS = "best_valid_probs.npy"
EVALUATIONS = "evaluations.jsonl"
METRIC_KEYS = ("micro_f1", "auprc", "accuracy")


@dataclass
class FitResult:
    """What training one model produced (on every rank)."""

    model_dir: Path  # the best model (written by rank 0)
    train_log: list[dict[str, float]]  # every logged step: step, epoch, loss, learning_rate
    evaluations: list[dict[str, Any]]  # every evaluation: step, epoch, loss, metrics, per_class, train_loss
    best: dict[str, Any]
    best_probs: np.ndarray  # validation probabilities (dataset order) at the best evaluation
    steps: int
    stopped_early: bool
    samples: int = 0
    train_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def length_order(lengths: Sequence[int]) -> np.ndarray:
    """Indices sorting rows longest first (stable): evaluation batches with the least padding."""
    return np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")


def restore_order(sorted_values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Undo `values[order]`: row `order[k]` gets `sorted_values[k]`."""
    out = np.empty_like(sorted_values)
    out[order] = sorted_values
    return out


def relation_trainer_class() -> type:
    """`RelationTrainer` (built on first use so that importing kre does not import transformers)."""
    global _TRAINER_CLASS
    if _TRAINER_CLASS is None:
        _TRAINER_CLASS = _define_trainer()
    return _TRAINER_CLASS


_TRAINER_CLASS: type | None = None


def _define_trainer() -> type:
    from torch.utils.data import SequentialSampler
    from transformers import Trainer

    from ..engine.sampling import LengthGroupedSampler

    class RelationTrainer(Trainer):
        """Trainer with kre's loss; evaluation in dataset order (kre sorts the data by length first)."""

        def __init__(self, *args: Any, loss_fn: Any, curriculum_order: Any = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # kre's losses are batch means: Trainer must divide them by the accumulation steps itself
            # (a model that "accepts loss kwargs" would be trusted to have done so already)
            self.model_accepts_loss_kwargs = False
            self.loss_fn = loss_fn
            self.curriculum_order = curriculum_order  # `--curriculum`: epoch 0's row order (kre.training.curriculum)

        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            if self.args.train_sampling_strategy == "group_by_length" and "length" in dataset.column_names:
                # kre's length grouping, batch order shuffled (Trainer's sorts runs of 50 batches by length)
                size = self._train_batch_size * self.args.gradient_accumulation_steps
                sampler: Any = LengthGroupedSampler(dataset["length"], size, self.args.seed)
            else:
                sampler = super()._get_train_sampler(train_dataset)
            if self.curriculum_order is None or sampler is None:
                return sampler
            from .curriculum import CurriculumSampler

            return CurriculumSampler(self.curriculum_order, sampler)

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            labels = inputs["labels"]
            logits = model(**{k: v for k, v in inputs.items() if k != "labels"})
            loss = self.loss_fn(logits.float(), labels)
            return (loss, {"logits": logits}) if return_outputs else loss

        def get_decay_parameter_names(self, model: Any) -> list[str]:
            names = super().get_decay_parameter_names(model)
            flagged = {n for n, p in model.named_parameters() if getattr(p, "_kre_no_decay", False)}
            return [n for n in names if n not in flagged]

        def _get_eval_sampler(self, eval_dataset: Any) -> Any:
            # never the length-grouped sampler (its order is shuffled): under DDP, None lets accelerate
            # shard in order, and gathering keeps the dataset order
            return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None

    return RelationTrainer


def _probs_from_logits(logits: Any, labels: Any) -> Any:
    """Evaluation keeps float32 probabilities, not logits in the training dtype."""
    import torch

    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    return torch.softmax(logits.float(), dim=-1)


class _Evaluations:
    """compute_metrics for Trainer plus the per-evaluation record kre keeps (per-class scores, probs)."""

    def __init__(self, gold_sorted: np.ndarray, mask_sorted: np.ndarray | None, labels: LabelSet) -> None:
        self.gold = gold_sorted
        self.mask = mask_sorted
        self.labels = labels
        self.last_probs: np.ndarray | None = None
        self.last_per_class: dict[str, Any] = {}

    def __call__(self, eval_pred: Any) -> dict[str, float]:
        from ..modeling.restrict import apply_type_mask

        probs = np.asarray(eval_pred.predictions, dtype=np.float32)[: len(self.gold)]
        if self.mask is not None:
            probs = apply_type_mask(probs, self.mask).astype(np.float32)
        scores = evaluate(self.gold, probs, self.labels)
        self.last_probs = probs
        self.last_per_class = scores.get("per_class", {})
        return {k: float(scores[k]) for k in METRIC_KEYS}


def _best_callback(workdir: Path, evals: _Evaluations, save_best: Callable[[Any, Path], None],
                   order: np.ndarray, description: str) -> Any:
    from transformers import TrainerCallback

    class BestModel(TrainerCallback):
        """After every evaluation: record it; on a better micro F1 save the model and the probabilities (rank 0)."""

        def __init__(self) -> None:
            self.best = -math.inf

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            scores = [h["eval_micro_f1"] for h in state.log_history if "eval_micro_f1" in h]
            self.best = max(scores) if scores else -math.inf

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, model: Any = None,
                        **kwargs: Any) -> None:
            if not metrics or "eval_micro_f1" not in metrics:
                return
            f1 = float(metrics["eval_micro_f1"])
            better = f1 > self.best
            if state.is_world_process_zero:
                record = {"step": state.global_step, "epoch": round(float(state.epoch or 0.0), 4),
                          "loss": metrics.get("eval_loss"), **{k: metrics[f"eval_{k}"] for k in METRIC_KEYS},
                          "per_class": evals.last_per_class}
                with (workdir / EVALUATIONS).open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                if better and evals.last_probs is not None:
                    _save_atomic(workdir, model, save_best)
                    np.save(workdir / BEST_PROBS, restore_order(evals.last_probs, order))
            if better:
                self.best = f1
            console.debug(f"{description} step {state.global_step}: valid F1 {f1:.2f}")

    return BestModel()


def _step_timer(samples_per_step: int) -> Any:
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Seconds spent in training steps only (not evaluation, checkpointing or set-up after the first step)."""

        def __init__(self) -> None:
            self.seconds = 0.0
            self.steps = 0
            self.mark = 0.0

        def _now(self) -> float:
            return time.perf_counter()

        def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
            self.mark = self._now()

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            now = self._now()
            self.seconds += now - self.mark
            self.steps += 1
            self.mark = now

        def on_evaluate(self, *args: Any, **kwargs: Any) -> None:
            self.mark = self._now()

        def on_save(self, *args: Any, **kwargs: Any) -> None:
            self.mark = self._now()

        @property
        def samples(self) -> int:
            return self.steps * samples_per_step

    return StepTimer()


def _save_atomic(workdir: Path, model: Any, save_best: Callable[[Any, Path], None]) -> None:
    final, tmp = workdir / "model", workdir / "model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    save_best(model, tmp)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)


def latest_checkpoint(workdir: Path) -> Path | None:
    """The newest Trainer checkpoint of `workdir`, if any."""
    folder = workdir / CHECKPOINTS
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()]
    return max(found, key=lambda p: int(p.name[11:])) if found else None


def base_arguments(config: TrainConfig, *, cuda: bool) -> dict[str, Any]:
    """kre's options as TrainingArguments fields (before `--trainer` overrides)."""
    evaluate_steps = config.eval_every > 0
    args: dict[str, Any] = {
        "learning_rate": config.lr,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.eval_batch_size,
        "num_train_epochs": float(max(config.epochs, 1)),
        "max_steps": config.max_steps if config.max_steps > 0 else -1,
        "gradient_accumulation_steps": config.grad_accum,
        "weight_decay": config.weight_decay,
        "warmup_steps": config.warmup_ratio,  # a float below 1 is a fraction of the steps
        "lr_scheduler_type": "linear",
        "max_grad_norm": 1.0,
        "optim": "adafactor" if config.optimizer == "adafactor" else "adamw_torch",
        "seed": config.seed,
        "fp16": config.fp16,
        "bf16": config.bf16,
        "use_cpu": config.device == "cpu" or not cuda,
        "eval_strategy": "steps" if evaluate_steps else "epoch",
        "save_strategy": "steps" if evaluate_steps else "epoch",
        "save_total_limit": 1,  # checkpoints exist only for --resume
        "metric_for_best_model": "micro_f1",
        "greater_is_better": True,
        "load_best_model_at_end": False,  # kre saves the best model itself, weights only
        "logging_steps": 0.01,  # 100 training-loss points per run (a float below 1 is a fraction)
        "logging_first_step": True,
        "logging_nan_inf_filter": False,  # a NaN loss is reported, not hidden (and no per-step sync)
        "train_sampling_strategy": "group_by_length",
        "length_column_name": "length",
        "label_names": ["labels"],
        "report_to": config.report_to,
        "ddp_find_unused_parameters": False,
        "dataloader_num_workers": 0,
        "log_level": "error",  # no transformers warnings between kre's progress lines
    }
    if evaluate_steps:
        args["eval_steps"] = config.eval_every
        args["save_steps"] = config.eval_every
    return args


def fit_model(
    *,
    config: TrainConfig,
    model: Any,
    tokenizer: Any,
    train_set: Any,
    valid_set: Any,
    valid_gold: np.ndarray,
    valid_mask: np.ndarray | None,
    labels: LabelSet,
    workdir: Path,
    save_best: Callable[[Any, Path], None],
    resume: bool,
    description: str,
    callbacks: Sequence[Any] = (),
    curriculum_order: np.ndarray | None = None,
) -> FitResult:
    """Train one model with Trainer; see the module docstring. Rank 0 writes into `workdir`."""
    import torch
    from transformers import EarlyStoppingCallback

    from ..engine import (
        EndOfTrainingCallback,
        NonFiniteLossCallback,
        ProgressCallback,
        replace_default_output,
        training_arguments,
        translate_engine_errors,
    )
    from ..modeling.collate import Collator
    from ..modeling.losses import build_loss

    cuda = torch.cuda.is_available() and config.device != "cpu"
    args = training_arguments(workdir / CHECKPOINTS, base_arguments(config, cuda=cuda), config.trainer)
    counts = np.bincount(np.asarray(train_set["labels"], dtype=np.int64), minlength=len(labels))
    loss_fn = build_loss(config.loss, len(labels), class_counts=counts.tolist(), smoothing=config.smoothing,
                         gamma=config.gamma, class_weights=config.class_weights)
    order = length_order(valid_set["length"])
    valid_sorted = valid_set.select(order)
    evals = _Evaluations(valid_gold[order], valid_mask[order] if valid_mask is not None else None, labels)
    best_cb = _best_callback(workdir, evals, save_best, order, description)
    timer = _step_timer(config.batch_size * config.grad_accum * int(args.world_size))
    cbs: list[Any] = [best_cb, timer, ProgressCallback(description), NonFiniteLossCallback(), *callbacks]
    if config.early_stopping:
        cbs.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping))
    cbs.append(EndOfTrainingCallback())  # no last-step checkpoint written only to be deleted
    trainer = relation_trainer_class()(
        model=model, args=args, train_dataset=train_set, eval_dataset=valid_sorted,
        data_collator=Collator(tokenizer.pad_token_id), compute_metrics=evals,
        preprocess_logits_for_metrics=_probs_from_logits, callbacks=cbs, loss_fn=loss_fn,
        curriculum_order=curriculum_order,
    )
    replace_default_output(trainer)  # kre's ProgressCallback reports instead of printing dicts
    checkpoint = latest_checkpoint(workdir) if resume else None
    if trainer.is_world_process_zero():
        workdir.mkdir(parents=True, exist_ok=True)
        if checkpoint is None:  # a fresh start forgets the evaluations of an abandoned attempt
            (workdir / EVALUATIONS).unlink(missing_ok=True)
    if checkpoint is not None and trainer.is_world_process_zero():
        console.info(f"{description}: resuming from {checkpoint.name}")
    with translate_engine_errors(config.batch_size, config.grad_accum):
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    trainer.accelerator.wait_for_everyone()
    state = trainer.state
    train_log = [{"step": h["step"], "epoch": h.get("epoch", 0.0), "loss": h["loss"],
                  "learning_rate": h.get("learning_rate", 0.0)} for h in state.log_history if "loss" in h]
    if train_log and not math.isfinite(train_log[-1]["loss"]):
        raise TrainingError(f"training loss is {train_log[-1]['loss']} at step {train_log[-1]['step']}; nothing was published",
                            hint="lower --lr, use --bf16 instead of --fp16, or check the data")
    evaluations = _read_evaluations(workdir, train_log)
    if not evaluations or not (workdir / BEST_PROBS).exists():
        raise TrainingError(f"{description}: training ended without an evaluation")
    best = max(evaluations, key=lambda e: e["micro_f1"])  # the first of equal scores, as saved
    best = {k: v for k, v in best.items() if k != "per_class"}
    best_probs = np.load(workdir / BEST_PROBS)
    stopped_early = bool(config.early_stopping) and state.global_step < state.max_steps
    return FitResult(workdir / "model", train_log, evaluations, best, best_probs, state.global_step, stopped_early,
                     timer.samples, timer.seconds)


def _read_evaluations(workdir: Path, train_log: list[dict[str, float]]) -> list[dict[str, Any]]:
    """Every evaluation once (a resumed run re-evaluates the same steps: the last record wins), with train_loss."""
    path = workdir / EVALUATIONS
    if not path.exists():
        return []
    by_step: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            by_step[int(record["step"])] = record
    out = []
    for step in sorted(by_step):
        record = by_step[step]
        before = [t["loss"] for t in train_log if t["step"] <= step]
        record["train_loss"] = before[-1] if before else None
        record["valid_loss"] = record.get("loss")
        out.append(record)
    return out
