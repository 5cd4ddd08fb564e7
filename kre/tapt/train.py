"""The masked-LM training loop: length-grouped dynamic batches, AdamW + linear schedule,
mixed precision on request, checkpoints for `--resume`, loss logging."""

from __future__ import annotations

import json
import math
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..console import debug, progress
from ..errors import ConfigError, TrainingError
from ..fileio import write_json
from .masking import IGNORE, Encoded, MaskCollator, length_grouped_batches

CHECKPOINT = "checkpoint"
_STATE = "trainer_state.json"
_WEIGHTS = "model.safetensors"
_OPTIM = "optimizer.pt"


@dataclass
class TrainConfig:
    """Hyperparameters of one MLM run."""

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
    log_every: int | None = None
    save_every: int | None = None
    eval_batch_size: int = 64
    #: Seconds of training after which the run stops; the learning-rate schedule follows
    #: whichever of steps and time is further along, so it still decays to zero.
    time_budget: float | None = None


@dataclass
class TrainResult:
    """What the loop did."""

    log: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    total_steps: int = 0
    resumed_from: int = 0
    seconds: float = 0.0
    tokens: int = 0
    stopped_by_time: bool = False


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def autocast_dtype(cfg: TrainConfig, device: str) -> Any:
    """The autocast dtype for --fp16/--bf16 (None: full precision); refuses impossible combinations."""
    import torch

    if cfg.fp16 and cfg.bf16:
        raise ConfigError("--fp16 and --bf16 exclude each other", hint="pick one")
    if cfg.fp16:
        if device != "cuda":
            raise ConfigError("--fp16 needs a CUDA GPU", hint="on CPU use --bf16, or neither")
        return torch.float16
    if cfg.bf16:
        if device == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError("--bf16 is not supported by this GPU", hint="use --fp16")
        return torch.bfloat16
    return None


def mlm_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy over the masked positions.

    For BERT/RoBERTa-style models the prediction head runs only on the masked
    positions (about 15% of tokens), which saves most of the vocabulary projection.
    """
    import torch.nn.functional as F

    labels = batch["labels"]
    head = getattr(model, "cls", None)
    if head is None:
        head = getattr(model, "lm_head", None)
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    if head is None or base is None:
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss
    hidden = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    selected = labels != IGNORE
    logits = head(hidden[selected])
    return F.cross_entropy(logits.float(), labels[selected])


def _batch_to(batch: dict[str, Any], device: str) -> dict[str, Any]:
    return {k: v.to(device) for k, v in batch.items()}


def heldout_loss(model: Any, data: Encoded, collator: MaskCollator, cfg: TrainConfig, device: str) -> float:
    """Masked-LM loss on held-out texts, with masks fixed by the seed (so before/after compare alike)."""
    import torch

    if len(data) == 0:
        return float("nan")
    order = sorted(range(len(data)), key=lambda i: -len(data.input_ids[i]))
    dtype = autocast_dtype(cfg, device)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for b, start in enumerate(range(0, len(order), cfg.eval_batch_size)):
            indices = order[start : start + cfg.eval_batch_size]
            batch = _batch_to(collator(data, indices, np.random.default_rng([cfg.seed, 2, b])), device)
            n = int((batch["labels"] != IGNORE).sum())
            with torch.autocast(device, dtype=dtype) if dtype is not None else nullcontext():
                loss = mlm_loss(model, batch)
            total += float(loss) * n
            count += n
    model.train(was_training)
    return total / max(count, 1)


def _param_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_factor(progress: float, warmup_ratio: float) -> float:
    """Linear warm-up over the first `warmup_ratio` of training, then linear decay to zero."""
    if progress < warmup_ratio:
        return progress / warmup_ratio
    return max(0.0, (1.0 - progress) / max(1e-9, 1.0 - warmup_ratio))


def save_checkpoint(folder: Path, model: Any, optimizer: Any, scaler: Any, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically (folder renamed into place): weights, optimizer, RNG, loop state."""
    import torch
    from safetensors.torch import save_model

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, str(tmp / _WEIGHTS))
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else {},
            "torch_rng": torch.get_rng_state(),
        },
        tmp / _OPTIM,
    )
    write_json(tmp / _STATE, state)
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(folder: Path, model: Any, optimizer: Any, scaler: Any) -> dict[str, Any]:
    """Restore what `save_checkpoint` wrote; returns the loop state."""
    import torch
    from safetensors.torch import load_model

    load_model(model, str(folder / _WEIGHTS))
    extra = torch.load(folder / _OPTIM, weights_only=True, map_location="cpu")
    optimizer.load_state_dict(extra["optimizer"])
    if scaler is not None and extra.get("scaler"):
        scaler.load_state_dict(extra["scaler"])
    torch.set_rng_state(extra["torch_rng"])
    return json.loads((folder / _STATE).read_text(encoding="utf-8"))


def has_checkpoint(folder: Path | None) -> bool:
    return folder is not None and (folder / _STATE).is_file()


def plan_steps(n_texts: int, cfg: TrainConfig) -> tuple[int, int]:
    """(batches per epoch, total optimizer steps)."""
    per_epoch = math.ceil(n_texts / cfg.batch_size)
    total = max(1, math.ceil(per_epoch * cfg.epochs))
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    return per_epoch, total


def train_mlm(
    model: Any,
    data: Encoded,
    collator: MaskCollator,
    cfg: TrainConfig,
    *,
    device: str,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train `model` in place on `data`; checkpoints go to `checkpoint_dir` every `save_every` steps."""
    import torch

    if len(data) == 0:
        raise TrainingError("no training texts left")
    dtype = autocast_dtype(cfg, device)
    per_epoch, total = plan_steps(len(data), cfg)
    log_every = cfg.log_every or max(1, total // 50)
    save_every = cfg.save_every or max(50, total // 10)
    model.to(device)
    model.train()
    optimizer = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None

    torch.manual_seed(cfg.seed)  # dropout; a resumed run restores the saved RNG state instead
    result = TrainResult(total_steps=total)
    step, epoch, done_in_epoch = 0, 0, 0
    window: list[float] = []
    elapsed_before = 0.0
    if resume and has_checkpoint(checkpoint_dir):
        state = load_checkpoint(checkpoint_dir, model, optimizer, scaler)  # type: ignore[arg-type]
        step, epoch, done_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        result.log = state["log"]
        window = state["window"]
        result.tokens = state["tokens"]
        elapsed_before = state["seconds"]
        result.resumed_from = step
    lengths = data.lengths()
    started = time.perf_counter()

    def snapshot() -> dict[str, Any]:
        return {
            "step": step,
            "epoch": epoch,
            "batch_in_epoch": done_in_epoch,
            "log": result.log,
            "window": window,
            "tokens": result.tokens,
            "seconds": elapsed(),
            "total_steps": total,
        }

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - started

    def set_lr() -> float:
        done = (step + 1) / total
        if cfg.time_budget:
            done = max(done, elapsed() / cfg.time_budget)
        lr = cfg.lr * lr_factor(min(done, 1.0), cfg.warmup_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    ema: float | None = None
    lr = cfg.lr
    with progress("MLM training", total=total) as task:
        task.advance(step)
        while step < total and not result.stopped_by_time:
            batches = length_grouped_batches(lengths, cfg.batch_size, np.random.default_rng([cfg.seed, epoch]))
            for indices in batches[done_in_epoch:]:
                if step >= total:
                    break
                if cfg.time_budget and elapsed() >= cfg.time_budget:
                    result.stopped_by_time = True
                    break
                lr = set_lr()
                batch = _batch_to(collator(data, indices, np.random.default_rng([cfg.seed, 1, step])), device)
                with torch.autocast(device, dtype=dtype) if dtype is not None else nullcontext():
                    loss = mlm_loss(model, batch)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise TrainingError(
                        f"the MLM loss became {value} at step {step + 1}",
                        hint="lower --lr, or train without --fp16; --resume continues from the last checkpoint",
                    )
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                    optimizer.step()
                step += 1
                done_in_epoch += 1
                result.tokens += int(batch["attention_mask"].sum())
                window.append(value)
                ema = value if ema is None else 0.95 * ema + 0.05 * value
                task.advance()
                task.status(f"loss {ema:.3f}  lr {lr:.1e}")
                if step % log_every == 0 or step == total:
                    entry = {"step": step, "epoch": round(step / per_epoch, 4), "loss": float(np.mean(window)), "lr": lr,
                             "seconds": round(elapsed(), 1)}
                    result.log.append(entry)
                    window = []
                    debug(f"step {step}/{total}  loss {entry['loss']:.4f}  lr {lr:.2e}  {entry['seconds']:.0f}s")
                if checkpoint_dir is not None and step % save_every == 0 and step < total:
                    save_checkpoint(checkpoint_dir, model, optimizer, scaler, snapshot())
            else:
                epoch += 1
                done_in_epoch = 0
                continue
            break
    if window:  # steps after the last logging step (a time-budget stop)
        result.log.append({"step": step, "epoch": round(step / per_epoch, 4), "loss": float(np.mean(window)), "lr": lr,
                           "seconds": round(elapsed(), 1)})
    result.steps = step
    result.seconds = elapsed()
    return result
