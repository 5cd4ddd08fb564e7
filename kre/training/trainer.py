"""The training loop for one model: plain PyTorch, resumable, DDP-aware.

`fit` trains one model on encoded rows and keeps the best checkpoint (by validation
micro F1) in `workdir/model/`; `predict_probs` runs inference (sharded over ranks under
DDP). Only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import console
from ..errors import ConfigError, TrainingError
from ..labels import LabelSet
from ..metrics import evaluate
from .checkpoint import (
    TrainerState,
    has_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .config import TrainConfig
from .distributed import DistContext

#: A hook called after every optimizer step with the state (tests use it to stop a run).
StepCallback = Callable[[TrainerState], None]
MAX_GRAD_NORM = 1.0


@dataclass
class FitResult:
    """What one training run produced."""

    state: TrainerState
    best_probs: np.ndarray  # validation probabilities at the best evaluation
    model_dir: Path  # where the best model is (written by rank 0)

    @property
    def best(self) -> dict[str, Any]:
        return self.state.best or {}


def quiet_transformers() -> None:
    """No transformers progress bars or info logs (kre shows its own progress)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (and ask torch for deterministic kernels where cheap)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def autocast_context(device: Any, config: TrainConfig) -> Any:
    """torch.autocast for --fp16/--bf16 (fp16 needs CUDA), else a no-op."""
    import torch

    if config.precision == "fp32":
        return contextlib.nullcontext()
    if config.fp16 and device.type != "cuda":
        raise ConfigError("--fp16 needs a CUDA GPU", hint="use --bf16 on CPU, or no mixed precision")
    dtype = torch.float16 if config.fp16 else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def check_precision(device: Any, config: TrainConfig) -> None:
    """Refuse fp16 without CUDA before any work starts."""
    if config.fp16 and getattr(device, "type", str(device)) != "cuda":
        raise ConfigError("--fp16 needs a CUDA GPU", hint="use --bf16 on CPU, or no mixed precision")


def model_logits(model: Any, batch: dict[str, Any]) -> Any:
    """Logits of a RelationClassifier (or any model returning a tensor / `.logits` / {'logits'})."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    out = model(**inputs)
    if isinstance(out, dict):
        return out["logits"]
    return getattr(out, "logits", out)


def to_device(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def predict_probs(
    model: Any,
    features: Sequence[dict[str, Any]],
    *,
    batch_size: int,
    collator: Any,
    device: Any,
    ctx: DistContext | None = None,
    config: TrainConfig | None = None,
    loss_fn: Any = None,
) -> tuple[np.ndarray, float | None]:
    """Softmax probabilities in the order of `features` (and the mean loss when `loss_fn` is given).

    Batches are length-sorted for the least padding; under DDP every rank scores a
    disjoint share and the results are gathered on all ranks.
    """
    import torch

    from ..modeling.collate import length_grouped_batches

    n = len(features)
    batches = length_grouped_batches([f["length"] for f in features], batch_size, shuffle=False)
    rank, world = (ctx.rank, ctx.world_size) if ctx is not None else (0, 1)
    mine = batches[rank::world]
    amp = autocast_context(device, config) if config is not None else contextlib.nullcontext()
    was_training = model.training
    model.eval()
    indices: list[int] = []
    chunks: list[np.ndarray] = []
    loss_sum = 0.0
    loss_n = 0
    with torch.inference_mode():
        for idxs in mine:
            batch = to_device(collator([features[i] for i in idxs]), device)
            with amp:
                logits = model_logits(model, batch)
            logits = logits.float()
            if loss_fn is not None:
                loss_sum += float(loss_fn(logits, batch["labels"]).item()) * len(idxs)
                loss_n += len(idxs)
            chunks.append(torch.softmax(logits, dim=-1).cpu().numpy().astype(np.float64))
            indices.extend(idxs)
    if was_training:
        model.train()
    local = (indices, np.concatenate(chunks) if chunks else np.zeros((0, 0)), loss_sum, loss_n)
    gathered = ctx.all_gather_object(local) if ctx is not None else [local]
    probs: np.ndarray | None = None
    total_loss, total_n = 0.0, 0
    for idx, part, ls, ln in gathered:
        total_loss += ls
        total_n += ln
        if not idx:
            continue
        if probs is None:
            probs = np.zeros((n, part.shape[1]), dtype=np.float64)
        probs[np.asarray(idx)] = part
    if probs is None:
        probs = np.zeros((n, 0))
    return probs, (total_loss / total_n if loss_fn is not None and total_n else None)


def build_optimizer(model: Any, config: TrainConfig) -> Any:
    """AdamW (no decay on biases and LayerNorm weights) or Adafactor with a fixed lr."""
    import torch

    if hasattr(model, "optimizer_groups"):
        groups = model.optimizer_groups(config.weight_decay)
    else:
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
        groups = [
            {"params": [p for n, p in named if not n.endswith(no_decay)], "weight_decay": config.weight_decay},
            {"params": [p for n, p in named if n.endswith(no_decay)], "weight_decay": 0.0},
        ]
    if not any(g["params"] for g in groups):
        raise ConfigError("no trainable parameters (is --freeze-ratio 1?)")
    groups = [g for g in groups if g["params"]]
    if config.optimizer == "adafactor":
        from transformers.optimization import Adafactor

        return Adafactor(groups, lr=config.lr, scale_parameter=False, relative_step=False, warmup_init=False)
    return torch.optim.AdamW(groups, lr=config.lr)


def build_scheduler(optimizer: Any, total_steps: int, warmup_ratio: float) -> Any:
    """Linear warmup over `warmup_ratio` of the steps, then linear decay to 0."""
    import torch

    warmup = int(math.ceil(total_steps * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class _NullTask:
    def advance(self, n: float = 1) -> None:
        pass

    def status(self, text: str) -> None:
        pass


class Fitter:
    """Trains one RelationClassifier; see `fit`."""

    def __init__(
        self,
        *,
        config: TrainConfig,
        model: Any,
        tokenizer: Any,
        train_features: list[dict[str, Any]],
        valid_features: list[dict[str, Any]],
        valid_gold: np.ndarray,
        valid_mask: np.ndarray | None,
        labels: LabelSet,
        workdir: Path,
        ctx: DistContext,
        save_best: Callable[[Any, Path], None],
        description: str = "train",
        callbacks: Sequence[StepCallback] = (),
        logger: Any = None,
    ) -> None:
        self.config = config
        self.model = model
        self.tokenizer = tokenizer
        self.train_features = train_features
        self.valid_features = valid_features
        self.valid_gold = valid_gold
        self.valid_mask = valid_mask
        self.labels = labels
        self.workdir = workdir
        self.ctx = ctx
        self.save_best = save_best
        self.description = description
        self.callbacks = list(callbacks)
        self.logger = logger
        self.device = ctx.device

    # -- batches ------------------------------------------------------------------
    def epoch_groups(self, epoch: int) -> list[list[list[int]]]:
        """This rank's batches of an epoch, grouped into optimizer steps (grad accumulation)."""
        from ..modeling.collate import distributed_length_grouped_batches

        lengths = [f["length"] for f in self.train_features]
        batches = distributed_length_grouped_batches(
            lengths, self.config.batch_size, self.config.seed + epoch, self.ctx.rank, self.ctx.world_size
        )
        if not batches:
            raise TrainingError(
                f"too few training rows ({len(lengths)}) for {self.ctx.world_size} process(es) at batch size {self.config.batch_size}"
            )
        ga = self.config.grad_accum
        return [batches[i : i + ga] for i in range(0, len(batches), ga)]

    def total_steps(self) -> int:
        per_epoch = len(self.epoch_groups(0))
        total = per_epoch * max(self.config.epochs, 1) if self.config.epochs > 0 else 0
        if self.config.max_steps > 0:
            total = min(total, self.config.max_steps) if total else self.config.max_steps
        return total

    # -- main loop ----------------------------------------------------------------
    def fit(self, *, resume: bool = False) -> FitResult:
        import torch

        from ..modeling.collate import Collator
        from ..modeling.losses import build_loss

        config, ctx, device = self.config, self.ctx, self.device
        collator = Collator(self.tokenizer.pad_token_id)
        counts = np.bincount([f["labels"] for f in self.train_features], minlength=len(self.labels))
        loss_fn = build_loss(
            config.loss,
            len(self.labels),
            class_counts=counts.tolist(),
            smoothing=config.smoothing,
            gamma=config.gamma,
            class_weights=config.class_weights,
        )
        if hasattr(loss_fn, "to"):
            loss_fn = loss_fn.to(device)
        model = self.model.to(device)
        optimizer = build_optimizer(model, config)
        total = self.total_steps()
        scheduler = build_scheduler(optimizer, total, config.warmup_ratio)
        scaler = torch.amp.GradScaler("cuda") if config.fp16 and device.type == "cuda" else None
        state = TrainerState()
        best_probs: np.ndarray | None = None
        if resume and has_checkpoint(self.workdir):
            saved, best_probs = load_checkpoint(self.workdir, model=model, device=device)
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            if scaler is not None and saved.get("scaler"):
                scaler.load_state_dict(saved["scaler"])
            state = TrainerState.from_dict(saved["trainer"])
            rngs = saved["rng"]
            set_rng_state(rngs[ctx.rank] if len(rngs) == ctx.world_size else rngs[0])
            if ctx.is_main:
                console.info(f"{self.description}: resumed at step {state.step}/{total}")
        if state.done:
            return FitResult(state, best_probs if best_probs is not None else np.zeros((0, len(self.labels))), self.workdir / "model")
        ddp_model = model
        if ctx.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ddp_model = DistributedDataParallel(
                model,
                device_ids=[device.index] if device.type == "cuda" else None,
                # every head uses all encoder outputs; only a pooler (if an encoder kept one) goes unused
                find_unused_parameters=any("pooler" in n for n, p in model.named_parameters() if p.requires_grad),
            )
        amp = autocast_context(device, config)
        task_cm = console.progress(self.description, total=total) if ctx.is_main else contextlib.nullcontext(_NullTask())
        with task_cm as task:
            task.advance(state.step)
            while state.step < total and not state.stopped_early:
                groups = self.epoch_groups(state.epoch)
                n_groups = len(groups)
                while state.step < total:
                    group = groups[state.group_in_epoch]
                    t0 = time.perf_counter()
                    loss_value, n_samples = self._step(
                        ddp_model, model, group, collator, loss_fn, optimizer, scheduler, scaler, amp, state.step + 1
                    )
                    state.train_seconds += time.perf_counter() - t0
                    state.step += 1
                    state.samples += n_samples
                    state.loss_sum += loss_value * n_samples
                    state.loss_count += n_samples
                    # the state always names the NEXT step's position, so a checkpoint resumes exactly there
                    epoch_float = state.epoch + (state.group_in_epoch + 1) / n_groups
                    state.group_in_epoch += 1
                    epoch_end = state.group_in_epoch >= n_groups
                    if epoch_end:
                        state.epoch += 1
                        state.group_in_epoch = 0
                    last = state.step >= total
                    running_loss = state.loss_sum / max(state.loss_count, 1)  # (evaluation resets the sums)
                    due = (config.eval_every > 0 and state.step % config.eval_every == 0) or (
                        config.eval_every == 0 and epoch_end
                    )
                    if due or last:
                        best_probs = self._evaluate(model, state, collator, loss_fn, epoch_float, best_probs)
                        self._checkpoint(model, optimizer, scheduler, scaler, state, best_probs)
                    best_f1 = f"{state.best['micro_f1']:.2f}" if state.best else "-"
                    task.status(f"loss {running_loss:.4f}  best F1 {best_f1}")
                    task.advance()
                    for callback in self.callbacks:
                        callback(state)
                    if state.stopped_early or epoch_end:
                        break
        state.done = True
        if best_probs is None:  # pragma: no cover - there is always a final evaluation
            raise TrainingError("training ended without an evaluation")
        self._checkpoint(model, optimizer, scheduler, scaler, state, best_probs)
        return FitResult(state, best_probs, self.workdir / "model")

    def _step(self, ddp_model: Any, model: Any, group: list[list[int]], collator: Any, loss_fn: Any,
              optimizer: Any, scheduler: Any, scaler: Any, amp: Any, step: int) -> tuple[float, int]:
        """One optimizer step over a group of micro-batches; returns (mean loss over ranks, samples on all ranks)."""
        import torch

        ddp_model.train()
        n_group = sum(len(b) for b in group)
        loss_total = 0.0
        finite = True
        for k, idxs in enumerate(group):
            batch = to_device(collator([self.train_features[i] for i in idxs]), self.device)
            sync = k == len(group) - 1 or not self.ctx.enabled
            with (contextlib.nullcontext() if sync else ddp_model.no_sync()):
                with amp:
                    logits = model_logits(ddp_model, batch)
                loss = loss_fn(logits.float(), batch["labels"])
                value = float(loss.detach().item())
                finite = finite and math.isfinite(value)
                scaled = loss * (len(idxs) / n_group)
                if scaler is not None:
                    scaler.scale(scaled).backward()
                else:
                    scaled.backward()
            loss_total += value * len(idxs)
        loss_sum, count, bad = self.ctx.sum([loss_total if finite else 0.0, float(n_group), 0.0 if finite else 1.0])
        if bad > 0:
            raise TrainingError(
                f"training loss became NaN/inf at step {step}; training stopped and nothing was published",
                hint="lower --lr, use --bf16 instead of --fp16, or check the data",
            )
        if scaler is not None:
            scaler.unscale_(optimizer)
        params = [p for p in model.parameters() if p.requires_grad]
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return loss_sum / max(count, 1.0), int(count)

    def _evaluate(self, model: Any, state: TrainerState, collator: Any, loss_fn: Any, epoch: float,
                  best_probs: np.ndarray | None) -> np.ndarray | None:
        """Score the validation rows, record the evaluation, keep the best model."""
        from ..modeling.restrict import apply_type_mask

        probs, valid_loss = predict_probs(
            model,
            self.valid_features,
            batch_size=self.config.eval_batch_size,
            collator=collator,
            device=self.device,
            ctx=self.ctx,
            config=self.config,
            loss_fn=loss_fn,
        )
        if self.valid_mask is not None:
            probs = np.asarray(apply_type_mask(probs, self.valid_mask), dtype=np.float64)
        metrics = evaluate(self.valid_gold, probs, self.labels)
        record = {
            "step": state.step,
            "epoch": round(epoch, 4),
            "train_loss": state.loss_sum / max(state.loss_count, 1),
            "valid_loss": valid_loss,
            **metrics,
        }
        state.history.append(record)
        state.loss_sum, state.loss_count = 0.0, 0
        if self.logger is not None and self.ctx.is_main:
            self.logger.log({k: v for k, v in record.items() if isinstance(v, (int, float)) and v is not None}, state.step)
        if state.best is None or record["micro_f1"] > state.best["micro_f1"]:
            state.best = {k: v for k, v in record.items() if k != "per_class"}
            state.bad_evals = 0
            best_probs = probs
            if self.ctx.is_main:
                self._save_best_atomic(model)
            self.ctx.barrier()
        else:
            state.bad_evals += 1
            if self.config.early_stopping and state.bad_evals >= self.config.early_stopping:
                state.stopped_early = True
                if self.ctx.is_main:
                    console.info(f"{self.description}: early stop at step {state.step} (no better F1 in {state.bad_evals} evaluations)")
        if self.ctx.is_main:
            console.debug(
                f"{self.description} step {state.step}: valid F1 {record['micro_f1']:.2f} AUPRC {record['auprc']:.2f} loss {valid_loss:.4f}"
            )
        return best_probs

    def _save_best_atomic(self, model: Any) -> None:
        final = self.workdir / "model"
        tmp = self.workdir / "model.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        self.save_best(model, tmp)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)

    def _checkpoint(self, model: Any, optimizer: Any, scheduler: Any, scaler: Any, state: TrainerState,
                    best_probs: np.ndarray | None) -> None:
        rngs = self.ctx.all_gather_object(rng_state())
        if self.ctx.is_main:
            save_checkpoint(
                self.workdir,
                model=model,
                optimizer=optimizer,
                scheduler=scheduler,
                scaler=scaler,
                state=state,
                rngs=rngs,
                best_probs=best_probs,
            )
        self.ctx.barrier()
