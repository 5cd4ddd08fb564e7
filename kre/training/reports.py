"""Run outputs besides the model: confusion matrix and learning-curve plots, experiment loggers."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..labels import LabelSet
from ..metrics import confusion


def plot_confusion(path: Path, gold: np.ndarray, probs: np.ndarray, labels: LabelSet) -> None:
    """Row-normalised confusion matrix (gold rows, predicted columns) with label names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = confusion(gold, np.asarray(probs).argmax(axis=1), len(labels)).astype(np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = max(6.0, 0.32 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)))
    ax.set_yticks(range(len(labels)))
    ax.set_xticklabels(labels.names, rotation=90, fontsize=7)
    ax.set_yticklabels(labels.names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title("Validation confusion matrix (rows normalised)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    # fixed margins for the long label names (tight_layout costs seconds on 30x30 ticks)
    fig.subplots_adjust(left=0.25, bottom=0.25, right=0.97, top=0.95)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_learning_curve(path: Path, histories: dict[str, list[dict[str, Any]]]) -> None:
    """Train/valid loss and validation micro F1 against the step, one line set per model (fold)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_f1) = plt.subplots(1, 2, figsize=(11, 4))
    for name, history in histories.items():
        if not history:
            continue
        steps = [h["step"] for h in history]
        prefix = f"{name} " if len(histories) > 1 else ""
        ax_loss.plot(steps, [h["train_loss"] for h in history], marker="o", label=f"{prefix}train")
        ax_loss.plot(steps, [h["valid_loss"] for h in history], marker="s", linestyle="--", label=f"{prefix}valid")
        ax_f1.plot(steps, [h["micro_f1"] for h in history], marker="o", label=f"{prefix}micro F1")
        ax_f1.plot(steps, [h["auprc"] for h in history], marker="s", linestyle="--", label=f"{prefix}AUPRC")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("Loss")
    ax_loss.legend(fontsize=7)
    ax_f1.set_xlabel("step")
    ax_f1.set_ylabel("score (x100)")
    ax_f1.set_title("Validation")
    ax_f1.legend(fontsize=7)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.92, wspace=0.22)
    fig.savefig(path, dpi=80)
    plt.close(fig)


# -- experiment trackers (--report-to) ---------------------------------------------
_PACKAGES = {"wandb": "wandb", "mlflow": "mlflow", "tensorboard": "tensorboard"}


def check_report_to(name: str) -> None:
    """Refuse a tracker whose package is not installed (before any work starts)."""
    if name == "none":
        return
    package = _PACKAGES[name]
    if importlib.util.find_spec(package) is None:
        raise ConfigError(
            f"--report-to {name}: the '{package}' package is not installed",
            hint=f"pip install {package}, or use --report-to none (metrics.json is always written)",
        )


class Logger:
    """Sends evaluation metrics to wandb, mlflow or tensorboard (rank 0 only)."""

    def __init__(self, name: str, *, run_name: str, params: dict[str, Any], log_dir: Path) -> None:
        self.name = name
        self._obj: Any = None
        if name == "wandb":
            import wandb

            self._obj = wandb.init(project="kre", name=run_name, config=params, dir=str(log_dir), reinit=True)
        elif name == "mlflow":
            import mlflow

            self._obj = mlflow.start_run(run_name=run_name)
            mlflow.log_params({k: str(v)[:250] for k, v in params.items()})
        elif name == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            self._obj = SummaryWriter(log_dir=str(log_dir))

    def log(self, metrics: dict[str, float], step: int) -> None:
        values = {k: float(v) for k, v in metrics.items() if k not in ("step",)}
        if self.name == "wandb":
            self._obj.log(values, step=step)
        elif self.name == "mlflow":
            import mlflow

            mlflow.log_metrics(values, step=step)
        elif self.name == "tensorboard":
            for key, value in values.items():
                self._obj.add_scalar(key, value, step)

    def close(self) -> None:
        if self.name == "wandb":
            self._obj.finish()
        elif self.name == "mlflow":
            import mlflow

            mlflow.end_run()
        elif self.name == "tensorboard":
            self._obj.close()


def make_logger(name: str, *, run_name: str, params: dict[str, Any], log_dir: Path) -> Logger | None:
    if name == "none":
        return None
    check_report_to(name)
    return Logger(name, run_name=run_name, params=params, log_dir=log_dir)
