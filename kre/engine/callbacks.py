"""Trainer callbacks kre adds to `transformers.Trainer`: progress, a time budget, a NaN guard."""

from __future__ import annotations

import math
import time
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

from ..console import clock, err_console, info, is_quiet, make_progress
from ..errors import TrainingError


class ProgressCallback(TrainerCallback):
    """Training progress: a rich bar on a terminal, plain lines without one.

    Without a TTY (batch job, `> train.log`, CI) a line is printed every `every` optimizer
    steps (default: about 1/20 of the total, at least 1) and after each evaluation, e.g.
    `step 120/600 (20%) loss 1.234 elapsed 0:01:02 remaining 0:04:08 valid F1 41.2`.
    Only the main process reports.

    Args:
        description: what is being trained (the bar's label, each plain line's prefix).
        every: steps between plain lines.
        f1_key: the evaluation metric shown as "valid F1".
    """

    def __init__(self, description: str, every: int | None = None, *, f1_key: str = "eval_micro_f1") -> None:
        self.description = description
        self.every = every
        self.f1_key = f1_key
        self.tty = err_console.is_terminal
        self._bar: Any = None
        self._task: Any = None
        self._started = 0.0
        self._first_step = 0
        self._total = 0
        self._loss: float | None = None
        self._f1: float | None = None
        self._last_line = -1

    def _active(self, state: Any) -> bool:
        return bool(getattr(state, "is_world_process_zero", True)) and not is_quiet()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._started = time.monotonic()
        self._first_step = state.global_step
        self._total = int(state.max_steps or 0)
        if not self._active(state):
            return
        if self.tty:
            self._bar = make_progress()
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self._total or None, completed=state.global_step, status="")

    def _interval(self) -> int:
        return max(1, self.every or self._total // 20 or 1)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self._active(state):
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=state.global_step, status=self._status())
        elif state.global_step % self._interval() == 0 or state.global_step == self._total:
            self._line(state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self._loss = float(logs["loss"])
        if logs and self.f1_key in logs:
            self._f1 = float(logs[self.f1_key])

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kwargs: Any) -> None:
        if metrics and self.f1_key in metrics:
            self._f1 = float(metrics[self.f1_key])
        if not self._active(state):
            return
        if self._bar is not None:
            self._bar.update(self._task, status=self._status())
        else:
            self._line(state.global_step, force=True)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=state.global_step, status=self._status())
            self._bar.stop()
            self._bar = None

    def _status(self) -> str:
        parts = []
        if self._loss is not None:
            parts.append(f"loss {self._loss:.3f}")
        if self._f1 is not None:
            parts.append(f"valid F1 {self._f1:.1f}")
        return "  ".join(parts)

    def line(self, step: int) -> str:
        """The plain progress line for `step`."""
        elapsed = time.monotonic() - self._started
        parts = [f"step {step}/{self._total}" if self._total else f"step {step}"]
        if self._total:
            parts[0] += f" ({100 * step // self._total}%)"
        if self._loss is not None:
            parts.append(f"loss {self._loss:.3f}")
        parts.append(f"elapsed {clock(elapsed)}")
        done = step - self._first_step
        if self._total and done > 0:
            parts.append(f"remaining {clock(elapsed / done * (self._total - step))}")
        if self._f1 is not None:
            parts.append(f"valid F1 {self._f1:.1f}")
        return f"{self.description}: " + " ".join(parts)

    def _line(self, step: int, force: bool = False) -> None:
        if step == self._last_line and not force:
            return
        self._last_line = step
        info(self.line(step))


class TimeBudgetCallback(TrainerCallback, ExportableState):
    """Stop training cleanly (`control.should_training_stop`) once `minutes` are spent.

    The time spent is saved in each checkpoint's trainer state, so a resumed run only gets
    what is left of the budget. `fraction_spent()` lets a learning-rate schedule decay by time.

    Under DDP (`args.world_size > 1`) every rank must stop at the same step and see the same
    fraction, or the ranks deadlock / their weights drift apart: every `sync_every` optimizer
    steps rank 0's elapsed time is broadcast (one float), and both the stop decision and
    `fraction_spent()` use that agreed value. A single process reads its own clock at every
    step and never synchronises.
    """

    def __init__(self, minutes: float, spent_before: float = 0.0, *, sync_every: int = 10) -> None:
        self.minutes = float(minutes)
        self.spent_before = float(spent_before)
        self.sync_every = max(1, int(sync_every))
        self.stopped = False
        self._started: float | None = None
        self._agreed: float | None = None  # under DDP: rank 0's elapsed seconds at the last sync

    @property
    def seconds(self) -> float:
        return self.minutes * 60.0

    def elapsed(self) -> float:
        """Seconds of training so far (this process's clock), previous runs of a resumed run included."""
        now = 0.0 if self._started is None else time.monotonic() - self._started
        return self.spent_before + now

    def spent(self) -> float:
        """The seconds the budget decisions use: rank 0's, as of the last sync, under DDP; else `elapsed()`."""
        return self._agreed if self._agreed is not None else self.elapsed()

    def fraction_spent(self) -> float:
        """Share of the budget used (0 when there is no budget); the same on every rank."""
        return min(1.0, self.spent() / self.seconds) if self.seconds > 0 else 0.0

    def state(self) -> dict[str, Any]:
        return {"args": {"minutes": self.minutes}, "attributes": {"spent_before": self.elapsed()}}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        saved = (getattr(state, "stateful_callbacks", None) or {}).get(type(self).__name__)
        if isinstance(saved, list):
            saved = saved[-1] if saved else None
        if isinstance(saved, dict) and state.global_step > 0:
            self.spent_before = float(saved.get("attributes", {}).get("spent_before", self.spent_before))
        self._started = time.monotonic()
        # every rank resumes from the same checkpoint, so they start out agreeing
        self._agreed = self.spent_before if int(getattr(args, "world_size", 1)) > 1 else None

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.seconds <= 0:
            return
        if self._agreed is not None:
            if state.global_step % self.sync_every:
                return
            from .ranks import rank0_value

            self._agreed = rank0_value(self.elapsed(), args.device)
        if self.spent() >= self.seconds:
            self.stopped = True
            control.should_training_stop = True


class NonFiniteLossCallback(TrainerCallback):
    """Raise TrainingError when the loss stays NaN/inf, not on one skipped fp16 step.

    Checked at each log: the weights are non-finite (the optimizer already applied a NaN
    step: nothing to recover) -> error at once; the logged loss or gradient norm is
    non-finite (steps skipped, e.g. by fp16 loss scaling) for `patience` consecutive logs ->
    error. A single overflow step that the gradient scaler skips is not an error. The error
    propagates out of `Trainer.train()`, so kre's staging aborts and nothing is published.
    """

    def __init__(self, patience: int = 3) -> None:
        self.patience = max(1, int(patience))
        self.bad = 0

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        if not logs or "loss" not in logs:
            return
        step = state.global_step
        model = kwargs.get("model")
        if model is not None and not _weights_finite(model):
            raise TrainingError(
                f"the weights became NaN/inf by step {step} (loss {logs['loss']})",
                hint="lower --lr, or train without --fp16; --resume continues from the last checkpoint",
            )
        values = [logs["loss"], logs.get("grad_norm", 0.0)]
        if all(math.isfinite(float(v)) for v in values if v is not None):
            self.bad = 0
            return
        self.bad += 1
        if self.bad >= self.patience:
            raise TrainingError(
                f"the training loss stayed NaN/inf for {self.bad} logs in a row (step {step})",
                hint="lower --lr, or train without --fp16; --resume continues from the last checkpoint",
            )


class EndOfTrainingCallback(TrainerCallback):
    """When training ends (last step, time budget, early stop): log the steps since the last
    log, and skip the checkpoint Trainer would write at the last step (kre publishes the model
    itself, so that checkpoint, optimizer state included, would be written only to be deleted).
    Add it after any callback that stops training."""

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if control.should_training_stop or state.global_step >= state.max_steps:
            control.should_log = True
            control.should_save = False


def _weights_finite(model: Any) -> bool:
    """True when every trainable parameter is finite (one host sync)."""
    import torch

    params = [p.detach() for p in model.parameters() if p.requires_grad and p.numel()]
    if not params:
        return True
    with torch.no_grad():
        flags = torch.stack([torch.isfinite(p).all() for p in params])
        return bool(flags.all())


def replace_default_output(trainer: Any) -> None:
    """Remove Trainer's own printing callbacks (tqdm bars, log dicts on stdout); kre reports instead."""
    from transformers.trainer_callback import PrinterCallback
    from transformers.trainer_callback import ProgressCallback as HFProgress

    for cls in (PrinterCallback, HFProgress):
        trainer.remove_callback(cls)
