"""`kre train --find-lr`: a learning-rate range test, published as `lrfind/<id>/`.

The model trains from its initial weights for at most `--max-steps` steps (default 100, at
most 300) with AdamW (kre's loss and weight decay), the learning rate growing exponentially
from 1e-7 to 1. The loss is smoothed (exponential moving average, beta 0.98, bias-corrected)
and the test stops when the smoothed loss exceeds 4x its minimum or is not finite. Suggested
learning rate: the steepest descent of the smoothed loss against log(lr), searched between the
first 10% of the steps and the minimum; `min_loss_lr / 10` is recorded too. The artifact holds
lr_finder.json and lr_finder.png; `kre train --lr auto:lrfind/<id>` (or auto:lrfind/latest)
trains with the suggestion. Batch size: `--trainer auto_find_batch_size=true` (Trainer's search).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import console
from ..artifacts import Artifact, ArtifactStore
from ..errors import ConfigError, TrainingError
from ..labels import DEFAULT_LABELS, LabelSet
from .config import TrainConfig

START_LR, END_LR = 1e-7, 1.0
DEFAULT_STEPS, MAX_STEPS = 100, 300
BETA = 0.98
DIVERGE = 4.0
RESULT_FILE = "lr_finder.json"
PLOT_FILE = "lr_finder.png"


def lr_schedule(steps: int, start: float = START_LR, end: float = END_LR) -> np.ndarray:
    """`steps` learning rates growing exponentially from `start` to `end`."""
    if steps < 2:
        raise ConfigError("--find-lr needs at least 2 steps (--max-steps)")
    return start * (end / start) ** (np.arange(steps) / (steps - 1))


def smooth(losses: list[float], beta: float = BETA) -> np.ndarray:
    """Bias-corrected exponential moving average."""
    out, avg = [], 0.0
    for k, loss in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta**k))
    return np.asarray(out, dtype=np.float64)


def suggest(lrs: np.ndarray, smoothed: np.ndarray) -> dict[str, float]:
    """`steepest`: lr of the most negative d(loss)/d(log lr) before the minimum; `min_over_10`: minimum's lr / 10."""
    lrs, smoothed = np.asarray(lrs, dtype=np.float64), np.asarray(smoothed, dtype=np.float64)
    if len(lrs) < 3:
        raise TrainingError("the LR range test ended after fewer than 3 steps: nothing to suggest",
                            hint="give more steps (--max-steps) or check the data")
    low = np.argmin(smoothed)
    skip = max(1, len(lrs) // 10)
    stop = max(int(low), skip + 2)
    grads = np.gradient(smoothed[:stop], np.log(lrs[:stop]))
    steepest = skip + int(np.argmin(grads[skip:])) if stop - skip >= 1 else int(low)
    return {"steepest": float(lrs[steepest]), "min_over_10": float(lrs[low] / 10), "min_loss_lr": float(lrs[low])}


@dataclass
class LrFinding:
    artifact: Artifact
    suggestion: float
    record: dict[str, Any]


def range_test(config: TrainConfig, model_path: str, train_rows: list[Any], labels: LabelSet, cache_dir: Path | None,
               steps: int) -> dict[str, Any]:
    """Run the test; returns lrs, losses, smoothed losses and why it stopped."""
    import torch
    from torch.utils.data import DataLoader
    from transformers import AutoTokenizer, set_seed

    from ..modeling.collate import Collator
    from ..modeling.encoding import encode_dataset
    from ..modeling.heads import build_model
    from ..modeling.losses import build_loss
    from ..modeling.templates import TemplateConfig, prepare_tokenizer
    from .checks import quiet_transformers
    from .predict import resolve_device

    quiet_transformers()
    device = resolve_device(config.device)
    template = TemplateConfig(config.marker, config.query, config.type_words, config.max_length)
    tokenizer = AutoTokenizer.from_pretrained(model_path, use_fast=True)
    prepare_tokenizer(tokenizer, template)
    dataset = encode_dataset(train_rows, tokenizer, template, labels, cache_dir)
    set_seed(config.seed)
    model = build_model(model_path, head=config.head, num_labels=len(labels), tokenizer=tokenizer, dropout=config.dropout)
    model.to(device).train()
    counts = np.bincount(np.asarray(dataset["labels"], dtype=np.int64), minlength=len(labels))
    loss_fn = build_loss(config.loss, len(labels), class_counts=counts.tolist(), smoothing=config.smoothing,
                         gamma=config.gamma, class_weights=config.class_weights)
    if hasattr(loss_fn, "to"):
        loss_fn = loss_fn.to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=START_LR,
                                  weight_decay=config.weight_decay)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, collate_fn=Collator(tokenizer.pad_token_id),
                        generator=torch.Generator().manual_seed(config.seed))
    lrs = lr_schedule(steps)
    losses: list[float] = []
    stopped = "all steps"
    batches = iter(loader)
    with console.progress("LR range test", total=steps) as task:
        for k, lr in enumerate(lrs):
            try:
                batch = next(batches)
            except StopIteration:
                batches = iter(loader)
                batch = next(batches)
            batch = {name: t.to(device) for name, t in batch.items()}
            for group in optimizer.param_groups:
                group["lr"] = float(lr)
            logits = model(**{n: t for n, t in batch.items() if n != "labels"})
            loss = loss_fn(logits.float(), batch["labels"])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(float(loss.item()))
            task.advance(1)
            smoothed = smooth(losses)
            if not math.isfinite(losses[-1]) or not math.isfinite(smoothed[-1]):
                stopped = f"loss not finite at lr {lr:.2e}"
                losses.pop()
                break
            if k > 0 and smoothed[-1] > DIVERGE * smoothed.min():
                stopped = f"loss diverged ({DIVERGE:g}x its minimum) at lr {lr:.2e}"
                break
    return {"lrs": lrs[: len(losses)].tolist(), "losses": losses, "smoothed": smooth(losses).tolist(), "stopped": stopped}


def plot_range_test(path: Path, record: dict[str, Any]) -> None:
    """Loss (raw and smoothed) against the learning rate (log axis), suggestion marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.plot(record["lrs"], record["losses"], color="#bbbbbb", linewidth=1, label="loss")
    ax.plot(record["lrs"], record["smoothed"], color="#1f77b4", linewidth=2, label="smoothed loss")
    ax.axvline(record["suggestion"], color="#d62728", linestyle="--", label=f"suggested lr {record['suggestion']:.1e}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    low, high = min(record["smoothed"]), record["smoothed"][0]
    ax.set_ylim(low - 0.1 * abs(low), max(high, low) * 1.5 + 1e-6)
    ax.set_title(f"LR range test ({len(record['lrs'])} steps; {record['stopped']})", fontsize=10)
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


def find_lr(*, data: str | Path, config: TrainConfig, root: str | Path = ".", labels: str | Path | None = None,
            slug: str | None = None) -> LrFinding | None:
    """Run the range test on the training rows of a split and publish `lrfind/<id>/`."""
    from ..fileio import write_json
    from .data import encodings_cache, load_train_data, resolve_data
    from .training_run import resolve_model

    if not config.model:
        raise ConfigError("--model is required", hint="a hub id, a local model folder or tapt/<id>")
    if config.max_steps > MAX_STEPS:
        raise ConfigError(f"--find-lr: --max-steps {config.max_steps} is above {MAX_STEPS}", hint="a range test needs about 100 steps")
    steps = config.max_steps or DEFAULT_STEPS
    store = ArtifactStore(root)
    label_set = LabelSet.load(labels) if labels is not None else DEFAULT_LABELS
    data_artifact = resolve_data(store, data)
    model_ref = resolve_model(store, config.model)
    train_rows = load_train_data(data_artifact, label_set, need_folds=False).train
    if not train_rows:
        raise ConfigError(f"{data_artifact.path}: train.csv has no rows")
    params = {**config.to_dict(), "data": data_artifact.id, "steps": steps, "start_lr": START_LR, "end_lr": END_LR}
    name = slug or re.sub(r"^\d{4,}-", "", Path(model_ref.text.rstrip("/")).name)
    with store.create("lrfind", name, params=params, seed=config.seed) as builder:
        builder.add_input_artifact(data_artifact, "data")
        if model_ref.artifact is not None:
            builder.add_input_artifact(model_ref.artifact, "model")
        else:
            builder.add_input_ref(model_ref.path, "model")
        record = range_test(config, model_ref.path, train_rows, label_set, encodings_cache(Path(root)), steps)
        found = suggest(np.asarray(record["lrs"]), np.asarray(record["smoothed"]))
        record = {"suggestion": found["steepest"], "rule": "steepest descent of the smoothed loss", **found,
                  "model": model_ref.text, "batch_size": config.batch_size, **record}
        write_json(builder.path / RESULT_FILE, record)
        plot_range_test(builder.path / PLOT_FILE, record)
        builder.metrics.update({"suggested_lr": found["steepest"], "min_over_10": found["min_over_10"],
                                "steps": len(record["lrs"])})
    assert builder.published is not None
    return LrFinding(builder.published, found["steepest"], record)


def with_found_lr(store: ArtifactStore, config: TrainConfig) -> TrainConfig:
    """`--lr auto:LRFIND`: the config with the artifact's suggested learning rate (lr_auto = its id)."""
    artifact = store.resolve(config.lr_auto, kind="lrfind")
    path = artifact.path / RESULT_FILE
    if not path.exists():
        raise ConfigError(f"--lr auto:{config.lr_auto}: {artifact.id} has no {RESULT_FILE}")
    record = json.loads(path.read_text(encoding="utf-8"))
    lr = record.get("suggestion")
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ConfigError(f"--lr auto:{config.lr_auto}: {path} has no positive 'suggestion'")
    if record.get("model") != config.model:
        console.warn(f"{artifact.id} tested model '{record.get('model')}', this run trains '{config.model}'")
    console.info(f"--lr auto: {lr:.2e} from {artifact.id}")
    return replace(config, lr=float(lr), lr_auto=artifact.id)


def print_finding(finding: LrFinding, values: dict[str, Any]) -> None:
    """The suggestion, the stop reason and the ready `kre train` command."""
    from ..console import print_table, result

    r = finding.record
    print_table(finding.artifact.id, ["", "value"], [
        ["suggested lr (steepest descent)", f"{r['steepest']:.2e}"],
        ["min-loss lr / 10", f"{r['min_over_10']:.2e}"],
        ["steps", str(len(r["lrs"]))],
        ["stopped", r["stopped"]],
    ])
    root = f" --root {values['root']}" if str(values.get("root", ".")) != "." else ""
    console.info(f"Train with it: kre train {values['data']} --model {r['model']} --lr auto:{finding.artifact.id}{root}")
    result(str(finding.artifact.path / PLOT_FILE))
